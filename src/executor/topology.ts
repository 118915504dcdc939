/**
 * Which shared memory connects which threads. With P pinned workers and M pooled isolates:
 *
 *   request ring  (i, j): pinned i ──► pooled j      response ring (i, j): pooled j ──► pinned i
 *   doorbell i         : rung by pooled isolates when they answer pinned i (and by pinned i
 *                        itself, to wake its own loop when it queues a write)
 *   doorbell P + j     : rung by pinned workers when they send to pooled j
 *   pool state j       : load and busy words of pooled j (isolate-state.ts)
 *
 * Every ring has one producer thread and one consumer thread. When a thread is replaced, the
 * supervisor makes fresh rings for its row (pinned i) or column (pooled j), so a new thread
 * never inherits half-written records.
 */

import { createRing } from './ring.ts';

/** The two rings between one pinned worker and one pooled isolate. */
export interface RingPair {
  readonly request: SharedArrayBuffer;
  readonly response: SharedArrayBuffer;
}

export function createRingPair(capacity: number): RingPair {
  return { request: createRing(capacity), response: createRing(capacity) };
}

/** What a pinned worker needs to use the pool. */
export interface PoolLinkData {
  readonly pinnedIndex: number;
  /** Rings to each pooled isolate, by pooled index. */
  readonly rings: readonly RingPair[];
  /**
   * Which pooled isolates exist now (serving, or starting on these rings); the others will be
   * announced with `pool-isolate-up` when they serve.
   */
  readonly available: readonly boolean[];
  /**
   * Generation of each pooled isolate's column of rings: it goes up each time an isolate is
   * replaced, so a late or repeated `pool-isolate-up`/`-down` for an old one is recognised.
   */
  readonly generations: readonly number[];
  readonly doorbells: SharedArrayBuffer;
  readonly pinnedCount: number;
  readonly state: SharedArrayBuffer;
  readonly epoch: number;
  /** Task slots of each pooled isolate. */
  readonly slots: readonly number[];
  /** Tasks each pooled isolate may queue beyond its slots. */
  readonly queueLimit: number;
  /** Polling window after the last answer before parking, in ms (the `poolPoll` option). */
  readonly pollWindow: number;
}

/** What a pooled isolate needs. */
export interface PooledIsolateData {
  readonly index: number;
  readonly appUrl: string;
  readonly logLevel: import('../core/log.ts').LogLevel;
  /** Rings from each pinned worker, by pinned index. */
  readonly rings: readonly RingPair[];
  readonly doorbells: SharedArrayBuffer;
  readonly pinnedCount: number;
  readonly state: SharedArrayBuffer;
  readonly epoch: number;
  readonly slots: number;
  readonly queueLimit: number;
  /** The server's handlerTimeout, for routes without their own. */
  readonly handlerTimeout: number;
  /** Put handler errors' messages in 500 responses (development only). */
  readonly exposeErrors: boolean;
  /** Polling window after the last request before parking, in ms (the `poolPoll` option). */
  readonly pollWindow: number;
}

/** Splits `slots` task slots over `isolates` isolates as evenly as possible. */
export function slotsPerIsolate(slots: number, isolates: number): number[] {
  return Array.from({ length: isolates }, (_, j) => Math.floor(slots / isolates) + (j < slots % isolates ? 1 : 0));
}
