/** Pinned workers: several serve at once, a dead one is restarted, and bad apps never start. */

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, isFasterApiError, type Server } from '../../src/index.ts';
import { createClient } from '../helpers/clients.ts';
import { nextWorkerEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';

/** GET over a fresh connection (no keep-alive), so the kernel or the acceptor picks a worker each time. */
function getFresh(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function threadsServing(port: number, attempts: number): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let i = 0; i < attempts && seen.size < 2; i++) {
    const res = await getFresh(port, '/thread');
    seen.add((JSON.parse(res.body) as { threadId: number }).threadId);
  }
  return seen;
}

for (const listener of ['reuseport', 'acceptor'] as const) {
  describe(`two pinned workers, ${listener} listener`, () => {
    let server: Server;
    before(async () => {
      server = await startTestServer({ listener, pinnedWorkers: 2 });
    });
    after(() => server.close());

    test('both workers serve requests', async () => {
      assert.equal(server.workerThreadIds.length, 2);
      // Connections are spread by the kernel's reuseport hash or the acceptor's round-robin;
      // 200 fresh connections all landing on one of two workers would be a bug, not bad luck.
      const seen = await threadsServing(server.port, 200);
      assert.deepEqual([...seen].sort(), [...server.workerThreadIds].sort());
    });

    test('a handler that calls process.exit kills only its worker, which is restarted', async () => {
      const before = [...server.workerThreadIds];
      const exited = nextWorkerEvent('exit', server.port);
      const restarted = nextWorkerEvent('ready', server.port);
      await assert.rejects(getFresh(server.port, '/exit'), /socket hang up|ECONNRESET/);
      const exit = await exited;
      assert.equal(exit.exitCode, 3);
      assert.ok(before.includes(exit.threadId));

      // The other worker keeps serving while the dead one restarts.
      const survivor = before.find((id) => id !== exit.threadId);
      for (let i = 0; i < 10; i++) assert.equal((await getFresh(server.port, '/hello')).status, 200);

      const ready = await restarted;
      assert.equal(ready.index, exit.index);
      assert.ok(!before.includes(ready.threadId), 'the restarted worker is a new isolate');
      assert.deepEqual([...server.workerThreadIds].sort(), [survivor, ready.threadId].sort());
      const seen = await threadsServing(server.port, 200);
      assert.ok(seen.has(ready.threadId), 'the restarted worker serves requests');
    });

    test('an uncaught error outside a handler restarts the worker; requests keep being answered', async () => {
      const exited = nextWorkerEvent('exit', server.port);
      const restarted = nextWorkerEvent('ready', server.port);
      const res = await getFresh(server.port, '/crash-outside-handler');
      assert.equal(res.body, 'scheduled');
      const exit = await exited;
      assert.equal(exit.exitCode, 1);
      await restarted;
      assert.equal(server.workerThreadIds.length, 2);
      assert.equal((await getFresh(server.port, '/hello')).status, 200);
    });

    test('an HTTP/2 session on the surviving worker is not disturbed by a restart', async () => {
      const client = createClient('h2c', server.port);
      try {
        const first = (await client.request('/thread')).json() as { threadId: number };
        const exited = nextWorkerEvent('exit', server.port);
        // Kill whichever worker is not serving this session: find a keep-alive connection that
        // landed on the other worker, and send /exit on that same connection.
        for (let i = 0; i < 200; i++) {
          const other = createClient('h1', server.port);
          const on = (await other.request('/thread')).json() as { threadId: number };
          if (on.threadId !== first.threadId) {
            await other.request('/exit').catch(() => {});
            await other.close();
            break;
          }
          await other.close();
        }
        await exited;
        const again = (await client.request('/thread')).json() as { threadId: number };
        assert.equal(again.threadId, first.threadId);
        await nextWorkerEvent('ready', server.port);
      } finally {
        await client.close();
      }
    });
  });
}

describe('apps that cannot be served', () => {
  const startError = async (app: string, options = {}): Promise<unknown> =>
    startTestServer(options, new URL(`../fixtures/apps/${app}`, import.meta.url)).then(
      async (server) => {
        await server.close();
        return null;
      },
      (thrown: unknown) => thrown,
    );

  test('isolates that build different route tables are refused', async () => {
    const error = await startError('mismatch.ts');
    assert.ok(isFasterApiError(error));
    assert.equal(error.code, ErrorCode.ROUTE_TABLE_MISMATCH);
    assert.match(error.message, /different route table/);
    assert.match(error.message, /only-on-odd-threads/);
  });

  test('a missing app module', async () => {
    const error = await startError('does-not-exist.ts');
    assert.ok(isFasterApiError(error));
    assert.equal(error.code, ErrorCode.APP_NOT_FOUND);
    assert.match(error.message, /does-not-exist\.ts/);
  });

  test('an app module without a default-exported App', async () => {
    const error = await startError('no-default.ts');
    assert.ok(isFasterApiError(error));
    assert.equal(error.code, ErrorCode.APP_EXPORT);
    assert.match(error.message, /export default app/);
  });

  test('an app module that throws while loading', async () => {
    const error = await startError('throws-on-import.ts');
    assert.ok(isFasterApiError(error));
    assert.equal(error.code, ErrorCode.APP_LOAD);
    assert.match(error.message, /database URL is not set/);
  });

  test('an app that registers a route twice', async () => {
    const error = await startError('bad-route.ts');
    assert.ok(isFasterApiError(error));
    assert.equal(error.code, ErrorCode.APP_LOAD);
    assert.match(error.message, /GET \/twice is registered twice/);
  });

  for (const listener of ['reuseport', 'acceptor'] as const) {
    test(`a port in use by another program (${listener})`, async () => {
      const holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const { port } = holder.address() as net.AddressInfo;
      try {
        const error = await startError('../app.ts', { port, listener });
        assert.ok(isFasterApiError(error));
        assert.equal(error.code, ErrorCode.PORT_IN_USE);
        assert.match(error.message, new RegExp(`port ${port} on 127.0.0.1 is already in use`));
      } finally {
        holder.close();
      }
    });
  }

  test('a port already served by another FasterAPI server (which also uses SO_REUSEPORT)', async () => {
    const first = await startTestServer({ pinnedWorkers: 1 });
    try {
      const error = await startError('../app.ts', { port: first.port, listener: 'reuseport' });
      assert.ok(isFasterApiError(error));
      assert.equal(error.code, ErrorCode.PORT_IN_USE);
    } finally {
      await first.close();
    }
  });

  test('invalid options are refused before anything starts', async () => {
    const error = await startError('../app.ts', { pinnedWorkers: -1 });
    assert.ok(isFasterApiError(error));
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.match(error.message, /pinnedWorkers/);
  });
});
