/**
 * How long one end of the rings keeps looking for records before it parks on its doorbell.
 *
 * A park costs the other side a wake-up: its `ring()` finds PARKED and calls `Atomics.notify`,
 * and the parked thread resumes only after its event loop has been woken and has run the
 * promise of `Atomics.waitAsync` (tens of µs on a small VM, each way). Looking a little longer
 * before parking saves that when the next record is near, and wastes a core when it is not. So
 * the window follows what was recently seen:
 *
 *     sample ─► average (exponentially weighted, 1/8 per sample)
 *     window = average × 2, when that is within the cap; 0 when the average is above the cap
 *              (records that far apart are not worth a core: park at once)
 *
 * What a sample is depends on the end. A pinned worker measures how long an answer took from its
 * last submit (the handler's time plus the hop): while it waits, it looks once per event-loop turn,
 * so its connections are served meanwhile. A pooled isolate measures the gap between requests;
 * with no task running it has nothing else to do, so it spins on the ring without yielding.
 *
 * A pooled isolate's cap is the `poolPoll` option. Spinning pays only where the spinning thread
 * has a core of its own: otherwise it takes the core from an isolate doing work, or from the
 * process's other threads (its main thread, the garbage collector's, the kernel's network work
 * done on its behalf). So the supervisor sets the cap to 0 unless there are more cores than
 * isolates that may be busy at once (see spinCapFor). On a 2-core machine with one pinned worker
 * and one pooled isolate, spinning with a cap of 50 or 100 µs served fewer requests at 32 in
 * flight than parking at once (bench/offload.ts), and did not lower latency at 1 in flight.
 */

import { performance } from 'node:perf_hooks';

/** Weight of a new sample in the average: 1/8, as TCP's smoothed round-trip time. */
const WEIGHT = 1 / 8;

export class SpinWindow {
  readonly #capMs: number;
  /** The average sample, in ms; starts at the cap so that the first records spin. */
  #average: number;

  /** `capUs`: the longest window, in µs; 0 never spins. */
  constructor(capUs: number) {
    this.#capMs = capUs / 1000;
    this.#average = this.#capMs;
  }

  /** Adds one sample, in ms. */
  sample(ms: number): void {
    // One long idle period must not wipe out the history: a sample counts at most 4 caps.
    const bounded = Math.min(ms, this.#capMs * 4);
    this.#average += (bounded - this.#average) * WEIGHT;
  }

  /** How long to keep looking now, in ms: 0 means park at once. */
  get ms(): number {
    const average = this.#average;
    if (this.#capMs === 0 || average > this.#capMs) return 0;
    return Math.min(this.#capMs, average * 2);
  }
}

/**
 * Spins until `found()` says there is something, or `deadline` (performance.now() ms) passes.
 * Returns whether something was found. For a thread with nothing else to run.
 */
export function spinUntil(deadline: number, found: () => boolean): boolean {
  for (;;) {
    if (found()) return true;
    if (performance.now() >= deadline) return false;
  }
}

/**
 * The spin cap a pooled isolate gets: `poolPollUs` where a core is left over after every isolate
 * that may be busy at once (pinned workers and pooled isolates) has one, else 0.
 */
export function spinCapFor(poolPollUs: number, cores: number, busyIsolates: number): number {
  return cores > busyIsolates ? poolPollUs : 0;
}
