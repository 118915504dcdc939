/**
 * Batch publishing across real threads: a producer worker commits records of random sizes and
 * publishes them in random batches of 1..64, ringing the doorbell after each publish; a consumer
 * worker takes them with a random max and the park / re-check / wait protocol, and in long
 * stretches handles each record slowly (50–200 µs), so that the ring stays full and the producer
 * spins on reserve() returning -1. Every record carries its sequence number and a checksum that
 * is only written just before the publish that makes the record visible (ring-batch-worker.ts),
 * so a consumer that saw a committed-but-unpublished record would fail the checksum.
 *
 * The run must finish: a lost wake-up leaves the consumer parked with records in the ring, which
 * the watchdog below reports as such.
 */

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createDoorbells } from '../../src/executor/doorbell.ts';
import { RING_DATA, RING_HEAD, RING_TAIL } from '../../src/executor/layout.ts';
import { createRing } from '../../src/executor/ring.ts';
import { workerReport } from './ring-support.ts';
import {
  STAT_PUBLISHED,
  STAT_RECEIVED,
  STAT_WORDS,
  type BatchConsumerReport,
  type BatchProducerReport,
  type BatchStressData,
} from './ring-batch-worker.ts';

/** Fails the run if the consumer makes no progress for this long (a lost wake-up, or a hang). */
const STALL_MS = 8_000;

interface StressOptions {
  readonly count: number;
  readonly capacity: number;
  readonly seed: number;
  readonly slow: ReadonlyArray<readonly [number, number]>;
}

interface StressResult {
  readonly producer: BatchProducerReport;
  readonly consumer: BatchConsumerReport;
  readonly ring: SharedArrayBuffer;
  readonly ms: number;
}

async function runStress(options: StressOptions): Promise<StressResult> {
  const ring = createRing(options.capacity);
  const bells = createDoorbells(1);
  const stats = new SharedArrayBuffer(STAT_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const spawn = (role: BatchStressData['role']): Worker => {
    const data: BatchStressData = { role, ring, bells, stats, count: options.count, seed: options.seed, slow: options.slow };
    return new Worker(new URL('./ring-batch-worker.ts', import.meta.url), { workerData: data });
  };
  const started = performance.now();
  const consumerWorker = spawn('consumer');
  const producerWorker = spawn('producer');
  const producerReport = workerReport<BatchProducerReport>(producerWorker, 'producer');
  producerReport.catch(() => {}); // awaited below, unless the consumer fails first
  const consumerReport = workerReport<BatchConsumerReport>(consumerWorker, 'consumer');

  const progress = new Int32Array(stats);
  const control = new Int32Array(ring, 0, RING_DATA >> 2);
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    let last = -1;
    let since = performance.now();
    watchdog = setInterval(() => {
      const received = Atomics.load(progress, STAT_RECEIVED);
      if (received !== last) {
        last = received;
        since = performance.now();
        return;
      }
      if (performance.now() - since < STALL_MS) return;
      const unread = ((control[RING_TAIL >> 2] as number) - (control[RING_HEAD >> 2] as number)) >>> 0;
      const bell = Atomics.load(new Int32Array(bells), 0);
      reject(
        new Error(
          `no progress for ${STALL_MS} ms: received ${received}, published ${Atomics.load(progress, STAT_PUBLISHED)} of ${options.count}; ` +
            `${unread} published bytes unread in the ring; doorbell ${bell === 1 ? 'PARKED' : 'AWAKE'}` +
            (unread > 0 && bell === 1 ? ' — a lost wake-up' : ''),
        ),
      );
    }, 200);
  });
  stalled.catch(() => {}); // settled or not, the race below is what reports it

  try {
    // A consumer that found bad records stops early (and the producer then spins on a full
    // ring for ever): its errors are the answer.
    const consumer = await Promise.race([consumerReport, stalled]);
    assert.deepEqual(consumer.errors, [], 'every record in order, once, with its bytes, and only once published');
    const producer = await Promise.race([producerReport, stalled]);
    return { producer, consumer, ring, ms: performance.now() - started };
  } finally {
    clearInterval(watchdog);
    await Promise.all([producerWorker.terminate(), consumerWorker.terminate()]);
  }
}

function check(t: TestContext, options: StressOptions, result: StressResult): void {
  const { producer, consumer, ring } = result;
  assert.deepEqual(consumer.errors, [], 'every record in order, once, with its bytes, and only once published');
  assert.equal(producer.published, options.count);
  assert.equal(consumer.received, options.count, 'no record lost or duplicated');
  assert.equal(consumer.overMax, 0, 'take() never visits more than its max');
  assert.equal(producer.publishLied, 0, 'publish() returns whether anything new was committed');
  const control = new Int32Array(ring, 0, RING_DATA >> 2);
  assert.equal(Atomics.load(control, RING_TAIL >> 2), Atomics.load(control, RING_HEAD >> 2), 'the ring ends empty');
  const slowTotal = options.slow.reduce((n, [from, to]) => n + (to - from), 0);
  assert.equal(consumer.slowRecords, slowTotal);
  t.diagnostic(
    `seed ${options.seed}, ${options.capacity}-byte ring: ${options.count} records in ${result.ms.toFixed(0)} ms, ` +
      `${producer.publishes} publishes (${(options.count / producer.publishes).toFixed(1)} records each), ${producer.cutShort} cut short by a full ring; ` +
      `producer found the ring full ${producer.fullRetries}×; consumer took ${consumer.takes}×, parked ${consumer.parks}×, waited ${consumer.waits}×`,
  );
}

test('100k records in random batches cross threads in order and intact, with a slow consumer at times', { timeout: 60_000 }, async (t) => {
  const options: StressOptions = {
    count: 100_000,
    capacity: 32_768,
    seed: 0x00ba_7c4e,
    // Two stretches of slow handling: one early, one late (about 0.7 s in all).
    slow: [
      [10_000, 13_000],
      [70_000, 73_000],
    ],
  };
  const result = await runStress(options);
  check(t, options, result);
  // The slow stretches keep the ring full: the producer spins on reserve() and publishes
  // batches early. Between them the producer's naps let the consumer run dry and park.
  assert.ok(result.producer.fullRetries > 1_000, `the producer found the ring full (${result.producer.fullRetries}×)`);
  assert.ok(result.producer.cutShort > 100, `batches were cut short by a full ring (${result.producer.cutShort}×)`);
  assert.ok(result.consumer.waits > 10, `the consumer really waited (${result.consumer.waits}×)`);
});

test('a small ring (largest payloads half of it): 30k records, a slow consumer throughout the middle', { timeout: 60_000 }, async (t) => {
  const options: StressOptions = {
    count: 30_000,
    capacity: 1_024,
    seed: 0x5eed_0002,
    slow: [[5_000, 7_000]],
  };
  const result = await runStress(options);
  check(t, options, result);
  assert.ok(result.producer.fullRetries > 0);
});
