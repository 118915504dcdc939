/**
 * The admin listener: /healthz and /readyz on a port of their own, answered by the supervisor
 * while pinned workers are blocked, restarting or draining.
 */

import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, serve, type Server } from '../../src/index.ts';
import { createClient } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';

const APP = new URL('../fixtures/apps/probes.ts', import.meta.url);

interface Probe {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  json(): Record<string, unknown>;
}

/** One probe on a connection of its own, as a kubelet or a load balancer makes it. */
function probe(server: Server, path: string, method = 'GET'): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.adminUrl}${path}`, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Probes `path` every 25 ms until it answers `status`; the answers seen on the way are returned too. */
async function until(server: Server, path: string, status: number, withinMs: number): Promise<Probe[]> {
  const seen: Probe[] = [];
  const deadline = Date.now() + withinMs;
  for (;;) {
    const answer = await probe(server, path);
    seen.push(answer);
    if (answer.status === status) return seen;
    if (Date.now() > deadline) assert.fail(`${path} did not answer ${status} within ${withinMs} ms; last: ${answer.status} ${answer.body}`);
    await sleep(25);
  }
}

describe('probes of a serving server', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ adminPort: 0, pooledWorkers: 1, handlerTimeout: 5_000 }, APP);
  });
  after(() => server.close());

  test('/healthz lists every isolate, pinned and pooled, live, with the threads that serve', async () => {
    const answer = await probe(server, '/healthz');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(answer.headers['cache-control'], 'no-store');
    const body = answer.json() as { status: string; isolates: Array<{ kind: string; index: number; threadId: number; status: string; heartbeatAgeMs: number; live: boolean }> };
    assert.equal(body.status, 'live');
    assert.deepEqual(
      body.isolates.map((i) => `${i.kind} ${i.index}`),
      ['pinned 0', 'pinned 1', 'pooled 0'],
    );
    assert.deepEqual(body.isolates.filter((i) => i.kind === 'pinned').map((i) => i.threadId).sort(), [...server.workerThreadIds].sort());
    assert.deepEqual(body.isolates.filter((i) => i.kind === 'pooled').map((i) => i.threadId), [...server.pooledThreadIds]);
    for (const isolate of body.isolates) {
      assert.equal(isolate.status, 'serving');
      assert.equal(isolate.live, true);
      assert.ok(isolate.heartbeatAgeMs >= 0 && isolate.heartbeatAgeMs < 1_000, `heartbeat ${isolate.heartbeatAgeMs} ms old`);
    }
  });

  test('/readyz is 200 while every pinned worker listens', async () => {
    const answer = await probe(server, '/readyz');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json(), { status: 'ready' });
  });

  test('HEAD answers headers only; other methods are 405 with Allow; other paths 404; the app is not there', async () => {
    const head = await probe(server, '/readyz', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(Number(head.headers['content-length']) > 0);
    const post = await probe(server, '/healthz', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
    assert.equal((await probe(server, '/hello')).status, 404, 'an app route answered on the admin port');
    assert.equal((await probe(server, '/healthz/extra')).status, 404);
    // ...and the probes are not on the app's port.
    const client = createClient('h1', server.port);
    try {
      assert.equal((await client.request('/healthz')).status, 404);
      assert.equal((await client.request('/hello')).status, 200);
    } finally {
      await client.close();
    }
  });

  test('an event loop blocked where no timeout covers it fails /healthz, which answers meanwhile, and recovers', async () => {
    const client = createClient('h1', server.port);
    try {
      const blocked = client.request('/block-after-await?ms=3000');
      const seen = await until(server, '/healthz', 503, 2_900);
      const body = seen.at(-1)!.json() as { status: string; isolates: Array<{ kind: string; index: number; live: boolean; heartbeatAgeMs: number }> };
      assert.equal(body.status, 'not live');
      const stale = body.isolates.filter((i) => !i.live);
      assert.equal(stale.length, 1, JSON.stringify(body));
      assert.ok(stale[0]!.heartbeatAgeMs > 2_000);
      const served = (await blocked).json() as { isolate: number };
      assert.equal(stale[0]!.kind, 'pinned');
      assert.equal(stale[0]!.index, served.isolate, 'the stale isolate is not the one that was blocked');
      await until(server, '/healthz', 200, 1_000);
    } finally {
      await client.close();
    }
  });

  test('a synchronous handler within its route timeout keeps /healthz at 200 however long it runs', async () => {
    const client = createClient('h1', server.port);
    try {
      const busy = client.request('/busy-sync?ms=3000');
      await sleep(200);
      const deadline = Date.now() + 2_600;
      let probes = 0;
      while (Date.now() < deadline) {
        const answer = await probe(server, '/healthz');
        assert.equal(answer.status, 200, answer.body);
        probes++;
        await sleep(100);
      }
      assert.ok(probes > 10);
      assert.equal((await busy).status, 200);
    } finally {
      await client.close();
    }
  });

  test('a pinned worker that dies turns /readyz 503, naming why, until its replacement listens; /healthz stays 200', async () => {
    const client = createClient('h1', server.port);
    try {
      // The supervisor publishes the exit as it learns of it; the replacement comes after a backoff.
      const exited = new Promise<void>((resolve) => {
        const onExit = (message: unknown): void => {
          const event = message as { kind: string; port: number };
          if (event.kind !== 'pinned' || event.port !== server.port) return;
          diagnostics.unsubscribe('fasterapi:worker:exit', onExit);
          resolve();
        };
        diagnostics.subscribe('fasterapi:worker:exit', onExit);
      });
      await client.request('/exit').catch(() => {});
      await exited;
      const answer = await probe(server, '/readyz');
      assert.equal(answer.status, 503);
      assert.deepEqual(answer.json(), { status: 'not ready', reason: '1 of 2 pinned workers are not listening (being restarted)' });
      const health = await probe(server, '/healthz');
      assert.equal(health.status, 200, health.body);
      assert.ok((health.json().isolates as Array<{ status: string }>).some((i) => i.status === 'starting'));
      await until(server, '/readyz', 200, 10_000);
    } finally {
      await client.close();
    }
  });
});

test('on close(), /readyz turns 503 first and the server serves through the shutdown delay, old connections and new', async () => {
  const server = await startTestServer({ adminPort: 0, shutdownDelay: 1_200 }, APP);
  const h1 = createClient('h1', server.port);
  const h2 = createClient('h2c', server.port);
  try {
    // Connections open before the shutdown starts.
    assert.equal((await h1.request('/hello')).status, 200);
    assert.equal((await h2.request('/hello')).status, 200);
    const began = Date.now();
    const closing = server.close();
    let closed = false;
    void closing.then(() => (closed = true));
    const answer = await probe(server, '/readyz');
    assert.equal(answer.status, 503);
    assert.deepEqual(answer.json(), { status: 'not ready', reason: 'the server is stopping' });
    assert.equal((await probe(server, '/healthz')).status, 200, 'a stopping server is still live');
    // Throughout the delay, the connections that were open and new ones are served.
    while (Date.now() - began < 900) {
      assert.equal((await h1.request('/hello')).status, 200);
      assert.equal((await h2.request('/hello')).status, 200);
      const fresh = createClient('h1', server.port);
      assert.equal((await fresh.request('/hello')).status, 200);
      await fresh.close();
      assert.equal(closed, false);
      await sleep(100);
    }
    await closing;
    assert.ok(Date.now() - began >= 1_200, `closed after ${Date.now() - began} ms, before the shutdown delay`);
    await assert.rejects(probe(server, '/readyz'), 'the admin listener outlived the server');
  } finally {
    await h1.close();
    await h2.close();
  }
});

test('an admin port in use fails serve() before any isolate starts, naming the admin listener', async () => {
  const holder = http.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const taken = (holder.address() as { port: number }).port;
  try {
    await assert.rejects(
      serve(APP, { host: '127.0.0.1', port: 0, adminPort: taken, pinnedWorkers: 1, logLevel: 'silent', handleSignals: false }),
      (error: { code: string; message: string }) => {
        assert.equal(error.code, ErrorCode.PORT_IN_USE);
        assert.match(error.message, new RegExp(`^admin listener: port ${taken} on 127.0.0.1 is already in use .*--admin-port`));
        return true;
      },
    );
  } finally {
    holder.close();
  }
});

test('without adminPort there is no admin listener', async () => {
  const server = await startTestServer({ pinnedWorkers: 1 }, APP);
  try {
    assert.equal(server.adminPort, null);
    assert.equal(server.adminUrl, null);
  } finally {
    await server.close();
  }
});
