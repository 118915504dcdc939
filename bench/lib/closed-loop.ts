/**
 * A closed loop of async calls: `concurrency` in flight until `total` have settled, each call's
 * latency in µs. The pooled-task benchmark runs the same loop around `app.run` (inside a pinned
 * worker) and around piscina's `run` (on the main thread), so both are measured alike.
 */

import { performance } from 'node:perf_hooks';
import { quantile } from './stats.ts';

export interface LoopResult {
  /** Calls settled per second. */
  readonly perSecond: number;
  /** Latency quantiles, µs. */
  readonly p50: number;
  readonly p99: number;
  /** Calls that rejected (a full pool, say): a result with any is not comparable. */
  readonly failed: number;
}

export async function closedLoop(call: (index: number) => Promise<unknown>, total: number, concurrency: number): Promise<LoopResult> {
  const samples = new Float64Array(total);
  let issued = 0;
  let failed = 0;
  const began = performance.now();
  const lane = async (): Promise<void> => {
    while (issued < total) {
      const index = issued++;
      const start = performance.now();
      try {
        await call(index);
      } catch {
        failed++;
      }
      samples[index] = (performance.now() - start) * 1000;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  const elapsed = performance.now() - began;
  samples.sort();
  return { perSecond: (total / elapsed) * 1000, p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), failed };
}

/** Burns CPU for `us` microseconds: the task both pools run. */
export function spinMicros(us: number): number {
  const end = performance.now() + us / 1000;
  let turns = 0;
  while (performance.now() < end) turns++;
  return turns;
}
