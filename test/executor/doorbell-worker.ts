/**
 * The far side of the doorbell ping-pong in doorbell.test.ts. Waits on doorbell 1 until the ball
 * holds 2r + 1, answers 2r + 2 and rings doorbell 0, for each round r. Posts how many times it
 * really waited. Does nothing when run on its own (the test runner may load any file here).
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/executor/doorbell.ts';

export interface PongData {
  readonly bells: SharedArrayBuffer;
  readonly ball: SharedArrayBuffer;
  readonly rounds: number;
}

/**
 * Resolves once `ball[0] === value`, with the consumer protocol of doorbell.ts:
 * check, park(), check again, and only then wait(). Returns how many wait() calls it made.
 */
export async function awaitBall(bell: Doorbell, ball: Int32Array, value: number): Promise<number> {
  let waits = 0;
  for (;;) {
    if (Atomics.load(ball, 0) === value) return waits;
    bell.park();
    if (Atomics.load(ball, 0) === value) {
      bell.unpark();
      return waits;
    }
    await bell.wait();
    waits++;
  }
}

async function pong(data: PongData, port: NonNullable<typeof parentPort>): Promise<void> {
  const ball = new Int32Array(data.ball);
  const mine = new Doorbell(data.bells, 1);
  const theirs = new Doorbell(data.bells, 0);
  let waits = 0;
  for (let round = 0; round < data.rounds; round++) {
    waits += await awaitBall(mine, ball, 2 * round + 1);
    Atomics.store(ball, 0, 2 * round + 2);
    theirs.ring();
  }
  port.postMessage({ waits });
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  // Atomics.waitAsync does not keep a thread alive; this listener does (as in the real workers).
  port.on('message', () => {});
  // A rejection is unhandled, which ends the worker with an 'error' event the test sees.
  void pong(workerData as PongData, port);
}
