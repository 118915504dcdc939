/**
 * Which shared memory the topic bus uses, made once by the supervisor. With P pinned isolates
 * and M pooled isolates, participant x is pinned isolate x for x < P and pooled isolate x − P
 * after that. Every participant publishes; only pinned isolates subscribe.
 *
 *                    to pinned 0   to pinned 1   to pinned 2
 *   from pinned 0         —        ring (0, 1)   ring (0, 2)    ◄─ row: what x publishes
 *   from pinned 1    ring (1, 0)        —        ring (1, 2)
 *   from pinned 2    ring (2, 0)   ring (2, 1)        —
 *   from pooled 0    ring (3, 0)   ring (3, 1)   ring (3, 2)
 *                         ▲
 *                         └─ column: what pinned 0 receives
 *
 *   ring (x, k)  participant x ──► pinned k, for k ≠ x: P × (P + M − 1) rings, each with one
 *                producer thread and one consumer thread (ring.ts)
 *   doorbell k   pinned k's, rung by the participants that wrote to it (doorbell.ts)
 *   interest     buckets × P counters (topic-interest.ts)
 *
 * Replacement. A pinned isolate that is replaced gets fresh rings for its column and its row,
 * and its interest counters zeroed; a pooled isolate gets fresh rings for its row. So a new
 * thread never reads what its predecessor half-read nor writes after what it half-wrote. The
 * renewal returns, for every other participant, what it must be told (`TopicPeerUpdate`, plain
 * data for postMessage). Each participant's rings have a generation, raised with each renewal and
 * carried by the update, so an update that arrives late, twice, or at a participant that started
 * on the new rings already changes nothing. Renew only after the old thread has exited: its
 * counters are zeroed, and the old rings are read one last time, on the assumption that
 * nothing writes them any more.
 *
 * Doorbells and the interest table live as long as the server; only rings are renewed.
 */

import { createDoorbells } from './doorbell.ts';
import { createRing } from './ring.ts';
import { createInterestTable, DEFAULT_INTEREST_BUCKETS, InterestTable } from './topic-interest.ts';

/**
 * Data bytes of each topic ring by default: 256 KiB, so that a message of up to 128 KiB (less
 * topic and 16 bytes) is one record, a 1 MiB message takes 9 records, and a burst of about
 * two thousand 100-byte messages fits before anything waits in an outbox. Memory: P × (P + M − 1)
 * rings, 1 MiB for 2 pinned and 1 pooled isolate, 22 MiB for 8 pinned and 4 pooled (pages
 * are committed as the rings are first written).
 */
export const DEFAULT_TOPIC_RING_SIZE = 256 * 1024;

export interface TopicTopologyOptions {
  /** Data bytes of every ring, a power of two. @default DEFAULT_TOPIC_RING_SIZE */
  readonly ringSize?: number;
  /** Buckets of the interest table, a power of two. @default DEFAULT_INTEREST_BUCKETS */
  readonly buckets?: number;
}

/** What one participant needs to join the bus: plain data, for workerData. */
export interface TopicBusData {
  /** This participant's index: its pinned index, or P + its pooled index. */
  readonly self: number;
  readonly pinnedCount: number;
  readonly pooledCount: number;
  readonly interest: SharedArrayBuffer;
  readonly buckets: number;
  /** One doorbell per pinned isolate, by pinned index. */
  readonly doorbells: SharedArrayBuffer;
  /** By pinned index, the ring this participant writes to that isolate (null for itself). */
  readonly outgoing: readonly (SharedArrayBuffer | null)[];
  /** A pinned participant's: by participant index, the ring each one writes to it (null for itself); empty for a pooled one. */
  readonly incoming: readonly (SharedArrayBuffer | null)[];
  /** By participant index, the generation of its rings. */
  readonly generations: readonly number[];
}

/** What a participant must be told after participant `peer` was renewed: plain data, for postMessage. */
export interface TopicPeerUpdate {
  readonly peer: number;
  readonly generation: number;
  /** The fresh ring this participant writes to `peer` (when `peer` is pinned), else null. */
  readonly outgoing: SharedArrayBuffer | null;
  /** The fresh ring `peer` writes to this participant (when this one is pinned), else null. */
  readonly incoming: SharedArrayBuffer | null;
}

export class TopicBusTopology {
  readonly pinnedCount: number;
  readonly pooledCount: number;
  readonly ringSize: number;
  readonly buckets: number;
  readonly interest: SharedArrayBuffer;
  readonly doorbells: SharedArrayBuffer;
  /** #rings[x][k]: participant x ──► pinned k; null where x = k. */
  readonly #rings: Array<Array<SharedArrayBuffer | null>>;
  readonly #generations: number[];
  readonly #interestView: InterestTable;

  constructor(pinnedCount: number, pooledCount: number, options: TopicTopologyOptions = {}) {
    if (!Number.isInteger(pinnedCount) || pinnedCount < 0 || !Number.isInteger(pooledCount) || pooledCount < 0) {
      throw new RangeError(`isolate counts must be whole numbers ≥ 0, got ${pinnedCount} pinned and ${pooledCount} pooled`);
    }
    this.pinnedCount = pinnedCount;
    this.pooledCount = pooledCount;
    this.ringSize = options.ringSize ?? DEFAULT_TOPIC_RING_SIZE;
    this.buckets = options.buckets ?? DEFAULT_INTEREST_BUCKETS;
    this.interest = createInterestTable(this.buckets, pinnedCount);
    this.#interestView = new InterestTable(this.interest, this.buckets, pinnedCount);
    this.doorbells = createDoorbells(pinnedCount);
    const participants = pinnedCount + pooledCount;
    this.#rings = Array.from({ length: participants }, (_, x) => this.#freshRow(x));
    this.#generations = new Array<number>(participants).fill(0);
  }

  /** The participant index of pinned isolate `k`. */
  pinnedId(k: number): number {
    return k;
  }

  /** The participant index of pooled isolate `j`. */
  pooledId(j: number): number {
    return this.pinnedCount + j;
  }

  forPinned(k: number): TopicBusData {
    return this.#dataFor(this.pinnedId(k), this.#rings.map((row) => row[k] ?? null));
  }

  forPooled(j: number): TopicBusData {
    return this.#dataFor(this.pooledId(j), []);
  }

  /**
   * Pinned isolate `k` has exited and is being replaced: fresh rings for its row and its
   * column, its interest counters zeroed, its generation raised. Returns, by participant index,
   * the update each other participant needs (null for `k` itself, which gets `forPinned(k)`).
   */
  renewPinned(k: number): ReadonlyArray<TopicPeerUpdate | null> {
    const id = this.pinnedId(k);
    this.#rings[id] = this.#freshRow(id);
    for (let x = 0; x < this.#rings.length; x++) if (x !== id) (this.#rings[x] as Array<SharedArrayBuffer | null>)[k] = createRing(this.ringSize);
    this.#interestView.clear(k);
    const generation = ++(this.#generations[id] as number);
    return this.#rings.map((row, x) => {
      if (x === id) return null;
      const incoming = x < this.pinnedCount ? (this.#rings[id] as Array<SharedArrayBuffer | null>)[x] ?? null : null;
      return { peer: id, generation, outgoing: row[k] ?? null, incoming };
    });
  }

  /**
   * Pooled isolate `j` has exited and is being replaced: fresh rings for its row, its
   * generation raised. Returns, by participant index, the update each pinned isolate needs (null
   * for the pooled ones, which write nothing to `j` and read nothing from it).
   */
  renewPooled(j: number): ReadonlyArray<TopicPeerUpdate | null> {
    const id = this.pooledId(j);
    const row = this.#freshRow(id);
    this.#rings[id] = row;
    const generation = ++(this.#generations[id] as number);
    return this.#rings.map((_, x) => (x < this.pinnedCount ? { peer: id, generation, outgoing: null, incoming: row[x] ?? null } : null));
  }

  #dataFor(self: number, incoming: readonly (SharedArrayBuffer | null)[]): TopicBusData {
    return {
      self,
      pinnedCount: this.pinnedCount,
      pooledCount: this.pooledCount,
      interest: this.interest,
      buckets: this.buckets,
      doorbells: this.doorbells,
      outgoing: [...(this.#rings[self] as Array<SharedArrayBuffer | null>)],
      incoming,
      generations: [...this.#generations],
    };
  }

  /** The rings participant `x` writes, by pinned index. */
  #freshRow(x: number): Array<SharedArrayBuffer | null> {
    return Array.from({ length: this.pinnedCount }, (_, k) => (k === x ? null : createRing(this.ringSize)));
  }
}
