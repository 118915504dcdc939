/**
 * The pooled executor end to end: isolation of CPU-bound routes, load shedding, timeouts,
 * crashes, interleaving of async handlers, spill-over, large bodies, and shutdown.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { createClient, type Client, type SimpleResponse } from '../helpers/clients.ts';
import { nextWorkerEvent } from '../helpers/events.ts';
import { startTestServer, TEST_POOLED_APP } from '../helpers/server.ts';
import { slowStarted } from '../helpers/slow.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

function startPool(options: Parameters<typeof startTestServer>[0] = {}): Promise<Server> {
  return startTestServer({ pinnedWorkers: 2, pooledWorkers: 2, pooledIsolates: 1, ...options }, TEST_POOLED_APP);
}

describe('a CPU-bound pooled route', () => {
  let server: Server;
  let client: Client;
  before(async () => {
    server = await startPool({ pinnedWorkers: 1 });
    client = createClient('h2c', server.port);
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  test('runs on a pooled isolate', async () => {
    const body = (await client.request('/cpu?ms=1')).json() as { threadId: number };
    assert.ok(server.pooledThreadIds.includes(body.threadId));
  });

  test('does not delay a light inline route on the same connection', async () => {
    const started = slowStarted(['heavy']);
    let heavyDone = false;
    const heavy = client.request('/cpu?ms=1500&id=heavy').then((res) => {
      heavyDone = true;
      return res;
    });
    await started; // the pooled isolate is now busy for 1.5 s
    const light = await client.request('/light');
    assert.equal(light.text(), 'light');
    assert.equal(heavyDone, false, 'the light request finished while the heavy one was still running');
    assert.equal((await heavy).status, 200);
  });
});

describe('pool saturation', () => {
  test('sheds with 503 and Retry-After when slots and queue are full, and every request is answered', async () => {
    const server = await startPool({ pinnedWorkers: 1, pooledWorkers: 1, poolQueueLimit: 1 });
    const client = createClient('h2c', server.port);
    try {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => client.request(`/cpu?ms=300&id=${i}`)));
      const byStatus = new Map<number, SimpleResponse[]>();
      for (const res of results) byStatus.set(res.status, [...(byStatus.get(res.status) ?? []), res]);
      const ok = byStatus.get(200) ?? [];
      const shed = byStatus.get(503) ?? [];
      assert.equal(ok.length + shed.length, 8, `only 200 and 503, got ${[...byStatus.keys()].join(', ')}`);
      // One running and one queued can be served; the rest had nowhere to go.
      assert.ok(ok.length >= 2, `${ok.length} served`);
      assert.ok(shed.length >= 1, `${shed.length} shed`);
      for (const res of shed) {
        assert.equal(res.headers['retry-after'], '1');
        assert.deepEqual(res.json(), { detail: 'The server is overloaded; retry later' });
      }
      // Once the burst is over, the pool serves again.
      assert.equal((await client.request('/cpu?ms=1')).status, 200);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('timeouts', () => {
  let server: Server;
  let client: Client;
  before(async () => {
    server = await startPool({ pinnedWorkers: 1 });
    client = createClient('h1', server.port);
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  test('a pooled handler stuck in synchronous code answers 504 and its isolate is replaced', async () => {
    const [oldThread] = server.pooledThreadIds;
    const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pooled');
    const replaced = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pooled');
    const res = await client.request('/spin-forever');
    assert.equal(res.status, 504);
    assert.deepEqual(res.json(), { detail: 'The handler did not answer within 300 ms' });
    const exit = await exited;
    assert.equal(exit.threadId, oldThread);
    assert.match(exit.reason ?? '', /stuck in the synchronous code of GET:\/spin-forever \d+ ms past its timeout/);
    const ready = await replaced;
    assert.notEqual(ready.threadId, oldThread);
    const after = (await client.request('/thread')).json() as { threadId: number };
    assert.equal(after.threadId, ready.threadId, 'the replacement serves');
  });

  test('a pooled async handler that never answers gets a 504; the isolate lives on', async () => {
    const before = [...server.pooledThreadIds];
    const res = await client.request('/never-answers');
    assert.equal(res.status, 504);
    assert.deepEqual(server.pooledThreadIds, before);
    assert.equal((await client.request('/thread')).status, 200);
  });

  test('a pooled handler that never answers gives its slot back when it times out', async () => {
    const single = await startPool({ pinnedWorkers: 1, pooledWorkers: 1, poolQueueLimit: 0 });
    const one = createClient('h1', single.port);
    // The isolate publishes its load once it has read the pinned worker's cancel: a request sent
    // in the instant between the 504 and that read still finds the slot taken and is shed (503).
    // Retried for a while, a slot that is given back serves; one that never is stays 503.
    const once = async (path: string): Promise<number> => {
      for (let tries = 0; tries < 40; tries++) {
        const status = (await one.request(path)).status;
        if (status !== 503) return status;
        await delay(25);
      }
      return 503;
    };
    try {
      for (let i = 0; i < 3; i++) assert.equal(await once('/never-answers'), 504);
      // With the only slot still held by a handler that never settles, this would be shed (503).
      assert.equal(await once('/thread'), 200);
    } finally {
      await one.close();
      await single.close();
    }
  });

  test('CPU-bound code after an await blocks the heartbeat, and the isolate is replaced', async () => {
    const blocked = await startPool({ pinnedWorkers: 1, handlerTimeout: 300 });
    const one = createClient('h1', blocked.port);
    try {
      const exited = nextWorkerEvent('exit', blocked.port, (e) => e.kind === 'pooled');
      const replaced = nextWorkerEvent('ready', blocked.port, (e) => e.kind === 'pooled');
      assert.equal((await one.request('/spin-after-await')).status, 504);
      assert.match((await exited).reason ?? '', /event loop blocked \d+ ms past the timeout of what it was running/);
      await replaced;
      assert.equal((await one.request('/thread')).status, 200);
    } finally {
      await one.close();
      await blocked.close();
    }
  });

  test("a route's own longer timeout is honoured by the watchdog, before and after an await", async () => {
    const patient = await startPool({ pinnedWorkers: 1, handlerTimeout: 300 });
    const one = createClient('h1', patient.port);
    try {
      const before = [...patient.pooledThreadIds];
      for (const path of ['/patient-spin?ms=800', '/patient-spin-after-await?ms=800']) {
        const res = await one.request(path);
        assert.equal(res.status, 200, path);
        assert.equal(res.text(), 'patient');
      }
      assert.deepEqual(patient.pooledThreadIds, before, 'no isolate was replaced');
    } finally {
      await one.close();
      await patient.close();
    }
  });

  test('an inline async handler that never answers gets a 504', async () => {
    const res = await client.request('/inline-never-answers');
    assert.equal(res.status, 504);
    assert.equal((await client.request('/light')).text(), 'light');
  });
});

describe('a crashing pooled isolate', () => {
  test('answers 503 for its tasks in flight, is replaced, and the pool serves again', async () => {
    const server = await startPool({ pinnedWorkers: 1 });
    const client = createClient('h2c', server.port);
    try {
      const [oldThread] = server.pooledThreadIds;
      const started = slowStarted(['bystander']);
      const bystander = client.request('/pool-slow?ms=5000&id=bystander');
      await started;
      const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pooled');
      const replaced = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pooled');
      const crash = await client.request('/pool-exit');
      assert.equal(crash.status, 503);
      assert.equal(crash.headers['retry-after'], '1');
      const other = await bystander;
      assert.equal(other.status, 503, 'the task that was in flight on the same isolate');
      assert.match((await exited).reason ?? '', /exited with code 7/);
      const ready = await replaced;
      assert.notEqual(ready.threadId, oldThread);
      const res = await client.request('/thread');
      assert.equal(res.status, 200);
      assert.equal((res.json() as { threadId: number }).threadId, ready.threadId);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('an isolate that runs out of memory is replaced', async () => {
    const server = await startPool({ pinnedWorkers: 1, poolMemoryLimit: 64 });
    const client = createClient('h1', server.port);
    try {
      const replaced = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pooled');
      const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pooled');
      const res = await client.request('/pool-oom');
      assert.equal(res.status, 503);
      assert.match((await exited).reason ?? '', /out of memory|ERR_WORKER_OUT_OF_MEMORY/i);
      await replaced;
      assert.equal((await client.request('/thread')).status, 200);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

test('async handlers interleave on one pooled isolate (N slots over M isolates)', async () => {
  const server = await startPool({ pinnedWorkers: 1, pooledWorkers: 2, pooledIsolates: 1 });
  const client = createClient('h2c', server.port);
  try {
    // /gate/wait can only finish after /gate/open ran on the same isolate while it waited.
    const waiting = client.request('/gate/wait');
    const opened = await client.request('/gate/open');
    const passed = await waiting;
    assert.equal(passed.status, 200);
    const [waitThread] = /on (\d+)/.exec(passed.text())!.slice(1);
    const [openThread] = /on (\d+)/.exec(opened.text())!.slice(1);
    assert.equal(waitThread, openThread);
  } finally {
    await client.close();
    await server.close();
  }
});

describe('spill-over', () => {
  test('a saturated pinned worker moves eligible routes to the pool, never routes marked pool: false', async () => {
    // spillInFlight 0: the request itself counts, so the worker is always "saturated".
    const server = await startPool({ pinnedWorkers: 1, spillInFlight: 0 });
    const client = createClient('h1', server.port);
    try {
      assert.equal(((await client.request('/where')).json() as { isolate: { kind: string } }).isolate.kind, 'pooled');
      assert.equal(((await client.request('/light-where')).json() as { isolate: { kind: string } }).isolate.kind, 'pinned');
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('a burst that blocks the event loop spills the requests behind it to the pool', async () => {
    const server = await startPool({ pinnedWorkers: 1, spillLoopDelay: 20 });
    const client = createClient('h2c', server.port);
    try {
      assert.equal(((await client.request('/where')).json() as { isolate: { kind: string } }).isolate.kind, 'pinned');
      // One request blocks the worker's event loop for 300 ms; requests that arrive meanwhile
      // are read after it, see the delay, and go to the pool.
      const started = slowStarted(['burst']);
      const blocking = client.request('/block?ms=300&id=burst');
      await started;
      const behind = await Promise.all(Array.from({ length: 6 }, () => client.request('/where')));
      await blocking;
      // Spilled while the pool had an idle slot; shed with 503 once its 2 slots were taken.
      const kinds = behind.map((res) => (res.status === 503 ? 'shed' : (res.json() as { isolate: { kind: string } }).isolate.kind));
      assert.ok(kinds.includes('pooled'), `expected some spilled requests, got ${kinds.join(', ')}`);
      assert.ok(behind.every((res) => res.status === 200 || (res.status === 503 && res.headers['retry-after'] === '1')));
    } finally {
      await client.close();
      await server.close();
    }
  });
});

test('bodies larger than a ring record cross the pool byte for byte, both ways', async () => {
  const server = await startPool({ pinnedWorkers: 1, bodyLimit: 4 * 1024 * 1024, poolRingSize: 64 * 1024 });
  try {
    for (const kind of ['h1', 'h2c'] as const) {
      const client = createClient(kind, server.port);
      for (const size of [0, 1, 32 * 1024, 3 * 1024 * 1024 + 7]) {
        const payload = randomBytes(size);
        const res = await client.request('/big-echo', { method: 'POST', body: payload });
        assert.equal(res.status, 200, `${kind} ${size}`);
        assert.equal(res.body.length, size);
        assert.ok(res.body.equals(payload), `${kind} ${size} bytes round-trip`);
      }
      await client.close();
    }
  } finally {
    await server.close();
  }
});

test('heads that can never fit a ring record are answered, not lost: 431 for requests, 500 for responses', async () => {
  const server = await startPool({ pinnedWorkers: 1, poolRingSize: 4096 });
  const client = createClient('h1', server.port);
  try {
    const big = await client.request('/thread', { headers: { 'x-large': 'z'.repeat(3000) } });
    assert.equal(big.status, 431);
    const bigResponse = await client.request('/big-header?size=3000');
    assert.equal(bigResponse.status, 500);
    assert.match((bigResponse.json() as { errorId: string }).errorId, GENERATED_ID);
    const fits = await client.request('/big-header?size=1000');
    assert.equal(fits.status, 200);
    assert.equal(fits.headers['x-big'], 'y'.repeat(1000));
  } finally {
    await client.close();
    await server.close();
  }
});

test('close() waits for pooled tasks in flight', async () => {
  const server = await startPool({ pinnedWorkers: 1, gracePeriod: 5_000 });
  const client = createClient('h2c', server.port);
  try {
    const started = slowStarted(['drain']);
    const slow = client.request('/pool-slow?ms=600&id=drain');
    await started;
    const closing = server.close();
    const res = await slow;
    assert.equal(res.status, 200);
    assert.match(res.text(), /^slow done/);
    await closing;
  } finally {
    await client.close();
  }
});

test('pooled routes keep working through a restarted pinned worker', async () => {
  const server = await startPool({ pinnedWorkers: 1 });
  try {
    const restarted = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pinned');
    const dying = createClient('h1', server.port);
    await assert.rejects(dying.request('/pinned-exit'));
    await dying.close();
    await restarted;
    const client = createClient('h2c', server.port);
    for (let i = 0; i < 5; i++) {
      const res = await client.request('/thread');
      assert.equal(res.status, 200);
      assert.equal((res.json() as { isolate: { kind: string } }).isolate.kind, 'pooled');
    }
    await client.close();
  } finally {
    await server.close();
  }
});
