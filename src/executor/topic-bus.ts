/**
 * The topic bus: WebSocket publish/subscribe across isolates, with no broker and no message per
 * publish. Every participant (P pinned isolates, M pooled isolates) can publish; pinned isolates
 * also subscribe. A publish from any of them reaches every other pinned isolate that has a
 * subscriber on the topic; the publisher delivers to its own local subscribers itself.
 *
 *   publisher x (any isolate)                                pinned isolate k ≠ x
 *   ─────────────────────────                                ────────────────────
 *   publish(topic, data)
 *     b = topicBucket(topic)
 *     for each pinned k ≠ x: interest (b, k) > 0 ? ── no ──► skip: nothing is written
 *       │ yes
 *       ▼
 *     record ──► ring (x, k), or its outbox when full ──────► TopicSubscriber takes it:
 *     end of turn: store ring (x, k)'s tail,                    topic subscribed here?
 *                  ring doorbell k ── notify if PARKED ──►      yes: deliver(topic, data)
 *                                                               no:  drop, count `unwanted`
 *
 * - Interest (topic-interest.ts): a table of counters in shared memory, bucket × pinned isolate.
 *   `subscribed`/`unsubscribed` move this isolate's counter for the topic's bucket; a publisher
 *   sends only to isolates whose counter is above 0. Collisions cost a record the receiver drops
 *   (`unwanted`), never a lost message.
 * - Rings (topic-topology.ts): one SPSC ring (ring.ts) per ordered pair (publisher, other pinned
 *   isolate), so per-publisher order holds on every ring and no write needs a compare-and-swap.
 * - Records (topic-codec.ts): the topic, and the data as UTF-8 with a text flag or as bytes, so
 *   a string arrives as a string and bytes as a Buffer. A message larger than one record goes as
 *   a head record and chunk records; messages of up to `outboxBytes` (4 MiB by default) travel,
 *   larger ones are refused by `publish` with a RangeError that names the limit.
 * - Slow subscribers (topic-publisher.ts): `publish` never blocks. What does not fit a full ring
 *   waits in that destination's bounded outbox, retried in order; past the bound the OLDEST
 *   waiting messages are dropped and counted (`dropped`, `droppedTo(k)`).
 * - Waking (topic-subscriber.ts): records committed during a turn are published with one store
 *   of each ring's tail at the end of the turn, and each destination's doorbell is rung at most
 *   once per turn, and only makes a system call when that isolate is parked. A subscriber reads
 *   on its event loop while records come, and parks with `Atomics.waitAsync` when none do.
 *
 * Why not RingEndpoint (ring-endpoint.ts), which the pool uses: it pairs every peer with one ring
 * each way, a request and its answer, while the bus's rings go one way only (a pooled isolate
 * reads none); its outboxes are unbounded, since every task there is answered or times out,
 * while the bus must bound them and drop; and its look-before-parking window follows how long
 * answers take, which has no meaning for messages that nobody asked for. The bus reuses what
 * fits as it is, the rings and the doorbells, and splits large messages the way codec.ts splits
 * bodies (its chunk functions carry a task id and record kinds that the bus has no use for).
 *
 * Replacement: when the supervisor renews a participant (TopicBusTopology), every other one is
 * given a `TopicPeerUpdate` to apply with `peerRenewed`.
 *
 * One thread only: a bus belongs to the isolate that made it.
 */

import { Doorbell } from './doorbell.ts';
import { InterestTable } from './topic-interest.ts';
import { TopicPublisher } from './topic-publisher.ts';
import { type Deliver, TopicSubscriber } from './topic-subscriber.ts';
import type { TopicBusData, TopicPeerUpdate } from './topic-topology.ts';

export type { Deliver } from './topic-subscriber.ts';

/** Messages that may wait for one destination by default: enough for a burst, bounded in objects as well as bytes. */
export const DEFAULT_OUTBOX_MESSAGES = 4096;
/**
 * Bytes (topic + data) that may wait for one destination by default, and the largest message:
 * four 1 MiB messages, or about sixteen rings' worth. A publisher holds at most this much per
 * other pinned isolate, less where they wait for the same messages, which are shared.
 */
export const DEFAULT_OUTBOX_BYTES = 4 * 1024 * 1024;

export interface TopicBusOptions {
  /** A pinned isolate's: receives what other isolates publish on its subscribed topics. Required there, unused on a pooled isolate. */
  readonly deliver?: Deliver;
  /** Messages that may wait for one destination (dropping the oldest past it). @default DEFAULT_OUTBOX_MESSAGES */
  readonly outboxMessages?: number;
  /** Bytes that may wait for one destination (dropping the oldest past it), and the largest message. @default DEFAULT_OUTBOX_BYTES */
  readonly outboxBytes?: number;
  /** Gets what `deliver` throws. @default rethrown from a microtask, as an uncaught exception */
  readonly onError?: (error: unknown) => void;
}

export class TopicBus {
  /** This participant's index (topic-topology.ts). */
  readonly self: number;
  /** Whether this is a pinned isolate's bus, which subscribes. */
  readonly pinned: boolean;
  readonly #interest: InterestTable;
  readonly #publisher: TopicPublisher;
  readonly #subscriber: TopicSubscriber | null;
  /** The topics with local subscribers, each counted once in the interest table. */
  readonly #topics = new Set<string>();
  readonly #generations: number[];
  #closed = false;

  constructor(data: TopicBusData, options: TopicBusOptions = {}) {
    this.self = data.self;
    this.pinned = data.self < data.pinnedCount;
    this.#interest = new InterestTable(data.interest, data.buckets, data.pinnedCount);
    this.#generations = [...data.generations];
    const doorbells = Array.from({ length: data.pinnedCount }, (_, k) => new Doorbell(data.doorbells, k));
    const outboxMessages = options.outboxMessages ?? DEFAULT_OUTBOX_MESSAGES;
    const outboxBytes = options.outboxBytes ?? DEFAULT_OUTBOX_BYTES;
    if (!Number.isInteger(outboxMessages) || outboxMessages < 1 || !Number.isInteger(outboxBytes) || outboxBytes < 1) {
      throw new RangeError(`outboxMessages and outboxBytes must be whole numbers ≥ 1, got ${outboxMessages} and ${outboxBytes}`);
    }
    this.#publisher = new TopicPublisher(this.pinned ? data.self : -1, this.#interest, data.outgoing, doorbells, {
      outboxMessages,
      outboxBytes,
    });
    this.#subscriber = null;
    if (this.pinned) {
      if (options.deliver === undefined) throw new TypeError("a pinned isolate's topic bus needs a deliver callback");
      this.#subscriber = new TopicSubscriber({
        doorbell: doorbells[data.self] as Doorbell,
        rings: data.incoming,
        topics: this.#topics,
        deliver: options.deliver,
        onError: options.onError ?? rethrow,
      });
      this.#subscriber.start();
    }
  }

  /**
   * Sends `data` (a string arrives as a string, bytes as a Buffer) to every other pinned isolate
   * with a subscriber on `topic`; returns how many that is. Never blocks, never keeps `data`
   * (what must wait is copied). Throws a RangeError for a topic longer than a ring record can
   * carry or a message larger than `outboxBytes`.
   */
  publish(topic: string, data: string | Uint8Array): number {
    return this.#publisher.publish(topic, data);
  }

  /** This isolate has its first local subscriber on `topic` (pinned only). A repeat changes nothing. */
  subscribed(topic: string): void {
    if (this.#subscriber === null) throw new TypeError('only a pinned isolate subscribes to topics');
    if (this.#closed || this.#topics.has(topic)) return;
    this.#topics.add(topic);
    this.#interest.add(this.self, this.#interest.bucketOf(topic));
  }

  /** This isolate's last local subscriber on `topic` has gone (pinned only). A repeat changes nothing. */
  unsubscribed(topic: string): void {
    if (!this.#topics.delete(topic)) return;
    this.#interest.remove(this.self, this.#interest.bucketOf(topic));
  }

  /** Messages this isolate published (to at least one other isolate). */
  get published(): number {
    return this.#publisher.published;
  }

  /** Messages dropped from this isolate's outboxes (full, or their destination replaced), in all. */
  get dropped(): number {
    return this.#publisher.dropped;
  }

  /** Messages dropped from this isolate's outbox to pinned isolate `k`. */
  droppedTo(k: number): number {
    return this.#publisher.droppedTo(k);
  }

  /** Messages waiting in this isolate's outboxes now. */
  get waiting(): number {
    return this.#publisher.waiting;
  }

  /** Messages from other isolates handed to `deliver`. */
  get delivered(): number {
    return this.#subscriber?.delivered ?? 0;
  }

  /** Messages that arrived for a topic with no local subscriber (interest collisions, or an unsubscribe racing a publish). */
  get unwanted(): number {
    return this.#subscriber?.unwanted ?? 0;
  }

  /** Messages whose records did not all arrive (their publisher was replaced while sending them). */
  get incomplete(): number {
    return this.#subscriber?.incomplete ?? 0;
  }

  /**
   * Participant `update.peer` was replaced: this isolate writes to it and reads from it on the
   * fresh rings from now on. Returns false for an update that is not newer than what this bus
   * knows (late, repeated, or older than the rings it started on).
   */
  peerRenewed(update: TopicPeerUpdate): boolean {
    const known = this.#generations[update.peer];
    if (known === undefined || update.generation <= known || update.peer === this.self) return false;
    this.#generations[update.peer] = update.generation;
    if (update.outgoing !== null) this.#publisher.reconnect(update.peer, update.outgoing);
    if (update.incoming !== null) this.#subscriber?.reconnect(update.peer, update.incoming);
    return true;
  }

  /**
   * Leaves the bus: this isolate's interest is withdrawn, what it committed is published, its
   * outboxes are dropped and it reads no more.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const topic of this.#topics) this.#interest.remove(this.self, this.#interest.bucketOf(topic));
    this.#topics.clear();
    this.#publisher.close();
    this.#subscriber?.close();
  }
}

function rethrow(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}
