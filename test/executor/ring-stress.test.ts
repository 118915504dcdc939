/**
 * The ring and the doorbell across real threads: a producer worker pushes records of random
 * sizes, a consumer worker drains them with the park / re-check / wait protocol and checks
 * sequence numbers, lengths and checksums. The run must finish: a lost wake-up leaves the
 * consumer parked with records in the ring, which the watchdog below reports as such.
 */

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createDoorbells } from '../../src/executor/doorbell.ts';
import { RING_DATA, RING_HEAD, RING_TAIL } from '../../src/executor/layout.ts';
import { createRing } from '../../src/executor/ring.ts';
import { workerReport } from './ring-support.ts';
import {
  STAT_PUSHED,
  STAT_RECEIVED,
  STAT_WORDS,
  type ConsumerReport,
  type ProducerReport,
  type StressData,
} from './ring-stress-worker.ts';

/** Fails the run if the consumer makes no progress for this long (a lost wake-up, or a hang). */
const STALL_MS = 10_000;

interface StressOptions {
  readonly count: number;
  readonly capacity: number;
  readonly seed: number;
  readonly bursty: boolean;
}

async function runStress(options: StressOptions): Promise<{ producer: ProducerReport; consumer: ConsumerReport; ring: SharedArrayBuffer }> {
  const ring = createRing(options.capacity);
  const bells = createDoorbells(1);
  const stats = new SharedArrayBuffer(STAT_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const spawn = (role: StressData['role']): Worker => {
    const data: StressData = { role, ring, bells, stats, count: options.count, seed: options.seed, bursty: options.bursty };
    return new Worker(new URL('./ring-stress-worker.ts', import.meta.url), { workerData: data });
  };
  const consumerWorker = spawn('consumer');
  const producerWorker = spawn('producer');
  const reports = Promise.all([workerReport<ProducerReport>(producerWorker, 'producer'), workerReport<ConsumerReport>(consumerWorker, 'consumer')]);

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
          `no progress for ${STALL_MS} ms: received ${received}, pushed ${Atomics.load(progress, STAT_PUSHED)} of ${options.count}; ` +
            `${unread} bytes unread in the ring; doorbell ${bell === 1 ? 'PARKED' : 'AWAKE'}` +
            (unread > 0 ? ' — a lost wake-up' : ''),
        ),
      );
    }, 250);
  });
  stalled.catch(() => {}); // settled or not, the race below is what reports it

  try {
    const [producer, consumer] = await Promise.race([reports, stalled]);
    return { producer, consumer, ring };
  } finally {
    clearInterval(watchdog);
    await Promise.all([producerWorker.terminate(), consumerWorker.terminate()]);
  }
}

function check(t: TestContext, options: StressOptions, result: Awaited<ReturnType<typeof runStress>>): void {
  const { producer, consumer, ring } = result;
  assert.deepEqual(consumer.errors, []);
  assert.equal(producer.pushed, options.count);
  assert.equal(consumer.received, options.count);
  const control = new Int32Array(ring, 0, RING_DATA >> 2);
  assert.equal(Atomics.load(control, RING_TAIL >> 2), Atomics.load(control, RING_HEAD >> 2), 'the ring ends empty');
  const rate = options.count / (consumer.ms / 1000);
  t.diagnostic(
    `seed ${options.seed}, ${options.capacity}-byte ring: ${options.count} records in ${consumer.ms.toFixed(0)} ms ` +
      `(${(rate / 1e6).toFixed(2)} M records/s); consumer parked ${consumer.parks}×, waited ${consumer.waits}×; ` +
      `producer found the ring full ${producer.fullRetries}×`,
  );
}

test('200k records of random sizes cross threads in order and intact', { timeout: 60_000 }, async (t) => {
  const options = { count: 200_000, capacity: 16_384, seed: 0x00c0_ffee, bursty: false };
  check(t, options, await runStress(options));
});

test('bursts with pauses: the consumer parks and is woken thousands of times without losing a wake-up', { timeout: 60_000 }, async (t) => {
  const options = { count: 40_000, capacity: 4_096, seed: 0x0bad_5eed, bursty: true };
  const result = await runStress(options);
  check(t, options, result);
  assert.ok(result.consumer.waits > 100, `the consumer really waited (${result.consumer.waits}×)`);
});
