/**
 * Both ends of the batch-publishing stress test (ring-batch-stress.test.ts), one per worker.
 *
 * Record `seq` has a size drawn from a seeded PRNG, so both threads know it without talking:
 *     0 u32 seq   4 u32 checksum (FNV-1a of seq and bytes 8..)   8 pseudo-random bytes
 *
 * Producer: commits records and publishes them in batches of 1..64 (drawn from its own PRNG),
 * ringing the consumer's doorbell after each publish. A record's checksum is written only just
 * before the publish that makes it visible: until then its checksum word holds UNSEALED, so a
 * consumer that read a committed-but-unpublished record would see a wrong checksum (or UNSEALED
 * itself). When the ring is full mid-batch it publishes what it has (the consumer could never
 * free room otherwise) and spins on reserve() returning -1. Now and then it naps so that the
 * consumer runs dry and parks.
 *
 * Consumer: take(visit, max) with a random max, the park / re-check / wait protocol of
 * ring-endpoint.ts when nothing is there, and stretches where it busy-waits 50–200 µs per
 * record, so the ring fills and the producer spins on a full ring. It checks every record and
 * publishes its progress in `stats`, so the test can tell a lost wake-up from slowness.
 *
 * Does nothing when run on its own (the test runner may load any file in this folder).
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from '../../src/executor/doorbell.ts';
import { RingConsumer, RingProducer } from '../../src/executor/ring.ts';
import { prng } from './ring-support.ts';

export interface BatchStressData {
  readonly role: 'producer' | 'consumer';
  readonly ring: SharedArrayBuffer;
  readonly bells: SharedArrayBuffer;
  /** Int32 words, see STAT_*. */
  readonly stats: SharedArrayBuffer;
  readonly count: number;
  readonly seed: number;
  /** Records [from, to) of each slow stretch: the consumer busy-waits on each of them. */
  readonly slow: ReadonlyArray<readonly [number, number]>;
}

export const STAT_PUBLISHED = 0;
export const STAT_RECEIVED = 1;
export const STAT_WORDS = 2;

/** The checksum word of a record that is committed but not yet published. */
const UNSEALED = 0xdead_beef;
export const MAX_BATCH = 64;

export interface BatchProducerReport {
  readonly role: 'producer';
  readonly published: number;
  /** publish() calls that returned true. */
  readonly publishes: number;
  /** Batches cut short because the ring was full. */
  readonly cutShort: number;
  /** reserve() calls that found the ring full. */
  readonly fullRetries: number;
  /** Whether publish() ever returned true with nothing new, or false with something new. */
  readonly publishLied: number;
  readonly ms: number;
}

export interface BatchConsumerReport {
  readonly role: 'consumer';
  readonly received: number;
  /** The first few mismatches, as text; empty when every record was right. */
  readonly errors: readonly string[];
  /** take() calls that returned more than their max. */
  readonly overMax: number;
  readonly takes: number;
  /** park() calls, and how many of them ended in a real wait(). */
  readonly parks: number;
  readonly waits: number;
  /** Records handled slowly (busy-waited on). */
  readonly slowRecords: number;
  readonly ms: number;
}

/** Payload sizes: mostly small, some medium, a few up to the ring's largest payload (all ≥ 8). */
export function sizes(seed: number, maxPayload: number): () => number {
  const next = prng(seed);
  return () => {
    const r = next() % 1000;
    if (r < 600) return 8 + (next() % 57);
    if (r < 985) return 65 + (next() % 400);
    if (r < 995) return 8 + (next() % (maxPayload - 7));
    return maxPayload;
  };
}

function checksum(seq: number, bytes: Uint8Array, start: number, end: number): number {
  let hash = Math.imul(0x811c_9dc5 ^ seq, 0x0100_0193);
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x0100_0193);
  // Never UNSEALED, so an unsealed record can never pass.
  hash >>>= 0;
  return hash === UNSEALED ? 0 : hash;
}

function produce(data: BatchStressData): BatchProducerReport {
  const ring = new RingProducer(data.ring);
  const bell = new Doorbell(data.bells, 0);
  const stats = new Int32Array(data.stats);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const nextSize = sizes(data.seed, ring.maxPayload);
  const content = prng(data.seed ^ 0x5bd1_e995);
  const draw = prng(data.seed + 1);
  const bytes = ring.bytes;
  // Records committed since the last publish: payload offset, size, seq.
  const pendingAt = new Int32Array(MAX_BATCH);
  const pendingSize = new Int32Array(MAX_BATCH);
  const pendingSeq = new Int32Array(MAX_BATCH);
  let pending = 0;
  let publishes = 0;
  let cutShort = 0;
  let fullRetries = 0;
  let publishLied = 0;
  let published = 0;

  const publish = (): void => {
    // Seal the batch: until this, a committed record's checksum word says UNSEALED.
    for (let k = 0; k < pending; k++) {
      const at = pendingAt[k] as number;
      bytes.writeUInt32LE(checksum(pendingSeq[k] as number, bytes, at + 8, at + (pendingSize[k] as number)), at + 4);
    }
    const had = pending > 0;
    if (ring.publish() !== had) publishLied++;
    if (ring.publish()) publishLied++; // nothing new the second time
    if (had) publishes++;
    published += pending;
    pending = 0;
    bell.ring();
    Atomics.store(stats, STAT_PUBLISHED, published);
  };

  const started = performance.now();
  let seq = 0;
  while (seq < data.count) {
    const r = draw() % 100;
    // Batch sizes 1..64, weighted towards small ones and the maximum.
    const batch = r < 40 ? 1 + (draw() % 4) : r < 85 ? 1 + (draw() % MAX_BATCH) : MAX_BATCH;
    for (let b = 0; b < batch && seq < data.count; b++) {
      const size = nextSize();
      let at = ring.reserve(size);
      if (at < 0) {
        // Full: what is committed must be published, or the consumer could never make room.
        if (pending > 0) {
          cutShort++;
          publish();
        }
        while (at < 0) {
          fullRetries++;
          at = ring.reserve(size);
        }
      }
      for (let i = at + 8; i < at + size; i++) bytes[i] = content() & 0xff;
      bytes.writeUInt32LE(seq, at);
      bytes.writeUInt32LE(UNSEALED, at + 4);
      ring.commit(size);
      pendingAt[pending] = at;
      pendingSize[pending] = size;
      pendingSeq[pending] = seq;
      pending++;
      seq++;
    }
    publish();
    // Now and then a pause of 20–200 µs: the consumer empties the ring and parks.
    if (draw() % 64 === 0) Atomics.wait(nap, 0, 0, 0.02 + (draw() % 180) / 1000);
  }
  if (pending > 0) publish();
  return { role: 'producer', published, publishes, cutShort, fullRetries, publishLied, ms: performance.now() - started };
}

function busyWait(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

async function consume(data: BatchStressData): Promise<BatchConsumerReport> {
  const ring = new RingConsumer(data.ring);
  const bell = new Doorbell(data.bells, 0);
  const stats = new Int32Array(data.stats);
  const nextSize = sizes(data.seed, ring.maxPayload);
  const draw = prng(data.seed ^ 0x0f0f_0f0f);
  const slow = data.slow;
  const errors: string[] = [];
  let received = 0;
  let overMax = 0;
  let takes = 0;
  let parks = 0;
  let waits = 0;
  let slowRecords = 0;
  let first = 0;

  const isSlow = (seq: number): boolean => {
    for (const [from, to] of slow) if (seq >= from && seq < to) return true;
    return false;
  };

  const visit = (bytes: Buffer, offset: number, length: number): void => {
    const seq = received++;
    const expectedLength = nextSize();
    if (isSlow(seq)) {
      slowRecords++;
      busyWait(50 + (draw() % 151));
    }
    if (errors.length >= 5) return;
    if (offset % 8 !== 4) errors.push(`record ${seq}: payload at ${offset}, not 8-byte aligned after its header`);
    else if (length !== expectedLength) errors.push(`record ${seq}: length ${length}, expected ${expectedLength}`);
    else if (bytes.readUInt32LE(offset) !== seq) errors.push(`record ${seq}: carries seq ${bytes.readUInt32LE(offset)} (lost, duplicated or reordered)`);
    else {
      const sum = bytes.readUInt32LE(offset + 4);
      if (sum === UNSEALED) errors.push(`record ${seq}: still unsealed — visited before it was published`);
      else if (sum !== checksum(seq, bytes, offset + 8, offset + length)) errors.push(`record ${seq}: checksum mismatch`);
    }
  };

  // Stop at the first few errors: past a framing error what follows is garbage.
  while (received < data.count && errors.length < 5) {
    const r = draw() % 8;
    const max = r === 0 ? Number.POSITIVE_INFINITY : r < 4 ? 1 + (draw() % 4) : 1 + (draw() % 200);
    const got = ring.take(visit, max);
    takes++;
    if (got > max) overMax++;
    if (got > 0) {
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
  Atomics.store(stats, STAT_RECEIVED, received);
  return { role: 'consumer', received, errors, overMax, takes, parks, waits, slowRecords, ms: performance.now() - first };
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const data = workerData as BatchStressData;
  if (data.role === 'producer') port.postMessage(produce(data));
  else {
    // Atomics.waitAsync does not keep a thread alive; this listener does (as in the real workers).
    port.on('message', () => {});
    void consume(data).then((report) => port.postMessage(report));
  }
}
