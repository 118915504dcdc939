/**
 * Which shared memory connects which threads. With P pinned workers and M pooled isolates:
 *
 *   request ring  (i, j): pinned i ──► pooled j      response ring (i, j): pooled j ──► pinned i
 *   doorbell i         : rung by pooled isolates when they answer pinned i
 *   doorbell P + j     : rung by pinned workers when they send to pooled j
 *   pool state j       : load and busy words of pooled j (isolate-state.ts)
 *
 * Every ring has one producer thread and one consumer thread. When a thread is replaced, its
 * row (pinned i) or column (pooled j) gets fresh rings (`PoolTopology.renewRow`/`renewColumn`),
 * so a new thread never inherits half-written records.
 */

import type { LogFormat, LogLevel } from '../core/log.ts';
import { createDoorbells } from './doorbell.ts';
import { createIsolateState, IsolateState } from './isolate-state.ts';
import { createRing } from './ring.ts';
import type { TopicBusData } from './topic-topology.ts';

/** The two rings between one pinned worker and one pooled isolate. */
export interface RingPair {
  readonly request: SharedArrayBuffer;
  readonly response: SharedArrayBuffer;
}

export function createRingPair(capacity: number): RingPair {
  return { request: createRing(capacity), response: createRing(capacity) };
}

/**
 * Every SharedArrayBuffer of a pool: a ring pair per (pinned worker, pooled isolate), one
 * doorbell per thread that reads rings, and the pooled isolates' state words. Made once by the
 * supervisor; only rings are ever renewed, the doorbells and state live as long as the server.
 */
export class PoolTopology {
  readonly pinnedCount: number;
  readonly isolateCount: number;
  /** Data bytes of every ring (the `poolRingSize` option). */
  readonly ringSize: number;
  readonly doorbells: SharedArrayBuffer;
  /** The pooled isolates' state words (isolate-state.ts). */
  readonly state: SharedArrayBuffer;
  /** The time base of `state`. */
  readonly epoch: number;
  /** #rings[i][j]: between pinned worker i and pooled isolate j. */
  readonly #rings: RingPair[][];
  readonly #stateView: IsolateState;

  constructor(pinnedCount: number, isolateCount: number, ringSize: number) {
    this.pinnedCount = pinnedCount;
    this.isolateCount = isolateCount;
    this.ringSize = ringSize;
    this.#rings = Array.from({ length: pinnedCount }, () => this.#freshRow());
    this.doorbells = createDoorbells(pinnedCount + isolateCount);
    this.state = createIsolateState(isolateCount);
    this.epoch = Date.now();
    this.#stateView = new IsolateState(this.state, this.epoch);
  }

  /** Pinned worker `i`'s rings, by pooled index. */
  row(i: number): readonly RingPair[] {
    return this.#rings[i] as RingPair[];
  }

  /** Pooled isolate `j`'s rings, by pinned index. */
  column(j: number): readonly RingPair[] {
    return this.#rings.map((row) => row[j] as RingPair);
  }

  /** Pinned worker `i` is being replaced: fresh rings for its row, which it returns. */
  renewRow(i: number): readonly RingPair[] {
    const row = this.#freshRow();
    this.#rings[i] = row;
    return row;
  }

  /**
   * Pooled isolate `j` is being replaced: fresh rings for its column, and its state words cleared
   * (the old isolate has exited, so nothing writes them meanwhile). Returns the new column.
   */
  renewColumn(j: number): readonly RingPair[] {
    for (const row of this.#rings) row[j] = createRingPair(this.ringSize);
    this.#stateView.reset(j);
    return this.column(j);
  }

  #freshRow(): RingPair[] {
    return Array.from({ length: this.isolateCount }, () => createRingPair(this.ringSize));
  }
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
  /** Tasks each pooled isolate may queue beyond its task slots. */
  readonly queueLimit: number;
  /** The longest look for answers before parking, in µs (spin.ts: `poolPoll`, or 0 with fewer cores than isolates). */
  readonly spinCapUs: number;
}

/** What a pooled isolate needs. */
export interface PooledIsolateData {
  readonly index: number;
  readonly appUrl: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** Rings from each pinned worker, by pinned index. */
  readonly rings: readonly RingPair[];
  readonly doorbells: SharedArrayBuffer;
  readonly pinnedCount: number;
  readonly state: SharedArrayBuffer;
  readonly epoch: number;
  /** Task slots: handlers this isolate runs at once. */
  readonly slots: number;
  /** Tasks it may queue beyond its task slots. */
  readonly queueLimit: number;
  /** The server's handlerTimeout, for routes without their own. */
  readonly handlerTimeout: number;
  /** Put handler errors' messages in 500 responses (development only). */
  readonly exposeErrors: boolean;
  /** The longest spin for requests before parking, in µs (spin.ts: `poolPoll`, or 0 with fewer cores than isolates). */
  readonly spinCapUs: number;
  /** Its place on the topic bus: it publishes to the pinned isolates' WebSocket subscribers. */
  readonly topics: TopicBusData;
}

/** Splits `slots` task slots over `isolates` isolates as evenly as possible. */
export function slotsPerIsolate(slots: number, isolates: number): number[] {
  return Array.from({ length: isolates }, (_, j) => Math.floor(slots / isolates) + (j < slots % isolates ? 1 : 0));
}
