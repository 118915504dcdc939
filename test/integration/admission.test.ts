/**
 * Admission control: every queue is bounded, also without a pool. Past `maxInFlight` requests on
 * a pinned worker, what cannot spill to the pool answers 503 with Retry-After at once; what is
 * admitted is served, and each response belongs to its request. A pooled isolate bounds its own
 * queue too, whatever the pinned workers that feed it believe.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import type { Server, ServeOptions } from '../../src/index.ts';
import { createClient } from '../helpers/clients.ts';
import { API_APP, startTestServer } from '../helpers/server.ts';

const APP = new URL('../fixtures/apps/runaway.ts', import.meta.url);

interface Answer {
  readonly id: number;
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/** Request `id`'s answer, read from `body` once it ends; rejects if it takes over 10 s (a hang). */
function answerOf(id: number, body: Readable, head: () => Pick<Answer, 'status' | 'retryAfter'>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`request ${id} hung`)), 10_000);
    let text = '';
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => (text += chunk));
    body.on('end', () => {
      clearTimeout(timer);
      resolve({ id, ...head(), body: text });
    });
    body.on('error', reject);
  });
}

/** `count` concurrent GETs of `path?id=i` as streams of one h2c session. */
async function burstH2(port: number, path: string, count: number): Promise<Answer[]> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await Promise.all(
      Array.from({ length: count }, (_, id) => {
        const stream = session.request({ ':path': `${path}&id=${id}` });
        let head: Pick<Answer, 'status' | 'retryAfter'> = { status: 0, retryAfter: undefined };
        stream.on('response', (h) => (head = { status: h[':status'] ?? 0, retryAfter: h['retry-after'] as string | undefined }));
        return answerOf(id, stream, () => head);
      }),
    );
  } finally {
    session.close();
  }
}

/** `count` concurrent GETs, each on a fresh HTTP/1.1 connection (so the kernel spreads them over the workers). */
function burstH1(port: number, path: string, count: number): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, id) =>
      new Promise<Answer>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: `${path}&id=${id}`, agent: false }, (res) => {
            answerOf(id, res, () => ({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] })).then(resolve, reject);
          })
          .on('error', reject);
      }),
    ),
  );
}

/** Runs `check` against a server started with `options`, and closes it whatever happens. */
async function withServer(options: ServeOptions, check: (server: Server) => Promise<void>): Promise<void> {
  const server = await startTestServer(options, APP);
  try {
    await check(server);
  } finally {
    await server.close();
  }
}

/** Checks the split: `served` answered 200 with their own request's id, the rest 503 + Retry-After. */
function assertSplit(answers: readonly Answer[], served: number): void {
  const ok = answers.filter((a) => a.status === 200);
  const shed = answers.filter((a) => a.status === 503);
  assert.equal(ok.length, served, `served ${ok.length}, shed ${shed.length}, other ${answers.length - ok.length - shed.length}`);
  assert.equal(shed.length, answers.length - served);
  for (const a of ok) assert.equal(a.body, `slow ${a.id}`, 'each response belongs to its request');
  for (const a of shed) {
    assert.equal(a.retryAfter, '1');
    assert.deepEqual(JSON.parse(a.body), { detail: 'The server is overloaded; retry later' });
  }
}

test('without a pool: 100 concurrent slow requests past maxInFlight 8 — exactly 8 served, 92 shed with 503', async () => {
  await withServer({ pinnedWorkers: 1, pooledWorkers: 0, maxInFlight: 8 }, async (server) => {
    assertSplit(await burstH2(server.port, '/slow?ms=1000', 100), 8);
    // The bound is on requests in flight, not a budget: once they are answered, it admits again.
    assertSplit(await burstH2(server.port, '/slow?ms=300', 8), 8);
  });
});

test('with a pool: past maxInFlight a route that may spill goes to an idle pooled slot; one that may not is shed', async () => {
  // Spilling on event-loop delay is switched off, so only the in-flight count decides.
  await withServer({ pinnedWorkers: 1, pooledWorkers: 1, maxInFlight: 8, spillLoopDelay: 60_000 }, async (server) => {
    // 8 inline, 1 spilled to the pool's only slot, 41 shed.
    assertSplit(await burstH2(server.port, '/slow?ms=1000', 50), 9);
    // `pool: false`: nothing spills.
    assertSplit(await burstH2(server.port, '/slow-inline?ms=1000', 50), 8);
  });
});

test('a pooled isolate bounds its own queue, fed by two pinned workers: exactly slots + poolQueueLimit served', async () => {
  await withServer({ pinnedWorkers: 2, pooledWorkers: 1, poolQueueLimit: 2 }, async (server) => {
    // One slot running and two queued, each 1.5 s: the three run one after another.
    assertSplit(await burstH1(server.port, '/pool-slow?ms=1500', 30), 3);
  });
});

test('hooks that never settle are answered 504 after handlerTimeout, and give their slot back', async () => {
  await withServer({ pinnedWorkers: 1, maxInFlight: 2, handlerTimeout: 300 }, async (server) => {
    for (const kind of ['request', 'response']) {
      // Three times the bound, one after another: each held slot must have been given back.
      for (let i = 0; i < 6; i++) {
        const [answer] = await burstH1(server.port, `/hook-never-${kind}?x`, 1);
        assert.equal(answer?.status, 504, `${kind} #${i}`);
        assert.deepEqual(JSON.parse(answer?.body ?? ''), { detail: `An on${kind === 'request' ? 'Request' : 'Response'} hook did not answer within 300 ms` });
      }
    }
    assertSplit(await burstH2(server.port, '/slow?ms=200', 2), 2);
    assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
  });
});

test('a streamed response gives its place back once written: more streams in turn than maxInFlight are all served', async () => {
  const server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 0, maxInFlight: 2 }, API_APP);
  const client = createClient('h1', server.port);
  try {
    for (let i = 0; i < 5; i++) {
      const res = await client.request('/stream/numbers?n=3');
      assert.equal(res.status, 200, `stream ${i}: ${res.text()}`);
    }
    assert.equal((await client.request('/stream/readable')).text(), 'readable stream');
  } finally {
    await client.close();
    await server.close();
  }
});
