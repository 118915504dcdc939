/**
 * Benchmark of the executor's SPSC ring (src/executor/ring.ts) and doorbell (doorbell.ts).
 *
 *     ./node_modules/.bin/node bench/ring.ts
 *
 * (a) One thread: push a 64-byte record and drain it, one at a time and in batches of 64.
 *     One warm-up run, then 5 runs of 2M messages; ns per message, median and min.
 * (b) Two threads: a producer worker pushes for ~1 s, a consumer worker drains with the
 *     park / re-check / wait protocol; the producer rings the doorbell after every commit and
 *     spins while the ring is full. One warm-up run, then 3 runs per record size; messages/s
 *     counted by the consumer from the first record to the last, median and min. The consumer
 *     checks every sequence number, so a number here is for records that arrived intact.
 *
 * This file is also the worker script: a worker runs `producer()` or `consumer()`.
 */

import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createDoorbells, Doorbell } from '../src/executor/doorbell.ts';
import { createRing, RingConsumer, RingProducer } from '../src/executor/ring.ts';

/** Data bytes of every ring here: 64 KiB, so a 1 KiB record run keeps ~60 records in flight. */
const CAPACITY = 64 * 1024;
const SINGLE_MESSAGES = 2_000_000;
const SINGLE_RUNS = 5;
const BATCH = 64;
const CROSS_MS = 1_000;
const CROSS_RUNS = 3;

// ─── (a) one thread ─────────────────────────────────────────────────────────────────────────

/** ns per message for `messages` pushes of 64 bytes, drained every `batch` pushes. */
function singleThread(messages: number, batch: number): number {
  const buffer = createRing(CAPACITY);
  const producer = new RingProducer(buffer);
  const consumer = new RingConsumer(buffer);
  const payload = new Uint8Array(64);
  let seen = 0;
  let checksum = 0;
  const visit = (bytes: Buffer, offset: number): void => {
    seen++;
    checksum += bytes[offset] as number;
  };
  const started = process.hrtime.bigint();
  for (let i = 0; i < messages; i += batch) {
    for (let j = 0; j < batch; j++) {
      payload[0] = j;
      if (!producer.push(payload)) throw new Error('ring full: the batch is larger than the ring');
    }
    consumer.take(visit);
  }
  const ns = Number(process.hrtime.bigint() - started);
  if (seen !== messages || checksum < 0) throw new Error(`drained ${seen} of ${messages}`);
  return ns / messages;
}

// ─── (b) two threads ────────────────────────────────────────────────────────────────────────

interface CrossData {
  readonly role: 'producer' | 'consumer';
  readonly ring: SharedArrayBuffer;
  readonly bells: SharedArrayBuffer;
  /** Int32 word 0: set to 1 when both workers are up; the producer waits for it. */
  readonly go: SharedArrayBuffer;
  readonly size: number;
  readonly ms: number;
}

interface ConsumerResult {
  readonly count: number;
  readonly ms: number;
  readonly waits: number;
  readonly errors: number;
}

/** Pushes `size`-byte records carrying a sequence number for `ms`, then an empty end record. */
function producer(data: CrossData): number {
  const ring = new RingProducer(data.ring);
  const bell = new Doorbell(data.bells, 0);
  const payload = new Uint8Array(data.size).fill(0xab);
  Atomics.wait(new Int32Array(data.go), 0, 0);
  const deadline = performance.now() + data.ms;
  let seq = 0;
  for (;;) {
    if ((seq & 4095) === 0 && performance.now() >= deadline) break;
    let at = ring.reserve(data.size);
    while (at < 0) at = ring.reserve(data.size);
    ring.bytes.set(payload, at);
    ring.bytes.writeUInt32LE(seq, at);
    ring.commit(data.size);
    ring.publish();
    bell.ring();
    seq++;
  }
  while (ring.reserve(0) < 0);
  ring.commit(0);
  ring.publish();
  bell.ring();
  return seq;
}

async function consumer(data: CrossData): Promise<ConsumerResult> {
  const ring = new RingConsumer(data.ring);
  const bell = new Doorbell(data.bells, 0);
  let count = 0;
  let errors = 0;
  let waits = 0;
  let first = 0;
  let last = 0;
  let done = false;
  const visit = (bytes: Buffer, offset: number, length: number): void => {
    if (length === 0) {
      done = true;
      last = performance.now();
      return;
    }
    if (count === 0) first = performance.now();
    if (bytes.readUInt32LE(offset) !== count) errors++;
    count++;
  };
  while (!done) {
    if (ring.take(visit) > 0) continue;
    bell.park();
    if (ring.hasRecords()) {
      bell.unpark();
      continue;
    }
    await bell.wait();
    waits++;
  }
  return { count, ms: last - first, waits, errors };
}

function start(data: CrossData): { worker: Worker; ready: Promise<void>; result: Promise<unknown> } {
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  let ready!: () => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const result = new Promise<unknown>((resolve, reject) => {
    worker.on('message', (message: { ready?: true; result?: unknown }) => (message.ready === true ? ready() : resolve(message.result)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${data.role} exited (${code})`)));
  });
  result.catch(() => {});
  return { worker, ready: readyPromise, result };
}

async function crossThread(size: number, ms: number): Promise<ConsumerResult & { pushed: number }> {
  const common = { ring: createRing(CAPACITY), bells: createDoorbells(1), go: new SharedArrayBuffer(4), size, ms };
  const consumerWorker = start({ ...common, role: 'consumer' });
  const producerWorker = start({ ...common, role: 'producer' });
  try {
    await Promise.all([consumerWorker.ready, producerWorker.ready]);
    const go = new Int32Array(common.go);
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    const [pushed, received] = (await Promise.all([producerWorker.result, consumerWorker.result])) as [number, ConsumerResult];
    if (received.count !== pushed || received.errors > 0) {
      throw new Error(`${size}-byte run: pushed ${pushed}, received ${received.count}, ${received.errors} out of sequence`);
    }
    return { ...received, pushed };
  } finally {
    await Promise.all([consumerWorker.worker.terminate(), producerWorker.worker.terminate()]);
  }
}

// ─── report ─────────────────────────────────────────────────────────────────────────────────

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log('# Ring benchmark\n');
  console.log(`Node ${process.version} · ${cpus[0]?.model.trim() ?? 'unknown CPU'} · ${cpus.length} cores · ${os.platform()} ${os.arch()}`);
  console.log(`Ring of ${CAPACITY / 1024} KiB · script: bench/ring.ts\n`);
  console.log('| case | record | median | best | samples |');
  console.log('|---|---|---|---|---|');

  for (const [label, batch] of [
    ['one thread: push, drain', 1],
    [`one thread: push ×${BATCH}, batch drain`, BATCH],
  ] as const) {
    singleThread(SINGLE_MESSAGES, batch); // warm-up
    const runs = Array.from({ length: SINGLE_RUNS }, () => singleThread(SINGLE_MESSAGES, batch));
    console.log(`| ${label} | 64 B | ${median(runs).toFixed(1)} ns/msg | ${Math.min(...runs).toFixed(1)} ns/msg | ${SINGLE_RUNS} × ${SINGLE_MESSAGES / 1e6}M msgs |`);
  }

  await crossThread(64, CROSS_MS / 4); // warm-up: worker start, JIT
  for (const size of [64, 1024]) {
    const runs: Array<ConsumerResult & { pushed: number }> = [];
    for (let i = 0; i < CROSS_RUNS; i++) runs.push(await crossThread(size, CROSS_MS));
    const rates = runs.map((r) => r.count / (r.ms / 1000));
    const waits = median(runs.map((r) => r.waits / (r.ms / 1000)));
    console.log(
      `| two threads: producer → consumer, doorbell | ${size === 1024 ? '1 KiB' : `${size} B`} | ${(median(rates) / 1e6).toFixed(2)} M msg/s ` +
        `(${((median(rates) * size) / 2 ** 30).toFixed(2)} GiB/s) | ${(Math.max(...rates) / 1e6).toFixed(2)} M msg/s | ` +
        `${CROSS_RUNS} × ${CROSS_MS / 1000} s; consumer waits ${Math.round(waits).toLocaleString('en')}/s |`,
    );
  }
}

if (isMainThread) {
  await main();
} else if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as CrossData;
  // Atomics.waitAsync does not keep a thread alive; this listener does (as in the real workers).
  port.on('message', () => {});
  port.postMessage({ ready: true });
  if (data.role === 'producer') port.postMessage({ result: producer(data) });
  else port.postMessage({ result: await consumer(data) });
}
