/**
 * Rings a doorbell on request, for the Doorbell.block() tests in spin.test.ts (whose thread is
 * blocked in Atomics.wait meanwhile, so it cannot post messages to this one).
 *
 * `control` words: [0] round, set by the test (and notified) to ask for one ring; [1] delay in
 * µs before ringing; [2] the last round rung. `rungAt` (Float64): when each ring was made, as
 * performance.timeOrigin + performance.now() (ms since the epoch, comparable across threads).
 *
 * Posts 'ready' once it waits for rounds. Does nothing when run on its own.
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/executor/doorbell.ts';

export interface RingerData {
  readonly bells: SharedArrayBuffer;
  readonly consumer: number;
  /** 3 Int32 words, see above. */
  readonly control: SharedArrayBuffer;
  /** 1 Float64: when the last ring was made. */
  readonly rungAt: SharedArrayBuffer;
}

export const ROUND = 0;
export const DELAY_US = 1;
export const RUNG = 2;

/** Milliseconds since the epoch, sub-millisecond, the same clock on every thread. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

if (!isMainThread && parentPort !== null) {
  const data = workerData as RingerData;
  const control = new Int32Array(data.control);
  const rungAt = new Float64Array(data.rungAt);
  const bell = new Doorbell(data.bells, data.consumer);
  parentPort.postMessage('ready');
  let round = 0;
  for (;;) {
    Atomics.wait(control, ROUND, round);
    round = Atomics.load(control, ROUND);
    if (round < 0) break; // asked to stop
    const until = performance.now() + Atomics.load(control, DELAY_US) / 1000;
    while (performance.now() < until);
    rungAt[0] = epochMs();
    bell.ring();
    Atomics.store(control, RUNG, round);
  }
}
