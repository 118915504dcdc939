/**
 * Zero-downtime reload under load: wrk (HTTP/1.1), h2load (h2c) and the project's own load
 * client (both protocols, inline and pooled, every response checked to be its request's) run
 * while the app file is rewritten and the server gets SIGHUP three times — a good version, a
 * broken one, another good one. Each good version's new route answers right after its reload,
 * the broken one is refused while the old generation serves on, and no request the server took
 * is lost: every one is answered 200, none cut, reset or left hanging.
 *
 * What HTTP/2 clients see of a drained connection is a GOAWAY: they may open no more streams on
 * it. A request a client had not sent by then never reaches the server and is safe to retry on a
 * new connection (RFC 9113, 8.7), which browsers do. h2load does not: it counts, on each of its
 * connections, the streams it had ready to open as "errored" (at most its -m per connection per
 * drain), and the load client counts them as "refused". Both are bounded here, and h2load must
 * see no status other than 2xx.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { CliProcess } from '../helpers/cli.ts';
import { createClient } from '../helpers/clients.ts';
import { startLoad, totalAccounted } from '../helpers/load-client.ts';

const INDEX = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;
const LOAD_SECONDS = 14;
const H2LOAD_CONNECTIONS = 8;
const H2LOAD_STREAMS = 4;
const LOAD_SESSIONS = 2;
const LOAD_STREAMS = 4;
/** Reloads that drain a generation (the broken one drains nothing). */
const DRAINS = 2;

/** The app at `version`: the load's routes, and `/v<version>` that only this version has. */
function appSource(version: number): string {
  return `import { App } from ${JSON.stringify(INDEX)};
const idOf = (headers) => String(headers['x-request-id'] ?? '');
const app = new App();
app.get('/hello', (req) => \`hello, world \${idOf(req.headers)}\`);
app.get('/pooled-work', async (req) => {
  await new Promise((resolve) => setTimeout(resolve, 2));
  return \`pooled \${idOf(req.headers)}\`;
}, { pool: true });
app.get('/v${version}', () => 'version ${version}');
export default app;
`;
}

const has = (tool: string): boolean => spawnSync(tool, ['--version']).error === undefined;

/** A load tool running to its end: what it printed, and a way to stop it early (a failed test). */
function runTool(command: string, args: readonly string[]): { output: Promise<string>; kill(): void } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { output: new Promise((resolve) => child.on('close', () => resolve(out))), kill: () => child.kill('SIGKILL') };
}

/** The status of one request on a connection of its own, as a new client gets it. */
async function statusOf(port: number, path: string): Promise<number> {
  const client = createClient('h1', port);
  try {
    return (await client.request(path)).status;
  } finally {
    await client.close();
  }
}

const tools = has('wrk') && has('h2load');

test('three SIGHUPs under wrk, h2load and the load client (one with a broken app): no request the server took is lost', { skip: tools ? false : 'wrk and h2load are not installed (Debian packages wrk and nghttp2-client; .ci/run installs them)' }, async (t) => {
  const folder = mkdtempSync(join(tmpdir(), 'fasterapi-reload-'));
  const appFile = join(folder, 'app.ts');
  writeFileSync(appFile, appSource(1));
  const cli = new CliProcess(['serve', appFile, '--port', '0', '--pinned', '2', '--pooled', '4', '--pooled-isolates', '1']);
  const running: Array<{ kill(): void }> = [];
  let stopLoad = async (): Promise<void> => {};
  try {
    const [, portText] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const port = Number(portText);
    const url = `http://127.0.0.1:${port}`;
    let n = 0;
    const load = startLoad({ port, h1Connections: 8, h2Sessions: LOAD_SESSIONS, h2Streams: LOAD_STREAMS, path: () => (n++ % 3 === 0 ? '/pooled-work' : '/hello') });
    stopLoad = async () => void (await load.stop());
    const wrk = runTool('wrk', ['-t', '1', '-c', '16', '-d', `${LOAD_SECONDS}s`, `${url}/hello`]);
    const h2load = runTool('h2load', ['-c', String(H2LOAD_CONNECTIONS), '-m', String(H2LOAD_STREAMS), '-D', String(LOAD_SECONDS), `${url}/hello`]);
    running.push(wrk, h2load);
    // A connection open before a reload may be answered by the old generation until it closes
    // (within the drain); a new client reaches the new generation at once.
    const status = (path: string): Promise<number> => statusOf(port, path);

    await delay(1_500);
    assert.equal(await status('/v1'), 200);
    // A good version: its new route answers as soon as the reload is done.
    writeFileSync(appFile, appSource(2));
    cli.kill('SIGHUP');
    await cli.waitForOutput(/✓ Reloaded: generation 2 serves/);
    assert.equal(await status('/v2'), 200);
    assert.equal(await status('/v1'), 404);
    await delay(2_000);
    // A broken version is refused; generation 2 serves on.
    writeFileSync(appFile, `${appSource(3)}\nthrow new Error('a syntax error in the making');\n`);
    cli.kill('SIGHUP');
    await cli.waitForOutput(/✗ Reload refused, generation 2 serves on: generation 3 did not start: .*a syntax error in the making/, 'stderr');
    assert.equal(await status('/v2'), 200);
    await delay(2_000);
    writeFileSync(appFile, appSource(4));
    cli.kill('SIGHUP');
    await cli.waitForOutput(/✓ Reloaded: generation 3 serves/);
    assert.equal(await status('/v4'), 200);
    assert.equal(await status('/v2'), 404);

    const [wrkOut, h2Out] = await Promise.all([wrk.output, h2load.output]);
    stopLoad = async () => {};
    const counts = await load.stop();
    t.diagnostic(`load client: sent ${counts.sent}, ${JSON.stringify(counts.byStatus)}, unanswered ${counts.unanswered}, refused ${counts.refused}, truncated ${counts.truncated}, reset ${counts.reset}, timeout ${counts.timeout}, connections ${counts.connectionsOpened}`);
    t.diagnostic(`wrk: ${wrkOut.match(/\d+ requests in [^\n]+/)?.[0]}; ${wrkOut.match(/Socket errors[^\n]*/)?.[0] ?? 'no socket errors'}; ${wrkOut.match(/Non-2xx[^\n]*/)?.[0] ?? 'all 2xx'}`);
    t.diagnostic(`h2load: ${h2Out.match(/requests: [^\n]+/)?.[0]}`);

    assert.equal(totalAccounted(counts), counts.sent, 'every request has an outcome');
    assert.equal(counts.mismatched, 0, 'every response belongs to its request');
    assert.deepEqual(Object.keys(counts.byStatus), ['200'], `statuses: ${JSON.stringify(counts.byStatus)}`);
    for (const lost of ['truncated', 'unanswered', 'reset', 'timeout'] as const) assert.equal(counts[lost], 0, `${lost} requests`);
    assert.ok(counts.refused <= LOAD_SESSIONS * LOAD_STREAMS * DRAINS, `${counts.refused} HTTP/2 requests refused: more than the streams a GOAWAY can find unsent`);
    assert.ok(counts.sent > 1_000, `only ${counts.sent} requests were sent`);

    assert.match(wrkOut, /\d+ requests in/, wrkOut);
    assert.doesNotMatch(wrkOut, /Socket errors/, wrkOut);
    assert.doesNotMatch(wrkOut, /Non-2xx or 3xx responses/, wrkOut);
    const h2 = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(h2Out);
    assert.ok(h2 !== null, h2Out);
    assert.ok(Number(h2[4]) > 1_000, h2Out);
    assert.equal(h2[7], '0', `h2load timed out requests:\n${h2Out}`);
    assert.equal(h2[5], h2[6], `h2load failed requests that did not error:\n${h2Out}`);
    assert.ok(Number(h2[6]) <= H2LOAD_CONNECTIONS * H2LOAD_STREAMS * DRAINS, `h2load: more errored requests than a GOAWAY leaves unsent:\n${h2Out}`);
    assert.match(h2Out, /status codes: \d+ 2xx, 0 3xx, 0 4xx, 0 5xx/, h2Out);
  } finally {
    for (const tool of running) tool.kill();
    await stopLoad();
    cli.kill('SIGTERM');
    await cli.finished;
    rmSync(folder, { recursive: true, force: true });
  }
});
