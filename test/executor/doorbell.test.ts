/**
 * The doorbell: a ring between park() and wait() is not lost, a ring nobody is parked for is not
 * remembered, slots are independent, and a cross-thread ping-pong of thousands of rounds
 * (every round a real park/wait on both sides) completes.
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { CACHE_LINE } from '../../src/executor/layout.ts';
import { createDoorbells, Doorbell } from '../../src/executor/doorbell.ts';
import { awaitBall, type PongData } from './doorbell-worker.ts';

/**
 * Whether `promise` settles within `ms`. The timer also keeps the event loop alive, which a
 * pending Atomics.waitAsync does not do.
 */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Milliseconds `wait(timeoutMs)` took to resolve. */
async function timeWait(bell: Doorbell, timeoutMs: number): Promise<number> {
  const started = performance.now();
  assert.equal(await settlesWithin(bell.wait(timeoutMs), timeoutMs + 5_000), true, 'wait(timeout) resolves');
  return performance.now() - started;
}

describe('Doorbell on one thread', () => {
  test('createDoorbells puts each slot on its own cache line and bounds-checks slots', () => {
    assert.equal(createDoorbells(3).byteLength, 3 * CACHE_LINE);
    assert.equal(createDoorbells(0).byteLength, CACHE_LINE, 'at least one slot');
    const buffer = createDoorbells(2);
    assert.doesNotThrow(() => new Doorbell(buffer, 1));
    assert.throws(() => new Doorbell(buffer, 2), RangeError);
  });

  test('a ring between park() and wait() makes wait() resolve at once', async () => {
    const bell = new Doorbell(createDoorbells(1), 0);
    bell.park();
    bell.ring();
    let resolved = false;
    void bell.wait(60_000).then(() => (resolved = true));
    await nextTurn();
    assert.equal(resolved, true, 'resolved in the same turn, without a timer or a notify');
  });

  test('a ring while wait() is pending wakes it', async () => {
    const bell = new Doorbell(createDoorbells(1), 0);
    bell.park();
    const woken = bell.wait();
    assert.equal(await settlesWithin(woken, 20), false, 'nothing wakes it before the ring');
    bell.ring();
    assert.equal(await settlesWithin(woken, 5_000), true);
  });

  test('ring() when nobody is parked does nothing: a later park() + wait(50) times out', async () => {
    const bell = new Doorbell(createDoorbells(1), 0);
    bell.ring();
    bell.park();
    assert.ok((await timeWait(bell, 50)) >= 45, 'waited out the timeout');
  });

  test('ring() after unpark() does nothing, and a ring is not counted twice', async () => {
    const bell = new Doorbell(createDoorbells(1), 0);
    bell.park();
    bell.unpark();
    bell.ring();
    bell.park();
    assert.ok((await timeWait(bell, 50)) >= 45, 'the ring after unpark() was not remembered');

    bell.park();
    bell.ring();
    bell.ring();
    assert.ok((await timeWait(bell, 5_000)) < 1_000, 'the first ring wakes');
    bell.park();
    assert.ok((await timeWait(bell, 50)) >= 45, 'the second ring was not remembered');
  });

  test('ringing one slot does not wake another', async () => {
    const buffer = createDoorbells(2);
    const first = new Doorbell(buffer, 0);
    const second = new Doorbell(buffer, 1);
    first.park();
    second.park();
    const firstWoken = first.wait();
    const secondWoken = second.wait();
    first.ring();
    assert.equal(await settlesWithin(firstWoken, 5_000), true);
    assert.equal(await settlesWithin(secondWoken, 50), false);
    second.ring();
    assert.equal(await settlesWithin(secondWoken, 5_000), true);
  });
});

describe('Doorbell across threads', () => {
  let worker: Worker | undefined;
  after(() => worker?.terminate());

  test('a ping-pong of 5000 rounds with two doorbells completes', { timeout: 60_000 }, async (t) => {
    const rounds = 5_000;
    const data: PongData = { bells: createDoorbells(2), ball: new SharedArrayBuffer(4), rounds };
    const ball = new Int32Array(data.ball);
    const mine = new Doorbell(data.bells, 0);
    const theirs = new Doorbell(data.bells, 1);
    const pong = new Worker(new URL('./doorbell-worker.ts', import.meta.url), { workerData: data });
    worker = pong;
    const answer = new Promise<{ waits: number }>((resolve) => pong.once('message', resolve));
    // Ends the rounds below if the worker dies, instead of waiting for a ring that never comes.
    const died = new Promise<never>((_, reject) => {
      pong.once('error', reject);
      pong.once('exit', (code) => reject(new Error(`the pong worker exited (${code})`)));
    });
    died.catch(() => {}); // after() terminates the worker, which rejects `died` with no one listening

    const started = performance.now();
    let waits = 0;
    for (let round = 0; round < rounds; round++) {
      Atomics.store(ball, 0, 2 * round + 1);
      theirs.ring();
      waits += await Promise.race([awaitBall(mine, ball, 2 * round + 2), died]);
    }
    const elapsed = performance.now() - started;
    const far = await Promise.race([answer, died]);
    assert.equal(Atomics.load(ball, 0), 2 * rounds);
    assert.ok(waits > 0 && far.waits > 0, 'both sides really parked and were woken');
    t.diagnostic(
      `${rounds} round trips in ${elapsed.toFixed(0)} ms (${((elapsed / rounds) * 1000).toFixed(1)} µs each); ` +
        `waits: here ${waits}, worker ${far.waits}`,
    );
  });
});
