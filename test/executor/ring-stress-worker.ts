/**
 * Both ends of the cross-thread ring stress test (ring-stress.test.ts), one per worker.
 *
 * Record `seq` has a size drawn from a seeded PRNG, so both threads know it without talking:
 *     0 u32 seq   4 u32 FNV-1a of bytes 8..   8 pseudo-random bytes
 * The producer spins while the ring is full and rings the consumer's doorbell after each commit;
 * in bursty mode it also sleeps between bursts, so the consumer empties the ring and parks often.
 * The consumer drains with the park / re-check / wait protocol of doorbell.ts and checks every
 * record. Both publish progress in `stats` so the test can tell a lost wake-up from slowness.
 *
 * Does nothing when run on its own (the test runner may load any file in this folder).
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/executor/doorbell.ts';
import { RingConsumer, RingProducer } from '../../src/executor/ring.ts';
import { prng } from './ring-support.ts';

export interface StressData {
  readonly role: 'producer' | 'consumer';
  readonly ring: SharedArrayBuffer;
  readonly bells: SharedArrayBuffer;
  /** Int32 words, see STAT_*. */
  readonly stats: SharedArrayBuffer;
  readonly count: number;
  readonly seed: number;
  readonly bursty: boolean;
}

export const STAT_PUSHED = 0;
export const STAT_RECEIVED = 1;
export const STAT_WORDS = 2;

export interface ProducerReport {
  readonly role: 'producer';
  readonly pushed: number;
  /** reserve() calls that found the ring full. */
  readonly fullRetries: number;
  readonly ms: number;
}

export interface ConsumerReport {
  readonly role: 'consumer';
  readonly received: number;
  /** The first few mismatches, as text; empty when every record was right. */
  readonly errors: readonly string[];
  /** park() calls, and how many of them ended in a real wait(). */
  readonly parks: number;
  readonly waits: number;
  /** From the first record to the last. */
  readonly ms: number;
}

/** Payload sizes: mostly small, some medium, a few up to the ring's largest payload. */
export function sizes(seed: number, maxPayload: number): () => number {
  const next = prng(seed);
  return () => {
    const r = next();
    const pick = r % 100;
    if (pick < 60) return 8 + (next() % 65);
    if (pick < 92) return 73 + (next() % 952);
    return 8 + (next() % (maxPayload - 7));
  };
}

function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c_9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x0100_0193);
  return hash >>> 0;
}

function produce(data: StressData): ProducerReport {
  const ring = new RingProducer(data.ring);
  const bell = new Doorbell(data.bells, 0);
  const stats = new Int32Array(data.stats);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const nextSize = sizes(data.seed, ring.maxPayload);
  const content = prng(data.seed ^ 0x5bd1_e995);
  const bursts = prng(data.seed + 1);
  let fullRetries = 0;
  let burstLeft = 0;
  const started = performance.now();
  for (let seq = 0; seq < data.count; seq++) {
    if (data.bursty && --burstLeft <= 0) {
      // Sleep ~20–200 µs so the consumer runs dry and parks, then send 1–32 records at once.
      Atomics.wait(nap, 0, 0, 0.02 + (bursts() % 180) / 1000);
      burstLeft = 1 + (bursts() % 32);
    }
    const size = nextSize();
    let at = ring.reserve(size);
    while (at < 0) {
      fullRetries++;
      at = ring.reserve(size);
    }
    const bytes = ring.bytes;
    for (let i = at + 8; i < at + size; i++) bytes[i] = content() & 0xff;
    bytes.writeUInt32LE(seq, at);
    bytes.writeUInt32LE(fnv1a(bytes, at + 8, at + size), at + 4);
    ring.commit(size);
    ring.publish();
    bell.ring();
    if ((seq & 255) === 0) Atomics.store(stats, STAT_PUSHED, seq + 1);
  }
  Atomics.store(stats, STAT_PUSHED, data.count);
  return { role: 'producer', pushed: data.count, fullRetries, ms: performance.now() - started };
}

async function consume(data: StressData): Promise<ConsumerReport> {
  const ring = new RingConsumer(data.ring);
  const bell = new Doorbell(data.bells, 0);
  const stats = new Int32Array(data.stats);
  const nextSize = sizes(data.seed, ring.maxPayload);
  const errors: string[] = [];
  let received = 0;
  let parks = 0;
  let waits = 0;
  let first = 0;

  const visit = (bytes: Buffer, offset: number, length: number): void => {
    const seq = received++;
    const expectedLength = nextSize();
    if (errors.length >= 5) return;
    if (length !== expectedLength) errors.push(`record ${seq}: length ${length}, expected ${expectedLength}`);
    else if (bytes.readUInt32LE(offset) !== seq) errors.push(`record ${seq}: carries seq ${bytes.readUInt32LE(offset)}`);
    else if (fnv1a(bytes, offset + 8, offset + length) !== bytes.readUInt32LE(offset + 4)) errors.push(`record ${seq}: checksum mismatch`);
  };

  while (received < data.count) {
    if (ring.take(visit) > 0) {
      if (first === 0) first = performance.now();
      Atomics.store(stats, STAT_RECEIVED, received);
      continue;
    }
    // Nothing to read: park, look once more, and wait only if the ring is still empty.
    bell.park();
    parks++;
    if (ring.hasRecords()) {
      bell.unpark();
      continue;
    }
    await bell.wait();
    waits++;
  }
  return { role: 'consumer', received, errors, parks, waits, ms: performance.now() - first };
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const data = workerData as StressData;
  if (data.role === 'producer') port.postMessage(produce(data));
  else {
    // Atomics.waitAsync does not keep a thread alive; this listener does (as in the real workers).
    port.on('message', () => {});
    void consume(data).then((report) => port.postMessage(report));
  }
}
