/**
 * How long an end of the rings keeps looking before it parks (spin.ts), and the blocking park of
 * an idle pooled isolate (Doorbell.block, doorbell.ts).
 *
 *   SpinWindow: the average starts at the cap (the first records spin); each sample moves it by
 *   1/8 of the difference, a sample counting at most 4 caps; the window is twice the average,
 *   capped, and 0 once the average is above the cap. The expected values below are worked out
 *   by hand from that rule, with caps chosen so that every step is exact in binary floating
 *   point (assert.equal, not a tolerance).
 *
 *   Doorbell.block(): a ring from another thread wakes it promptly and it returns true; it
 *   returns false on timeout; and a single ring() wakes it even while an older wait() is
 *   registered on the same word (ring-endpoint.ts can leave one there).
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { createDoorbells, Doorbell } from '../../src/executor/doorbell.ts';
import { DOORBELL_STRIDE } from '../../src/executor/layout.ts';
import { SpinWindow, spinCapFor, spinUntil } from '../../src/executor/spin.ts';
import { DELAY_US, epochMs, ROUND, RUNG, type RingerData } from './bell-ringer-worker.ts';

describe('SpinWindow', () => {
  test('starts at the cap: the first records spin for the whole cap', () => {
    assert.equal(new SpinWindow(50).ms, 0.05);
    assert.equal(new SpinWindow(8000).ms, 8);
    assert.equal(new SpinWindow(1).ms, 0.001);
  });

  test('a cap of 0 never spins, whatever the samples', () => {
    const window = new SpinWindow(0);
    assert.equal(window.ms, 0);
    for (const sample of [0, 0, 0, 0.001, 5, 0, 0, 0, 0, 0, 0, 0, 0]) {
      window.sample(sample);
      assert.equal(window.ms, 0, `after a sample of ${sample} ms`);
    }
  });

  test('each sample moves the average by 1/8; the window is twice the average within the cap, and capped', () => {
    // Cap 8 ms. Samples of 0 ms: average 8 · (7/8)^n, window min(8, 2 · average).
    const window = new SpinWindow(8000);
    const expected = [
      // average after n samples of 0, and the window it gives
      [7, 8], //                       2 · 7 = 14: capped at 8
      [6.125, 8],
      [5.359375, 8],
      [4.689453125, 8],
      [4.103271484375, 8], //          2 · 4.10… = 8.2…: still capped
      [3.590362548828125, 7.18072509765625], // 8 · (7/8)^6 = 117649/32768: now 2 · average
      [3.1415672302246094, 6.283134460449219],
    ] as const;
    // Each step is exact in binary floating point: 8 · (7/8)^n has a power-of-two denominator.
    for (const [n, [average, ms]] of expected.entries()) {
      window.sample(0);
      assert.equal(window.ms, ms, `after ${n + 1} samples of 0 ms (average ${average})`);
    }
  });

  test('a sample equal to the average leaves it, and the window follows the samples both ways', () => {
    // Cap 8 ms, average 8: a sample of 8 keeps it at 8 (window 8, the cap).
    const window = new SpinWindow(8000);
    window.sample(8);
    assert.equal(window.ms, 8);
    // A sample of 16 (2 caps): 8 + (16 − 8)/8 = 9 > 8: records that far apart park at once.
    window.sample(16);
    assert.equal(window.ms, 0);
    // Samples of 0: 9 · 7/8 = 7.875 ≤ 8: the window is back, capped at 8.
    window.sample(0);
    assert.equal(window.ms, 8);
  });

  test('0 once the average is above the cap; exactly at the cap it is still the cap', () => {
    // Cap 8 ms.
    const window = new SpinWindow(8000);
    window.sample(9);
    // 8 + (9 − 8)/8 = 8.125 > 8
    assert.equal(window.ms, 0);
    window.sample(7);
    // 8.125 + (7 − 8.125)/8 = 7.984375 ≤ 8: the window is the cap again
    assert.equal(window.ms, 8);
    // Average back to exactly the cap: 7.984375 + (8.109375 − 7.984375)/8 = 8.
    window.sample(8.109375);
    assert.equal(window.ms, 8, 'an average equal to the cap still spins, for the cap');
  });

  test('one huge sample counts at most 4 caps, so a few short samples bring the window back', () => {
    // Cap 8 ms. A 10-second idle period: bounded to 32 ms, the average becomes 8 + 24/8 = 11.
    const window = new SpinWindow(8000);
    window.sample(10_000);
    assert.equal(window.ms, 0);
    // Samples of 0: 11 → 9.625 → 8.421875 (still above the cap) → 7.369140625 (back).
    window.sample(0);
    assert.equal(window.ms, 0, 'average 9.625');
    window.sample(0);
    assert.equal(window.ms, 0, 'average 8.421875');
    window.sample(0);
    assert.equal(window.ms, 8, 'average 7.369140625: within the cap again after 3 short samples');
    // Unbounded, the 10 000 ms sample would have left the average at 8 + 9992/8 = 1257 ms, and
    // it would take 38 samples of 0 to come back under the cap.
  });

  test('an infinite sample is bounded the same way', () => {
    const window = new SpinWindow(8000);
    window.sample(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 2; i++) {
      assert.equal(window.ms, 0);
      window.sample(0);
    }
    window.sample(0);
    assert.equal(window.ms, 8, 'the same as after a 32 ms sample');
  });

  test('a realistic cap: 50 µs, requests 10 µs apart', () => {
    const window = new SpinWindow(50);
    // The window stays within (0, cap], and converges to twice the gap.
    let last = window.ms;
    for (let i = 0; i < 200; i++) {
      window.sample(0.01);
      assert.ok(window.ms > 0 && window.ms <= 0.05);
      assert.ok(window.ms <= last + 1e-15, 'it only shrinks while samples are below the average');
      last = window.ms;
    }
    assert.ok(Math.abs(window.ms - 0.02) < 1e-9, `converges to 2 × 10 µs, got ${window.ms} ms`);
  });
});

describe('spinUntil', () => {
  test('returns true as soon as found() is true, without calling it again', () => {
    let calls = 0;
    assert.equal(
      spinUntil(performance.now() + 60_000, () => ++calls === 3),
      true,
    );
    assert.equal(calls, 3);
  });

  test('looks at least once, even with a deadline already past', () => {
    let calls = 0;
    assert.equal(spinUntil(0, () => (calls++, true)), true);
    assert.equal(calls, 1);
    calls = 0;
    assert.equal(spinUntil(0, () => (calls++, false)), false);
    assert.equal(calls, 1, 'then gives up at once');
  });

  test('returns false once the deadline passes with nothing found', () => {
    const started = performance.now();
    let calls = 0;
    assert.equal(
      spinUntil(started + 5, () => (calls++, false)),
      false,
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 5, `spun until the deadline (${elapsed} ms)`);
    assert.ok(elapsed < 2_000, `and not much longer (${elapsed} ms)`);
    assert.ok(calls > 1, 'kept looking meanwhile');
  });

  test('finds what turns up before the deadline', () => {
    const started = performance.now();
    assert.equal(
      spinUntil(started + 60_000, () => performance.now() - started >= 2),
      true,
    );
    assert.ok(performance.now() - started < 2_000);
  });
});

describe('spinCapFor', () => {
  test('the cap only where there are more cores than isolates that may be busy at once', () => {
    assert.equal(spinCapFor(50, 4, 3), 50);
    assert.equal(spinCapFor(50, 16, 2), 50);
    assert.equal(spinCapFor(120, 3, 2), 120);
  });

  test('exactly at equality it is 0, and below it too', () => {
    assert.equal(spinCapFor(50, 2, 2), 0, '2 cores, 1 pinned + 1 pooled: no core left over');
    assert.equal(spinCapFor(50, 3, 3), 0);
    assert.equal(spinCapFor(50, 1, 2), 0);
    assert.equal(spinCapFor(50, 2, 5), 0);
  });

  test('a cap of 0 stays 0', () => {
    assert.equal(spinCapFor(0, 64, 1), 0);
  });
});

describe('Doorbell.block() across threads', () => {
  const bells = createDoorbells(2);
  const control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const rungAt = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT));
  const state = new Int32Array(bells);
  const bell = new Doorbell(bells, 1);
  let ringer: Worker;
  let round = 0;

  before(async () => {
    const data: RingerData = { bells, consumer: 1, control: control.buffer as SharedArrayBuffer, rungAt: rungAt.buffer as SharedArrayBuffer };
    ringer = new Worker(new URL('./bell-ringer-worker.ts', import.meta.url), { workerData: data });
    ringer.on('error', () => {});
    await once(ringer, 'message');
  });
  after(async () => {
    Atomics.store(control, ROUND, -1);
    Atomics.notify(control, ROUND);
    await ringer.terminate();
  });

  /** Asks the worker to ring doorbell 1 after `delayUs`; returns the round number. */
  function ringSoon(delayUs: number): number {
    round++;
    Atomics.store(control, DELAY_US, delayUs);
    Atomics.store(control, ROUND, round);
    Atomics.notify(control, ROUND);
    return round;
  }

  /** Waits (blocking, briefly) until the worker says it rang for `r`; returns when it rang. */
  function rung(r: number): number {
    const deadline = performance.now() + 5_000;
    while (Atomics.load(control, RUNG) !== r) {
      assert.ok(performance.now() < deadline, `the worker rang for round ${r}`);
      Atomics.wait(control, RUNG, Atomics.load(control, RUNG), 10);
    }
    return rungAt[0] as number;
  }

  test('a ring from another thread wakes block() promptly, and block() returns true', (t) => {
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      bell.park();
      const r = ringSoon(2_000); // rings 2 ms from now, while this thread is blocked
      const started = performance.now();
      const woken = bell.block(10_000);
      const wokenAt = epochMs();
      const elapsed = performance.now() - started;
      const ringAt = rung(r);
      assert.equal(woken, true, 'block() says it was rung');
      assert.ok(elapsed < 5_000, `woken by the ring, not the timeout (${elapsed} ms)`);
      assert.equal(Atomics.load(state, DOORBELL_STRIDE), 0, 'AWAKE after block()');
      latencies.push(wokenAt - ringAt);
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[latencies.length >> 1] as number;
    t.diagnostic(`wake-up after the ring: median ${(median * 1000).toFixed(0)} µs, worst ${((latencies.at(-1) as number) * 1000).toFixed(0)} µs`);
    // Microseconds on an idle machine; the bound only says "not a timeout or a lost notify".
    assert.ok(median < 100, `median wake-up after the ring: ${median.toFixed(3)} ms`);
  });

  test('block() returns false when nobody rings within the timeout', () => {
    bell.park();
    const started = performance.now();
    assert.equal(bell.block(30), false);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 25, `it waited out the timeout (${elapsed} ms)`);
    assert.ok(elapsed < 5_000);
    assert.equal(Atomics.load(state, DOORBELL_STRIDE), 0, 'AWAKE after a timed-out block()');
  });

  test('a ring between park() and block() makes block() return true at once', () => {
    bell.park();
    bell.ring();
    const started = performance.now();
    assert.equal(bell.block(10_000), true);
    assert.ok(performance.now() - started < 1_000);
  });

  test('with an older wait() outstanding on the same word, one ring() wakes block() (and the wait)', async () => {
    // As ring-endpoint.ts can leave it: a waitAsync registered at an earlier park, and now the
    // thread blocks on the same word. A ring that notified only one waiter would wake the older
    // wait() (waiters are woken in order) and leave block() to time out.
    bell.park();
    let waitSettled = false;
    const waited = bell.wait().then(() => {
      waitSettled = true;
    });
    const r = ringSoon(5_000);
    const started = performance.now();
    const woken = bell.block(3_000);
    const elapsed = performance.now() - started;
    rung(r);
    assert.equal(woken, true, `block() was woken by the ring (after ${elapsed.toFixed(1)} ms)`);
    assert.ok(elapsed < 2_500, `not by its timeout (${elapsed} ms)`);
    assert.equal(waitSettled, false, 'the wait() settles only once this thread runs its event loop');
    // The same notify woke the wait() too; give the event loop a moment to run its reaction.
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      waited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 2_000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(settled, true, 'the older wait() was woken by the same ring');
    assert.equal(Atomics.load(state, DOORBELL_STRIDE), 0);
  });
});
