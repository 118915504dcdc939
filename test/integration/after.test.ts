/**
 * req.after(): work that runs on the handler's isolate once the response has been sent, in
 * order, with errors logged under the request's id, and waited for by a graceful shutdown.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { BroadcastChannel, threadId } from 'node:worker_threads';
import type { App, Server } from '../../src/index.ts';
import { CliProcess } from '../helpers/cli.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { multipart, MULTIPART_TYPE } from '../helpers/multipart.ts';
import { startTestServer } from '../helpers/server.ts';

const APP = new URL('../fixtures/apps/after.ts', import.meta.url);

interface Report {
  id: string;
  step: number | string;
  threadId: number;
  ended?: boolean;
  read?: number | string;
  path?: string;
}

/** Collects what the app's after() functions report; `next(match)` waits for one. */
class Reports {
  readonly #channel = new BroadcastChannel('fasterapi-test:after');
  readonly seen: Report[] = [];
  #waiters: Array<() => void> = [];

  constructor() {
    // Waiting on it does not keep the process alive: a report that can no longer come (nothing
    // left to run it) fails the test at once instead of at its timeout.
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      this.seen.push((event as MessageEvent).data as Report);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    };
  }

  async next(match: (report: Report) => boolean): Promise<Report> {
    for (;;) {
      const found = this.seen.find(match);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  close(): void {
    this.#channel.close();
  }
}

/**
 * Uploads a file past the route's memoryLimit with `post`; the route's after() function reads it
 * over and over until released, which happens once the client has its answer and 20 other requests
 * (`next`) have come back. Returns what it reported: it read the whole file every time.
 */
async function uploadRead(reports: Reports, post: (body: Buffer) => Promise<unknown>, next: () => Promise<unknown>): Promise<Report> {
  const content = Buffer.alloc(100_000, 'u');
  const { id, onDisk } = (await post(multipart([{ name: 'file', value: content, filename: 'big.bin' }]))) as { id: string; onDisk: boolean };
  assert.equal(onDisk, true, 'the file went to a temporary file');
  // Other requests come and go while the after() function reads: well past the request's end,
  // when its temporary folder would be gone were it removed with the request.
  for (let i = 0; i < 20; i++) await next();
  const release = new BroadcastChannel('fasterapi-test:after-release');
  release.postMessage(id);
  release.close();
  const report = await reports.next((r) => r.id === id && r.step === 'upload-read');
  assert.equal(report.read, content.byteLength);
  return report;
}

for (const kind of ['h1', 'h2c'] as const) {
  describe(`req.after() over ${kind}`, () => {
    let server: Server;
    let client: Client;
    let reports: Reports;
    before(async () => {
      server = await startTestServer({ pinnedWorkers: 2, pooledWorkers: 1 }, APP);
      client = createClient(kind, server.port);
      reports = new Reports();
    });
    after(async () => {
      reports.close();
      await client.close();
      await server.close();
    });

    test('runs every function in order on the handler’s pinned worker, each request’s own', async () => {
      const ids = await Promise.all(Array.from({ length: 10 }, async () => ((await client.request('/after')).json() as { id: string }).id));
      for (const id of ids) {
        const second = await reports.next((r) => r.id === id && r.step === 2);
        const mine = reports.seen.filter((r) => r.id === id);
        assert.deepEqual(mine.map((r) => r.step), [1, 2], 'both ran, in the order they were added, once each');
        assert.ok(server.workerThreadIds.includes(second.threadId));
      }
    });

    test('the client has its response while an after() function is still running', async () => {
      const { id } = (await client.request('/after-held')).json() as { id: string };
      assert.equal(reports.seen.some((r) => r.id === id), false, 'nothing ran to the end before the response arrived');
      const release = new BroadcastChannel('fasterapi-test:after-release');
      release.postMessage(id);
      release.close();
      await reports.next((r) => r.id === id && r.step === 'released');
    });

    test('one that throws or rejects does not stop the next', async () => {
      const res = await client.request('/after-throws', { headers: { 'x-request-id': `throws-${kind}` } });
      assert.equal(res.text(), 'ok');
      await reports.next((r) => r.id === `throws-${kind}` && r.step === 'third');
    });

    test('after a streamed body, once its last chunk went out', async () => {
      const res = await client.request('/after-stream', { headers: { 'x-request-id': `stream-${kind}` } });
      assert.equal(res.text(), 'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
      const report = await reports.next((r) => r.id === `stream-${kind}`);
      assert.equal(report.ended, true, 'the body had ended when the after() function ran');
    });

    test('on the pooled isolate for a pooled route', async () => {
      const { id } = (await client.request('/after-pooled')).json() as { id: string };
      const report = await reports.next((r) => r.id === id);
      assert.ok(server.pooledThreadIds.includes(report.threadId));
    });

    for (const path of ['/after-order', '/after-order-pooled', '/after-late-order']) {
      test(`each function starts once the one before has finished (${path})`, async () => {
        const { id } = (await client.request(path)).json() as { id: string };
        const last = path === '/after-late-order' ? 3 : 2;
        await reports.next((r) => r.id === id && r.step === last);
        assert.deepEqual(reports.seen.filter((r) => r.id === id).map((r) => r.step), path === '/after-late-order' ? [1, 2, 3] : [1, 2]);
      });
    }

    for (const path of ['/after-upload', '/after-upload-pooled']) {
      test(`an after() function can still read the request's uploaded file on disk (${path})`, async () => {
        const report = await uploadRead(reports, async (body) => {
          const res = await client.request(path, { method: 'POST', headers: { 'content-type': MULTIPART_TYPE }, body });
          assert.equal(res.status, 200);
          return res.json();
        }, () => client.request('/after'));
        // Then the request's temporary folder goes; nothing announces it, so it is looked for.
        const folder = dirname(String(report.path));
        for (let tries = 0; tries < 500 && existsSync(folder); tries++) await delay(10);
        assert.equal(existsSync(folder), false, 'the temporary folder was removed once the after() work was done');
      });
    }

    test('added once the response was sent, runs at once', async () => {
      await client.request('/after-late', { headers: { 'x-request-id': `late-${kind}` } });
      await reports.next((r) => r.id === `late-${kind}` && r.step === 'late');
    });
  });
}

describe('req.after() in-process (app.request)', () => {
  test('runs after an inline and after a pooled handler, on the calling thread', async () => {
    const { inProcess } = await import('../../src/index.ts');
    const app = (await import(APP.href)).default as App;
    const reports = new Reports();
    const client = inProcess(app, { logLevel: 'silent' });
    try {
      for (const path of ['/after', '/after-pooled']) {
        const { id } = (await (await client.request(path)).json()) as { id: string };
        const report = await reports.next((r) => r.id === id && r.step === (path === '/after' ? 2 : 'pooled'));
        assert.equal(report.threadId, threadId);
      }
    } finally {
      reports.close();
      await client.close();
    }
  });
});

describe('req.after() and uploaded files in-process (app.request)', () => {
  for (const path of ['/after-upload', '/after-upload-pooled']) {
    test(`an after() function can still read the request's uploaded file on disk (${path})`, async () => {
      const { inProcess } = await import('../../src/index.ts');
      // A module instance of its own: the tests before closed the app's in-process lifespan.
      const app = (await import(`${APP.href}?upload-${path.slice(1)}`)).default as App;
      const reports = new Reports();
      const client = inProcess(app, { logLevel: 'silent' });
      try {
        await uploadRead(
          reports,
          async (body) => (await client.request(path, { method: 'POST', headers: { 'content-type': MULTIPART_TYPE }, body })).json(),
          () => client.request('/after'),
        );
      } finally {
        reports.close();
        await client.close();
      }
    });
  }
});

describe('req.after() and an in-process close()', () => {
  // The longer work on each side in turn, so that a wait left out on either side shows.
  for (const [inlineMs, pooledMs] of [[600, 50], [50, 600]] as const) {
    test(`close() waits for the after() work under way, inline (${inlineMs} ms) and pooled (${pooledMs} ms)`, async () => {
      const { inProcess } = await import('../../src/index.ts');
      // A module instance of its own: close() ends the app's in-process lifespan for good.
      const module = (await import(`${APP.href}?close-waits-${inlineMs}`)) as { default: App; finished: string[] };
      const client = inProcess(module.default, { logLevel: 'silent' });
      const inline = (await (await client.request(`/after-slow?ms=${inlineMs}`)).json()) as { id: string };
      const pooled = (await (await client.request(`/after-slow-pooled?ms=${pooledMs}`)).json()) as { id: string };
      assert.deepEqual(module.finished, [], 'the answers came before the work finished');
      await client.close();
      assert.deepEqual(module.finished.sort(), [inline.id, pooled.id].sort(), 'both finished before close() resolved');
    });
  }
});

describe('req.after() and shutdown', () => {
  for (const path of ['/after-slow', '/after-slow-pooled', '/after-slow-chain']) {
    test(`a graceful shutdown waits for after() work within the grace period (${path})`, async () => {
      const server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, gracePeriod: 5_000 }, APP);
      const reports = new Reports();
      const client = createClient('h1', server.port);
      try {
        const { id } = (await client.request(`${path}?ms=400`)).json() as { id: string };
        await client.close();
        await server.close();
        assert.ok(reports.seen.some((r) => r.id === id && r.step === 'slow-done'), 'the work finished before the server closed');
      } finally {
        reports.close();
      }
    });
  }

  test('work that outlasts the grace period does not hold the shutdown past it', async () => {
    const server = await startTestServer({ pinnedWorkers: 1, gracePeriod: 300 }, APP);
    const reports = new Reports();
    const client = createClient('h1', server.port);
    try {
      const { id } = (await client.request('/after-slow?ms=60000')).json() as { id: string };
      await client.close();
      await server.close(); // resolves: the worker is terminated at the end of the grace period
      assert.equal(reports.seen.some((r) => r.id === id), false);
    } finally {
      reports.close();
    }
  });
});

describe('req.after() errors in the log', () => {
  let cli: CliProcess;
  before(async () => {
    cli = new CliProcess(['serve', 'test/fixtures/apps/after.ts', '--port', '0', '--pinned', '1']);
    await cli.waitForOutput(/Ready: http:\/\/[^:]+:(\d+)/);
  });
  after(async () => {
    cli.child.kill('SIGTERM');
    await cli.finished;
  });

  test('name the request by its id, what threw, and where', async () => {
    const [, port] = cli.stdout.match(/Ready: http:\/\/[^:]+:(\d+)/) ?? [];
    const client = createClient('h1', Number(port));
    try {
      await client.request('/after-throws', { headers: { 'x-request-id': 'logged-after-1' } });
    } finally {
      await client.close();
    }
    await cli.waitForOutput(/after rejected on purpose/, 'stderr');
    const lines = cli.stderr.split('\n').filter((line) => line.includes('logged-after-1'));
    assert.deepEqual(lines, Array(2).fill('✗ FA_ERR_HANDLER in an after() function of GET /after-throws [error id logged-after-1]: it threw after the response was sent'));
    assert.match(cli.stderr, /logged-after-1\][^\n]*\nError: after failed on purpose\n[^]*logged-after-1\][^\n]*\nError: after rejected on purpose\n/);
  });
});
