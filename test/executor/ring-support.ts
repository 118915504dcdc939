/**
 * What the ring tests and their stress workers share: rings that start anywhere, payloads that
 * identify their record, and a seeded generator both threads of a stress run can follow.
 */

import type { Worker } from 'node:worker_threads';
import { RING_DATA, RING_HEAD, RING_TAIL } from '../../src/executor/layout.ts';
import { createRing, RingConsumer, RingProducer } from '../../src/executor/ring.ts';

export interface Ring {
  readonly buffer: SharedArrayBuffer;
  /** The control words (head, tail), for tests that look at them directly. */
  readonly control: Int32Array;
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
}

/**
 * A fresh ring whose byte counters start at `start` (mod 2^32, a multiple of 8) instead of 0, as
 * if that many bytes had already gone through it. Lets a test put the tail anywhere and cross
 * the 2^32 wrap of the counters without pushing 4 GiB.
 */
export function makeRing(capacity: number, start = 0): Ring {
  const buffer = createRing(capacity);
  const control = new Int32Array(buffer, 0, RING_DATA >> 2);
  control[RING_HEAD >> 2] = start | 0;
  control[RING_TAIL >> 2] = start | 0;
  return { buffer, control, producer: new RingProducer(buffer), consumer: new RingConsumer(buffer) };
}

/** Bytes that identify record `serial`: a lost, duplicated or reordered record cannot match. */
export function pattern(serial: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (serial * 0x9e37_79b1 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  if (size >= 4) out.writeUInt32LE(serial, 0);
  return out;
}

export const align8 = (n: number): number => (n + 7) & ~7;

/** xorshift32: small, fast, and the same sequence in both threads for the same seed. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x2545_f491;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** The one message a stress worker sends: its report, or why it ended without one. */
export function workerReport<T>(worker: Worker, name: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the ${name} exited (${code}) before reporting`)));
  });
}
