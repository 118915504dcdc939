/**
 * Pooled tasks end to end: `app.task` / `app.run` from handlers, hooks, WebSocket callbacks and
 * pooled handlers, over HTTP/1.1 and h2c, with the pool's refusal, timeouts, crashes and the
 * watchdog; values that cross as the structured clone format, large ones in chunk records.
 */

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import WebSocket from 'ws';
import { App, ErrorCode, isFasterApiError, type Server, type ServeOptions } from '../../src/index.ts';
import { createClient, type Client, type ClientKind } from '../helpers/clients.ts';
import { nextWorkerEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';
import { slowStarted } from '../helpers/slow.ts';

const TASKS_APP = new URL('../fixtures/apps/tasks.ts', import.meta.url);

interface Outcome {
  ok: boolean;
  result?: unknown;
  caller: number;
  isError?: boolean;
  isHttpError?: boolean;
  name?: string;
  message?: string;
  code?: unknown;
  limit?: unknown;
  status?: unknown;
  headers?: unknown;
  stackNamesTask?: boolean;
  value?: unknown;
}

async function run(client: Client, task: string, input: unknown, timeout?: number): Promise<Outcome> {
  const res = await client.request(`/run/${task}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input, timeout }) });
  assert.equal(res.status, 200, res.text());
  return res.json() as Outcome;
}

/** Runs `body` against a fresh server of the tasks app and one client, closing both after. */
async function withServer(options: ServeOptions, kind: ClientKind, body: (server: Server, client: Client) => Promise<void>): Promise<void> {
  const server = await startTestServer(options, TASKS_APP);
  const client = createClient(kind, server.port);
  try {
    await body(server, client);
  } finally {
    await client.close();
    await server.close();
  }
}

for (const kind of ['h1', 'h2c'] as const satisfies readonly ClientKind[]) {
  describe(`pooled tasks over ${kind}`, () => {
    let server: Server;
    let client: Client;
    before(async () => {
      server = await startTestServer({ pinnedWorkers: 2, pooledWorkers: 2, pooledIsolates: 2, bodyLimit: 4 * 1024 * 1024 }, TASKS_APP);
      client = createClient(kind, server.port);
    });
    after(async () => {
      await client.close();
      await server.close();
    });

    test('run on a pooled isolate and resolve to the task’s result, each to its own caller', async () => {
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => run(client, 'where', `tag-${i}`)));
      outcomes.forEach((outcome, i) => {
        assert.equal(outcome.ok, true);
        const result = outcome.result as { tag: string; threadId: number };
        assert.equal(result.tag, `tag-${i}`, 'each caller gets the result of its own input');
        assert.ok(server.pooledThreadIds.includes(result.threadId), 'the task ran on a pooled isolate');
        assert.ok(server.workerThreadIds.includes(outcome.caller), 'the caller was a pinned worker');
      });
    });

    test('carry structured values that JSON cannot: Date, BigInt, Map, Set, bytes, undefined', async () => {
      const res = await client.request('/structured');
      assert.deepEqual(res.json(), { date: true, big: true, map: true, set: true, bytes: true, nested: true, sameObject: false });
    });

    test('carry large inputs and results whole, in chunk records (2 MiB each way)', async () => {
      const body = randomBytes(2 * 1024 * 1024);
      const res = await client.request('/digest', { method: 'POST', body });
      assert.deepEqual(res.json(), { size: body.byteLength, sha256: createHash('sha256').update(body).digest('hex') });
      const filled = await client.request(`/fill?size=${2 * 1024 * 1024 + 3}&byte=201`);
      assert.equal(filled.status, 200);
      assert.equal(filled.body.byteLength, 2 * 1024 * 1024 + 3);
      assert.ok(filled.body.every((b) => b === 201));
    });

    test('rethrow what the task threw, with its name, message, stack and fields', async () => {
      const quota = await run(client, 'quota', 3);
      assert.equal(quota.ok, false);
      assert.equal(quota.isError, true);
      assert.equal(quota.name, 'QuotaError');
      assert.equal(quota.message, 'over the quota of 3');
      assert.equal(quota.code, 'E_QUOTA');
      assert.equal(quota.limit, 3);
      assert.equal(quota.stackNamesTask, true, 'the stack is the task’s, from the pooled isolate');
      const thrownString = await run(client, 'throw-string', null);
      assert.deepEqual([thrownString.ok, thrownString.isError, thrownString.value], [false, false, 'plain string']);
    });

    test('an HttpError thrown by the task stays one: uncaught, it answers with its status and headers', async () => {
      const caught = await run(client, 'teapot', null);
      assert.deepEqual([caught.isHttpError, caught.status, caught.message, caught.code], [true, 418, 'short and stout', ErrorCode.BAD_REQUEST]);
      assert.deepEqual(caught.headers, { 'x-teapot': 'yes' });
      const res = await client.request('/raw/teapot', { method: 'POST', body: '{}' });
      assert.equal(res.status, 418);
      assert.equal(res.headers['x-teapot'], 'yes');
      assert.deepEqual(res.json(), { detail: 'short and stout' });
    });

    test('a plain Error keeps own fields named like an HttpError’s (status, headers), and stays a plain Error', async () => {
      const upstream = await run(client, 'upstream', null);
      assert.deepEqual(
        [upstream.isError, upstream.isHttpError, upstream.name, upstream.message, upstream.code, upstream.status, upstream.headers],
        [true, false, 'Error', 'the upstream said no', 'E_UPSTREAM', 404, { 'x-upstream': 'gone' }],
      );
    });

    test('an HttpError whose status was overwritten past 400–599 comes back as a plain Error keeping its fields', async () => {
      const outcome = await run(client, 'bad-status', null);
      assert.deepEqual([outcome.ok, outcome.isError, outcome.isHttpError, outcome.name, outcome.message, outcome.status], [false, true, false, 'HttpError', 'odd status', 99]);
    });

    test('a result that cannot be cloned rejects with a TypeError naming the cause', async () => {
      const outcome = await run(client, 'unclonable', null);
      assert.equal(outcome.ok, false);
      assert.equal(outcome.name, 'TypeError');
      assert.match(outcome.message ?? '', /result cannot be sent back from the pool.*could not be cloned/s);
    });

    test('an input that cannot be cloned rejects before anything is sent', async () => {
      const outcome = (await client.request('/bad-input')).json() as Outcome;
      assert.equal(outcome.name, 'TypeError');
      assert.match(outcome.message ?? '', /the input of task "echo" cannot be sent to the pool/);
    });

    test('an unknown task name rejects with FA_ERR_TASK; uncaught, it is a 500 with an error id', async () => {
      const outcome = await run(client, 'no-such-task', null);
      assert.deepEqual([outcome.name, outcome.code], ['FasterApiError', ErrorCode.TASK]);
      const res = await client.request('/raw/no-such-task', { method: 'POST', body: '{}' });
      assert.equal(res.status, 500);
      assert.equal(typeof (res.json() as { errorId?: unknown }).errorId, 'string');
    });

    test('a task past its timeout rejects with a 504 HttpError, and its slot is given back', async () => {
      const outcome = await run(client, 'never', null);
      assert.deepEqual([outcome.isHttpError, outcome.status, outcome.code], [true, 504, ErrorCode.TASK_TIMEOUT]);
      assert.match(outcome.message ?? '', /did not finish within 200 ms/);
      // The caller's timeout wins over the task's own.
      const short = await run(client, 'sleep', { ms: 2_000 }, 100);
      assert.deepEqual([short.status, short.code], [504, ErrorCode.TASK_TIMEOUT]);
      assert.match(short.message ?? '', /within 100 ms/);
      const res = await client.request('/raw/never', { method: 'POST', body: '{}' });
      assert.equal(res.status, 504);
      // Every slot was given back: 4 tasks at once on 2 slots still all finish.
      const after = await Promise.all(Array.from({ length: 4 }, () => run(client, 'sleep', { ms: 20 })));
      assert.ok(after.every((o) => o.ok));
    });

    test('from an onRequest hook, a WebSocket callback and a pooled handler', async () => {
      const hooked = (await client.request('/anything', { headers: { 'x-run-task': '1' } })).json() as { hook: number; task: number };
      assert.ok(server.workerThreadIds.includes(hooked.hook));
      assert.ok(server.pooledThreadIds.includes(hooked.task));

      // On a pooled isolate the task runs right there: it is already off the pinned workers.
      const pooled = (await client.request('/from-pooled')).json() as { handler: number; task: { tag: string; threadId: number } };
      assert.ok(server.pooledThreadIds.includes(pooled.handler));
      assert.deepEqual(pooled.task, { tag: 'pooled', threadId: pooled.handler });

      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
      const answers: Array<{ tag: string; threadId: number; socket: number }> = [];
      await new Promise<void>((resolve, reject) => {
        socket.on('open', () => {
          for (let i = 0; i < 5; i++) socket.send(`m${i}`);
        });
        socket.on('message', (data) => {
          answers.push(JSON.parse(String(data)));
          if (answers.length === 5) resolve();
        });
        socket.on('error', reject);
      });
      socket.close();
      assert.deepEqual(answers.map((a) => a.tag).sort(), ['m0', 'm1', 'm2', 'm3', 'm4']);
      for (const answer of answers) {
        assert.ok(server.pooledThreadIds.includes(answer.threadId));
        assert.ok(server.workerThreadIds.includes(answer.socket));
      }
    });
  });
}

describe('pooled tasks when the pool is full or its isolates fail', () => {
  test('a full pool refuses with a 503 HttpError (FA_ERR_POOL_OVERLOADED), and every call is answered', () =>
    withServer({ pinnedWorkers: 1, pooledWorkers: 1, pooledIsolates: 1, poolQueueLimit: 1 }, 'h2c', async (server, client) => {
      // One slot and one queued place: of 6 at once, 2 run and 4 are refused.
      const outcomes = await Promise.all(Array.from({ length: 6 }, () => run(client, 'sleep', { ms: 300 })));
      const refused = outcomes.filter((o) => !o.ok);
      assert.equal(outcomes.filter((o) => o.ok).length, 2);
      assert.equal(refused.length, 4);
      for (const o of refused) {
        assert.deepEqual([o.isHttpError, o.status, o.code], [true, 503, ErrorCode.POOL_OVERLOADED]);
        assert.deepEqual(o.headers, { 'retry-after': '1' });
      }
      // Uncaught, the refusal answers 503 with Retry-After.
      const busy = Promise.all([run(client, 'sleep', { ms: 300 }), run(client, 'sleep', { ms: 300 })]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const res = await client.request('/raw/sleep', { method: 'POST', body: JSON.stringify({ input: { ms: 1 } }) });
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '1');
      await busy;
    }));

  test('a task that kills its isolate rejects with FA_ERR_POOL_UNAVAILABLE; the isolate is replaced and tasks run again', () =>
    withServer({ pinnedWorkers: 1, pooledWorkers: 1, pooledIsolates: 1 }, 'h1', async (server, client) => {
      const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pooled');
      const ready = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pooled');
      const outcome = await run(client, 'exit', null);
      assert.deepEqual([outcome.status, outcome.code], [503, ErrorCode.POOL_UNAVAILABLE]);
      assert.match((await exited).reason ?? '', /exited with code 9/);
      await ready;
      const again = await run(client, 'where', 'after');
      assert.equal((again.result as { tag: string }).tag, 'after');
      assert.equal(server.restarts.pooled, 1);
    }));

  test('a task stuck in synchronous code past its timeout gets its isolate replaced by the watchdog, named in the reason', () =>
    withServer({ pinnedWorkers: 1, pooledWorkers: 1, pooledIsolates: 1 }, 'h2c', async (server, client) => {
      const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === 'pooled');
      const started = slowStarted(['stuck-1']);
      const outcome = run(client, 'stuck', 'stuck-1');
      await started;
      assert.deepEqual([(await outcome).status, (await outcome).code], [504, ErrorCode.TASK_TIMEOUT]);
      assert.match((await exited).reason ?? '', /stuck in the synchronous code of TASK:stuck \d+ ms past its timeout/);
    }));
});

describe('the server’s handlerTimeout for tasks without a timeout of their own', () => {
  for (const pooled of [true, false]) {
    test(`a task without one times out at handlerTimeout, and one with timeout 0 runs past it (${pooled ? 'pool' : 'no pool'})`, () =>
      withServer({ pinnedWorkers: 1, handlerTimeout: 200, ...(pooled ? { pooledWorkers: 1, pooledIsolates: 1 } : {}) }, 'h1', async (server, client) => {
        const late = await run(client, 'sleep', { ms: 5_000 });
        assert.deepEqual([late.status, late.code], [504, ErrorCode.TASK_TIMEOUT]);
        assert.match(late.message ?? '', /within 200 ms/);
        if (!pooled) return; // without a pool a synchronous task holds the caller's own loop
        // CPU work past handlerTimeout, in the synchronous part or after an await: with timeout 0
        // no watchdog cuts it.
        for (const task of ['spin', 'spin-later']) {
          const spun = await run(client, task, 1_000, 0);
          assert.equal(spun.ok, true, task);
          assert.ok(server.pooledThreadIds.includes(spun.result as number));
        }
        assert.equal(server.restarts.pooled, 0);
      }));
  }
});

describe('a task that times out before it is sent', () => {
  test('is withdrawn from the pinned worker’s queue and never runs', () =>
    withServer({ pinnedWorkers: 1, pooledWorkers: 2, pooledIsolates: 1 }, 'h1', async (_server, client) => {
      const seen: string[] = [];
      const channel = new BroadcastChannel('fasterapi-test:slow-started');
      const nextSeen = new Promise<void>((resolve) => {
        channel.onmessage = (event) => {
          seen.push(String((event as MessageEvent).data));
          if (seen.includes('next')) resolve();
        };
      });
      try {
        // The isolate is held, so a large input fills the request ring and the next task waits behind it.
        const held = slowStarted(['hold-w']);
        const hold = run(client, 'hold', { id: 'hold-w', ms: 2_000 });
        await held;
        const res = await client.request(`/withdrawn?size=${1024 * 1024}`);
        const { late, next } = res.json() as { late: Outcome; next: Outcome };
        assert.deepEqual([late.status, late.code], [504, ErrorCode.TASK_TIMEOUT]);
        assert.equal(next.result, 'next');
        assert.equal((await hold).ok, true);
        // Reports from one isolate arrive in order: had the withdrawn task run, it would show before 'next'.
        await nextSeen;
        assert.deepEqual(seen.filter((id) => id !== 'hold-w'), ['next']);
      } finally {
        channel.close();
      }
    }));
});

describe('pooled tasks without a pool', () => {
  test('run on the calling pinned worker, with the same value format and errors', () =>
    withServer({ pinnedWorkers: 1 }, 'h1', async (server, client) => {
      const outcome = await run(client, 'where', 'inline');
      assert.deepEqual(outcome.result, { tag: 'inline', threadId: outcome.caller });
      assert.ok(server.workerThreadIds.includes(outcome.caller));
      const structured = await client.request('/structured');
      assert.deepEqual(structured.json(), { date: true, big: true, map: true, set: true, bytes: true, nested: true, sameObject: false });
      const quota = await run(client, 'quota', 3);
      assert.deepEqual([quota.name, quota.code, quota.limit], ['QuotaError', 'E_QUOTA', 3]);
      const late = await run(client, 'never', null);
      assert.deepEqual([late.status, late.code], [504, ErrorCode.TASK_TIMEOUT]);
    }));
});

describe('registering and running tasks on an App', () => {
  test('refuses a duplicate name, a non-function, an empty name and a bad timeout, naming them', () => {
    const app = new App();
    app.task('one', () => 1);
    assert.throws(() => app.task('one', () => 2), { code: ErrorCode.ROUTE_DEFINITION, message: /task "one" is already registered/ });
    assert.throws(() => app.task('two', 'nope' as never), { code: ErrorCode.ROUTE_DEFINITION, message: /task "two" must be a function/ });
    assert.throws(() => app.task('', () => 1), { code: ErrorCode.ROUTE_DEFINITION, message: /non-empty string/ });
    assert.throws(() => app.task('three', () => 1, { timeout: -1 }), { code: ErrorCode.ROUTE_DEFINITION, message: /timeout of task "three"/ });
    assert.throws(() => app.task('four', () => 1, { timeout: 2 ** 31 }), { code: ErrorCode.ROUTE_DEFINITION });
    app.task('five', () => 1, { timeout: 2 ** 31 - 1 });
    // A TASK record carries the index in 16 bits: 65,536 tasks at most.
    const many = new App();
    for (let i = 0; i < 0x1_0000; i++) many.task(`t${i}`, () => i);
    assert.throws(() => many.task('one-more', () => 0), { code: ErrorCode.ROUTE_DEFINITION, message: /at most 65536 tasks: "one-more"/ });
  });

  test('run() before the server serves the app rejects with FA_ERR_TASK', async () => {
    const app = new App();
    app.task('one', () => 1);
    await assert.rejects(app.run('one', null), (error: unknown) => isFasterApiError(error) && error.code === ErrorCode.TASK && /once the server serves/.test(error.message));
    await assert.rejects(app.run('two', null), (error: unknown) => isFasterApiError(error) && /no task is registered as "two"/.test(error.message));
  });
});

describe('pooled tasks in-process (app.request)', () => {
  test('cross the TASK record and its chunk records on the calling thread, with the same values and errors', async () => {
    const { inProcess } = await import('../../src/index.ts');
    const app = (await import(TASKS_APP.href)).default as App;
    const client = inProcess(app, { bodyLimit: 4 * 1024 * 1024, logLevel: 'silent' });
    try {
      const call = async (task: string, input: unknown, timeout?: number): Promise<Outcome> =>
        (await (await client.request(`/run/${task}`, { method: 'POST', body: JSON.stringify({ input, timeout }) })).json()) as Outcome;
      const where = await call('where', 'in-process');
      assert.deepEqual(where.result, { tag: 'in-process', threadId: where.caller });
      assert.deepEqual(await (await client.request('/structured')).json(), { date: true, big: true, map: true, set: true, bytes: true, nested: true, sameObject: false });
      // Larger than a ring record both ways: the input and the result go in chunk records.
      const body = randomBytes(2 * 1024 * 1024);
      const digest = await client.request('/digest', { method: 'POST', body });
      assert.deepEqual(await digest.json(), { size: body.byteLength, sha256: createHash('sha256').update(body).digest('hex') });
      const filled = new Uint8Array(await (await client.request(`/fill?size=${2 * 1024 * 1024 + 3}&byte=201`)).arrayBuffer());
      assert.equal(filled.byteLength, 2 * 1024 * 1024 + 3);
      assert.ok(filled.every((b) => b === 201));
      const quota = await call('quota', 3);
      assert.deepEqual([quota.name, quota.code, quota.limit, quota.stackNamesTask], ['QuotaError', 'E_QUOTA', 3, true]);
      const unclonable = await call('unclonable', null);
      assert.equal(unclonable.name, 'TypeError');
      const late = await call('sleep', { ms: 2_000 }, 50);
      assert.deepEqual([late.status, late.code], [504, ErrorCode.TASK_TIMEOUT]);
      const teapot = await client.request('/raw/teapot', { method: 'POST', body: '{}' });
      assert.equal(teapot.status, 418);
    } finally {
      await client.close();
    }
  });
});
