/**
 * Structured logs from the real command: JSON lines with pino's fields by default on a pipe,
 * an access line per answered request with its id, and request ids that the client, the
 * handler, the response, the access line and an error's log line all agree on.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CliProcess } from '../helpers/cli.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const APP = 'test/fixtures/apps/logs.ts';

interface Line {
  level: number;
  time: number;
  pid: number;
  hostname: string;
  isolate: string;
  msg: string;
  [field: string]: unknown;
}

/** Every stdout line, each of which must be one JSON object. */
function lines(cli: CliProcess): Line[] {
  return cli.stdout
    .split('\n')
    .filter((text) => text !== '')
    .map((text) => {
      try {
        return JSON.parse(text) as Line;
      } catch {
        assert.fail(`a stdout line is not JSON: ${text}`);
      }
    });
}

/** Waits until `count` lines match `keep`. */
async function linesWhere(cli: CliProcess, keep: (line: Line) => boolean, count: number): Promise<Line[]> {
  for (let i = 0; i < 400; i++) {
    const found = lines(cli).filter(keep);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return lines(cli).filter(keep);
}

describe('json lines with an access log (the default format on a pipe)', () => {
  let cli: CliProcess;
  let h1: Client;
  let h2: Client;

  before(async () => {
    cli = new CliProcess(['serve', APP, '--port', '0', '--pinned', '2', '--pooled', '2', '--pooled-isolates', '1', '--access-log'], { keepDefaultFormat: true });
    const [, port] = await cli.waitForOutput(/"msg":"Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    await cli.waitForOutput(/"msg":"Ready: /);
    h1 = createClient('h1', Number(port));
    h2 = createClient('h2c', Number(port));
  });

  after(async () => {
    await h1.close();
    await h2.close();
    cli.kill('SIGTERM');
    assert.equal((await cli.finished).code, 0);
  });

  test('every line is JSON with pino\'s level numbers, time, pid, hostname, the writing isolate and msg', async () => {
    const all = lines(cli);
    assert.ok(all.length >= 5);
    for (const line of all) {
      assert.ok([20, 30, 40, 50].includes(line.level), JSON.stringify(line));
      assert.ok(Math.abs(line.time - Date.now()) < 60_000, JSON.stringify(line));
      assert.equal(line.pid, cli.child.pid);
      assert.equal(typeof line.hostname, 'string');
      assert.equal(typeof line.msg, 'string');
      assert.match(line.isolate, /^(supervisor|pinned-[01]|pooled-0)$/);
      assert.deepEqual(Object.keys(line).slice(0, 5), ['level', 'time', 'pid', 'hostname', 'isolate']);
      assert.equal(Object.keys(line).at(-1), 'msg', 'msg comes last, as pino writes it');
    }
    assert.ok(all.some((line) => line.msg === '✓ Registered handler: GET:/id (ID: 0)' && line.level === 30 && line.isolate === 'supervisor'));
  });

  test('one access line per answered request, whose id the response echoes, over HTTP/1.1 and h2c, inline and pooled', async () => {
    const sent: Array<{ path: string; status: number; id: string; protocol: string }> = [];
    const paths: Array<[string, number]> = [['/id', 200], ['/pooled-id', 200], ['/items/42?x=1', 200], ['/nowhere', 404]];
    for (let i = 0; i < 24; i++) {
      const [path, status] = paths[i % paths.length]!;
      const client = i % 2 === 0 ? h1 : h2;
      const res = await client.request(path);
      assert.equal(res.status, status);
      const id = res.headers['x-request-id'] as string;
      assert.match(id, GENERATED_ID);
      if (status === 200 && path.endsWith('id')) assert.deepEqual({ id: (res.json() as { id: string }).id, header: (res.json() as { header: string }).header }, { id, header: id });
      sent.push({ path, status, id, protocol: i % 2 === 0 ? 'http/1.1' : 'h2' });
    }
    const ids = new Set(sent.map((s) => s.id));
    assert.equal(ids.size, sent.length, 'two requests got the same id');
    const access = await linesWhere(cli, (line) => line.msg === 'request completed' && ids.has(line['reqId'] as string), sent.length);
    assert.equal(access.length, sent.length, 'a request has no access line, or two');
    for (const request of sent) {
      const line = access.find((l) => l['reqId'] === request.id)!;
      const [path] = request.path.split('?');
      assert.equal(line.level, 30);
      assert.equal(line['method'], 'GET');
      assert.equal(line['path'], path);
      assert.equal(line['status'], request.status);
      assert.equal(line['protocol'], request.protocol);
      assert.equal(line['route'], request.status === 404 ? null : path === '/items/42' ? '/items/:id' : path);
      assert.equal(typeof line['durationMs'], 'number');
      assert.ok((line['durationMs'] as number) >= 0 && (line['durationMs'] as number) < 10_000);
      assert.match(line.isolate, /^pinned-[01]$/, 'the pinned worker that answered writes the line, pooled requests included');
    }
  });

  test('a sane x-request-id from the client is kept end to end; an insane one is replaced', async () => {
    const kept = await h2.request('/pooled-id', { headers: { 'x-request-id': 'trace-7f3a:span.42' } });
    assert.equal(kept.headers['x-request-id'], 'trace-7f3a:span.42');
    assert.deepEqual(kept.json(), { id: 'trace-7f3a:span.42', header: 'trace-7f3a:span.42', isolate: 'pooled' });
    for (const insane of ['has a space', 'x'.repeat(129), 'quote"d', 'a\\b', '<tag>']) {
      const res = await h1.request('/id', { headers: { 'x-request-id': insane } });
      const id = res.headers['x-request-id'] as string;
      assert.match(id, GENERATED_ID, `${insane} was not replaced`);
      assert.equal((res.json() as { id: string }).id, id);
    }
    const exactly128 = 'y'.repeat(128);
    assert.equal((await h1.request('/id', { headers: { 'x-request-id': exactly128 } })).headers['x-request-id'], exactly128);
    const lines = await linesWhere(cli, (line) => line['reqId'] === 'trace-7f3a:span.42', 1);
    assert.equal(lines.length, 1);
  });

  test('the error id of a 500 is the request id, inline and pooled, and the error line carries it', async () => {
    for (const path of ['/boom', '/pooled-boom']) {
      const res = await h2.request(path);
      assert.equal(res.status, 500);
      const id = res.headers['x-request-id'] as string;
      assert.equal((res.json() as { errorId: string }).errorId, id);
      const [error] = await linesWhere(cli, (line) => line.level === 50 && line['errorId'] === id, 1);
      assert.ok(error !== undefined, `no error line for ${path}`);
      assert.equal(error['reqId'], id);
      assert.match(error.msg, new RegExp(`\\[error id ${id}\\]: the handler threw\\nError: a bug in a (pooled )?handler`));
      assert.match(error.isolate, path === '/boom' ? /^pinned-[01]$/ : /^pooled-0$/, 'the isolate that ran the handler writes the line');
      const [access] = await linesWhere(cli, (line) => line.msg === 'request completed' && line['reqId'] === id, 1);
      assert.equal(access?.['status'], 500);
    }
  });
});

test('without --access-log there are no access lines; in the pretty format errors go to stderr', async () => {
  const cli = new CliProcess(['serve', APP, '--port', '0', '--pinned', '1']);
  const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
  const client = createClient('h1', Number(port));
  assert.equal((await client.request('/id')).status, 200);
  const res = await client.request('/boom');
  const id = res.headers['x-request-id'] as string;
  await cli.waitForOutput(new RegExp(`\\[error id ${id}\\]`), 'stderr');
  await client.close();
  cli.kill('SIGTERM');
  const done = await cli.finished;
  assert.equal(done.code, 0);
  assert.doesNotMatch(done.stdout, /GET \/id 200/);
  assert.doesNotMatch(done.stdout, /^\{/m, 'a JSON line in the pretty format');
});

test('--access-log in the pretty format: one readable line per request', async () => {
  const cli = new CliProcess(['serve', APP, '--port', '0', '--pinned', '1', '--access-log']);
  const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
  const client = createClient('h2c', Number(port));
  const res = await client.request('/items/9');
  const id = res.headers['x-request-id'] as string;
  await cli.waitForOutput(new RegExp(`^GET /items/9 200 [0-9.]+ ms h2 \\[${id}\\]$`, 'm'));
  await client.close();
  cli.kill('SIGTERM');
  assert.equal((await cli.finished).code, 0);
});
