/**
 * The pinned workers' watchdog: a handler that blocks its event loop past its timeout gets its
 * worker replaced within the timeout plus a bounded margin, fresh connections keep being served
 * meanwhile, and handlers that are slow but within what they are allowed are never cut.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { CliProcess } from '../helpers/cli.ts';
import { nextWorkerEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';

const RUNAWAY_APP = new URL('../fixtures/apps/runaway.ts', import.meta.url);
/**
 * The bound on how late past its timeout a stuck worker is terminated: the watchdog looks every
 * 100 ms and allows 50 ms past the timeout (about 410 ms in all for a 300 ms timeout, measured);
 * the rest is room for a loaded 2-core machine, where this test process is the supervisor too.
 */
const DETECTION_MARGIN_MS = 1_200;

type Outcome = { readonly kind: 'answered'; readonly status: number; readonly body: string } | { readonly kind: 'failed'; readonly error: string };

/** One GET on a fresh connection, settled either way within `limitMs` (a hang fails the test). */
function fresh(port: number, path: string, limitMs = 5_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`GET ${path} on a fresh connection hung for ${limitMs} ms`)), limitMs);
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ kind: 'answered', status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      resolve({ kind: 'failed', error: error.message });
    });
  });
}

function runawayStarted(): Promise<number> {
  const channel = new BroadcastChannel('fasterapi-test:runaway-started');
  return new Promise((resolve) => {
    channel.onmessage = (event) => {
      channel.close();
      resolve((event as MessageEvent).data as number);
    };
  });
}

describe('a pinned worker blocked past its handler timeout', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 2, handlerTimeout: 500 }, RUNAWAY_APP);
  });
  after(() => server.close());

  test('is replaced within its timeout plus a bounded margin, and fresh connections are served throughout', async () => {
    const restartsBefore = server.restarts.pinned;
    const started = runawayStarted();
    const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pinned');
    const sentAt = performance.now();
    const runaway = fresh(server.port, '/runaway', 10_000);
    const stuckThread = await started;
    const ready = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pinned');

    // 20 fresh connections while the worker is stuck: none may hang. The kernel hands some to
    // the stuck worker's listening socket; when the watchdog ends that thread those are reset
    // (a client retries such a GET once, as browsers do), the others are answered at once.
    const during = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const first = await fresh(server.port, '/thread');
        return first.kind === 'answered' ? { first, final: first } : { first, final: await fresh(server.port, '/thread') };
      }),
    );

    const exit = await exited;
    const exitAfter = performance.now() - sentAt;
    assert.equal(exit.threadId, stuckThread);
    assert.match(exit.reason ?? '', /stuck in the synchronous code of GET:\/runaway \d+ ms past its timeout/);
    assert.ok(exitAfter < 300 + DETECTION_MARGIN_MS, `replaced ${Math.round(exitAfter)} ms after the request (timeout 300 ms)`);
    assert.equal((await runaway).kind, 'failed', 'the runaway request itself is cut');

    for (const { final } of during) {
      assert.equal(final.kind, 'answered', JSON.stringify(final));
      if (final.kind === 'answered') assert.equal(final.status, 200);
    }
    const answeredAtOnce = during.filter((d) => d.first.kind === 'answered').length;
    if (process.env['FASTERAPI_TEST_VERBOSE'] !== undefined) console.log(`stuck worker replaced after ${Math.round(exitAfter)} ms; of 20 fresh connections made meanwhile ${answeredAtOnce} were answered at once, ${20 - answeredAtOnce} reset and answered on retry: ${JSON.stringify(during.filter((d) => d.first.kind === 'failed').map((d) => d.first))}`);
    assert.ok(answeredAtOnce >= 1, 'the live worker answered while the other was stuck');

    const back = await ready;
    assert.equal(back.index, exit.index, 'the same slot is refilled');
    const after = await Promise.all(Array.from({ length: 20 }, () => fresh(server.port, '/thread')));
    const threads = new Set<number>();
    for (const outcome of after) {
      assert.equal(outcome.kind, 'answered', JSON.stringify(outcome));
      if (outcome.kind === 'answered') threads.add((JSON.parse(outcome.body) as { threadId: number }).threadId);
    }
    assert.ok(!threads.has(stuckThread), 'nothing is served by the terminated thread');
    assert.equal(server.restarts.pinned, restartsBefore + 1);
    assert.equal(server.workerThreadIds.length, 2);
  });

  for (const [path, reason] of [
    ['/runaway-after-await', /event loop blocked \d+ ms past the timeout of what it was running/],
    ['/runaway-hook', /event loop blocked \d+ ms past the timeout of what it was running/],
  ] as const) {
    test(`a loop blocked outside a handler's synchronous part (${path}) is caught by the heartbeat`, async () => {
      const started = runawayStarted();
      const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pinned');
      const runaway = fresh(server.port, path, 10_000);
      const stuckThread = await started;
      const ready = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pinned');
      const exit = await exited;
      assert.equal(exit.threadId, stuckThread);
      assert.match(exit.reason ?? '', reason);
      assert.equal((await runaway).kind, 'failed');
      await ready;
    });
  }

  test('slow handlers within what they are allowed are never cut', async () => {
    const restartsBefore = server.restarts.pinned;
    const [patient, patientSync] = await Promise.all([fresh(server.port, '/patient'), fresh(server.port, '/patient-sync')]);
    assert.deepEqual(patient, { kind: 'answered', status: 200, body: 'patient' });
    assert.deepEqual(patientSync, { kind: 'answered', status: 200, body: 'patient' });
    assert.equal(server.restarts.pinned, restartsBefore);
  });
});

test('once a request of a route with timeout 0 has finished, the loop limit it lifted is back', async () => {
  const server = await startTestServer({ pinnedWorkers: 1, handlerTimeout: 500 }, RUNAWAY_APP);
  try {
    // Twice, so a count of such requests that does not return to zero is seen too.
    for (let i = 0; i < 2; i++) assert.deepEqual(await fresh(server.port, '/patient?ms=10'), { kind: 'answered', status: 200, body: 'patient' });
    const started = runawayStarted();
    const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pinned');
    const runaway = fresh(server.port, '/runaway-after-await', 10_000);
    const stuckThread = await started;
    const exit = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref())]);
    assert.ok(exit !== null, 'the blocked worker was replaced');
    assert.equal(exit.threadId, stuckThread);
    assert.equal((await runaway).kind, 'failed');
  } finally {
    await server.close();
  }
});

test('the log line names the route that blocked and how many requests were cut', async () => {
  const cli = new CliProcess(['serve', 'test/fixtures/apps/runaway.ts', '--host', '127.0.0.1', '--port', '0', '--pinned', '1', '--handler-timeout', '500ms']);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 127\.0\.0\.1:(\d+) /);
    await cli.waitForOutput(/Ready: /);
    // Two requests in flight on the one worker: a slow one, then the runaway.
    const slow = fresh(Number(port), '/slow?ms=5000', 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const runaway = fresh(Number(port), '/runaway', 10_000);
    const [line] = await cli.waitForOutput(/↻ Pinned worker 0 \(thread \d+\) [^\n]*/, 'stderr');
    assert.match(line, /was stuck in the synchronous code of GET:\/runaway \d+ ms past its timeout, so the watchdog terminated it; 2 request\(s\) in flight on it were cut; restarting in 100 ms/);
    assert.equal((await runaway).kind, 'failed');
    assert.equal((await slow).kind, 'failed');
    await cli.waitForOutput(/✓ Pinned worker 0 restarted/);
  } finally {
    cli.kill('SIGTERM');
    await cli.finished;
  }
});
