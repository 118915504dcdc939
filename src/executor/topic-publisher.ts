/**
 * The sending half of the topic bus: one ring to each other pinned isolate, each with a bounded
 * outbox for what does not fit, and the doorbells of those isolates.
 *
 *   publish(topic, data) ─► for each other pinned k whose interest counter for the topic is > 0:
 *        outbox k empty and the message fits one record and the ring has room?
 *            yes ─► MESSAGE record committed straight into ring k
 *            no  ─► the message joins outbox k (dropping the oldest waiting ones past the
 *                   bound), and outbox k is written out as far as ring k has room
 *   end of the turn (setImmediate) ─► for each ring written to: one store of its tail for every
 *                                     record committed this turn, then its doorbell, once
 *   retry timer, while an outbox holds anything ─► outboxes written out as far as there is room
 *                                                  (and published and rung at the turn's end)
 *
 * Outbox and drop policy. A ring that is full (its subscriber is slow, busy, or gone until it
 * is replaced) never blocks `publish`: records wait in that destination's outbox, in order, and
 * are retried on a timer (FIRST_RETRY_MS, doubling while nothing moves up to LAST_RETRY_MS, as a
 * consumer does not ring back when it frees room) and before any later message to the same
 * destination is written. The outbox holds at most `outboxMessages` messages and
 * `outboxBytes` bytes (topic + data) that have not begun; a message that would take it past
 * either bound first drops the oldest waiting messages until it fits, and each one dropped counts
 * in that destination's `droppedTo(k)` and in `dropped`. The newest messages are the ones
 * kept: a subscriber that catches up gets the latest state of its topics, not a backlog that
 * is seconds old. A message larger than one record whose first records are already in the ring
 * is never dropped: it is finished (the subscriber holds its start), so the outbox holds at
 * most one such message beyond its bounds. A message larger than `outboxBytes` could never wait
 * and is refused by `publish` with a RangeError that names the limit. When a destination is
 * replaced, what waited for it is dropped and counted too (`reconnect`). The retry timer keeps
 * the thread's event loop alive while anything waits; `close()` stops it.
 *
 * Order. Per destination, a message is written only after every message published before it
 * to that destination has been written or dropped, and the records of one message follow each
 * other: the subscriber sees a publisher's messages in the order they were published, with
 * gaps only where the outbox dropped some.
 *
 * Publishing and ringing. Records committed during a turn are made visible with one store of
 * the ring's tail at the end of the turn (or at once when the ring is found full, so that the
 * subscriber can make room while a burst goes on), and the subscriber's doorbell is rung at
 * most once per turn (doorbell.ts: a load, and a notify only when the subscriber is parked).
 *
 * One thread only: a publisher belongs to the isolate that made it.
 */

import type { Doorbell } from './doorbell.ts';
import { RingProducer } from './ring.ts';
import { fitsOneRecord, MAX_TOPIC_BYTES, maxTopicBytes, TopicMessage, writeChunk, writeHead, writeWhole } from './topic-codec.ts';
import type { InterestTable } from './topic-interest.ts';

/** The first retry of a blocked outbox, in ms, and the longest wait between retries while nothing moves. */
export const FIRST_RETRY_MS = 1;
export const LAST_RETRY_MS = 16;

export interface OutboxBounds {
  /** Messages that may wait for one destination, not counting one already begun. */
  readonly outboxMessages: number;
  /** Bytes (topic + data) that may wait for one destination, not counting one already begun; also the largest message. */
  readonly outboxBytes: number;
}

/** A message whose first records are in the ring: the rest of its data goes as chunks from `offset`. */
interface Begun {
  readonly message: TopicMessage;
  offset: number;
}

/** Everything about one destination. */
interface Lane {
  producer: RingProducer;
  readonly doorbell: Doorbell;
  begun: Begun | null;
  /** Messages not begun, oldest first. */
  queue: TopicMessage[];
  queuedBytes: number;
  dropped: number;
  /** Records committed since the last ring of its doorbell. */
  due: boolean;
}

export class TopicPublisher {
  readonly #self: number;
  readonly #interest: InterestTable;
  readonly #bounds: OutboxBounds;
  /** By pinned index; null for this isolate itself. */
  readonly #lanes: Array<Lane | null>;
  /** The longest topic the rings carry, in UTF-8 bytes. */
  readonly #topicLimit: number;
  #dropped = 0;
  #published = 0;
  #turnDue = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #retryMs = FIRST_RETRY_MS;
  #closed = false;

  /**
   * `self`: this isolate's pinned index, or -1 for a pooled isolate. `rings`: by pinned index,
   * the ring this isolate writes to each pinned isolate (null for itself). `doorbells`: each
   * pinned isolate's, by pinned index.
   */
  constructor(
    self: number,
    interest: InterestTable,
    rings: readonly (SharedArrayBuffer | null)[],
    doorbells: readonly Doorbell[],
    bounds: OutboxBounds,
  ) {
    this.#self = self;
    this.#interest = interest;
    this.#bounds = bounds;
    this.#lanes = rings.map((ring, k) => (ring === null ? null : newLane(ring, doorbells[k] as Doorbell)));
    const lane = this.#lanes.find((l) => l !== null);
    this.#topicLimit = lane === undefined || lane === null ? MAX_TOPIC_BYTES : maxTopicBytes(lane.producer);
  }

  /** Messages published (with at least one destination). */
  get published(): number {
    return this.#published;
  }

  /** Messages dropped from outboxes, to every destination together. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Messages dropped from the outbox to pinned isolate `k`. */
  droppedTo(k: number): number {
    return this.#lanes[k]?.dropped ?? 0;
  }

  /** Messages waiting in outboxes now, to every destination together. */
  get waiting(): number {
    let waiting = 0;
    for (const lane of this.#lanes) if (lane !== null) waiting += lane.queue.length + (lane.begun === null ? 0 : 1);
    return waiting;
  }

  /**
   * Sends to every other pinned isolate that has a subscriber on `topic`; returns how many that
   * is. Never blocks and never keeps `data`: what must wait is copied. Throws a RangeError for
   * a topic longer than a record can carry or data larger than `outboxBytes`.
   */
  publish(topic: string, data: string | Uint8Array): number {
    if (this.#closed) return 0;
    this.#check(topic, data);
    const bucket = this.#interest.bucketOf(topic);
    let message: TopicMessage | null = null;
    let topicBytes = -1;
    let dataBytes = 0;
    let sent = 0;
    const lanes = this.#lanes;
    for (let k = 0; k < lanes.length; k++) {
      const lane = lanes[k];
      if (lane === null || lane === undefined || !this.#interest.interested(bucket, k)) continue;
      if (topicBytes < 0) {
        topicBytes = Buffer.byteLength(topic, 'utf8');
        dataBytes = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
      }
      sent++;
      if (lane.begun === null && lane.queue.length === 0 && fitsOneRecord(lane.producer, topicBytes, dataBytes)) {
        // The fast path: straight into ring memory, nothing allocated.
        if (writeWhole(lane.producer, topic, topicBytes, data, dataBytes)) {
          this.#wrote(lane);
          continue;
        }
      }
      message ??= new TopicMessage(topic, topicBytes, data, dataBytes);
      this.#enqueue(lane, message);
      this.#flushLane(lane);
    }
    if (sent > 0) this.#published++;
    return sent;
  }

  /**
   * Refuses what the bus cannot carry, whether or not anyone listens now, so that a publish
   * does not start failing when a subscriber appears. Exact UTF-8 lengths are measured only when
   * the worst case (3 bytes per UTF-16 unit) is over a limit.
   */
  #check(topic: string, data: string | Uint8Array): void {
    const topicLimit = this.#topicLimit;
    let topicBytes = topic.length * 3;
    if (topicBytes > topicLimit) {
      topicBytes = Buffer.byteLength(topic, 'utf8');
      if (topicBytes > topicLimit) {
        throw new RangeError(`a topic may be at most ${topicLimit} bytes of UTF-8 on this bus, got ${topicBytes}`);
      }
    }
    const limit = this.#bounds.outboxBytes;
    const text = typeof data === 'string';
    if (topicBytes + (text ? data.length * 3 : data.byteLength) <= limit) return;
    const size = Buffer.byteLength(topic, 'utf8') + (text ? Buffer.byteLength(data, 'utf8') : data.byteLength);
    if (size > limit) {
      throw new RangeError(`a published message (topic + data) may be at most outboxBytes = ${limit} bytes, got ${size}`);
    }
  }

  /** Adds `message` to the end of `lane`'s outbox, dropping the oldest waiting messages past the bounds. */
  #enqueue(lane: Lane, message: TopicMessage): void {
    const { outboxMessages, outboxBytes } = this.#bounds;
    const queue = lane.queue;
    while (queue.length > 0 && (queue.length >= outboxMessages || lane.queuedBytes + message.size > outboxBytes)) {
      const oldest = queue.shift() as TopicMessage;
      lane.queuedBytes -= oldest.size;
      lane.dropped++;
      this.#dropped++;
    }
    queue.push(message);
    lane.queuedBytes += message.size;
  }

  /** Writes `lane`'s outbox, oldest first, as far as its ring has room; returns whether anything was written. */
  #flushLane(lane: Lane): boolean {
    const ring = lane.producer;
    let wrote = false;
    for (;;) {
      const begun = lane.begun;
      if (begun !== null) {
        const bytes = begun.message.bytes();
        while (begun.offset < bytes.byteLength) {
          const next = writeChunk(ring, bytes, begun.offset);
          if (next < 0) return this.#blocked(lane, wrote);
          begun.offset = next;
          wrote = true;
        }
        lane.begun = null;
      }
      const message = lane.queue[0];
      if (message === undefined) break;
      if (fitsOneRecord(ring, message.topicBytes, message.dataBytes)) {
        if (!writeWhole(ring, message.topic, message.topicBytes, message.data, message.dataBytes)) return this.#blocked(lane, wrote);
      } else {
        const inline = writeHead(ring, message);
        if (inline < 0) return this.#blocked(lane, wrote);
        if (inline < message.dataBytes) lane.begun = { message, offset: inline };
      }
      wrote = true;
      lane.queue.shift();
      lane.queuedBytes -= message.size;
    }
    if (wrote) this.#wrote(lane);
    return wrote;
  }

  /** `lane`'s ring is full: what was committed is published now, so the subscriber can make room, and a retry is set. */
  #blocked(lane: Lane, wrote: boolean): boolean {
    if (wrote) this.#wrote(lane);
    lane.producer.publish();
    this.#armRetry();
    return wrote;
  }

  /** Records were committed to `lane`: published and rung at the end of the turn. */
  #wrote(lane: Lane): void {
    lane.due = true;
    if (this.#turnDue) return;
    this.#turnDue = true;
    setImmediate(this.#onTurn);
  }

  readonly #onTurn = (): void => {
    this.#turnDue = false;
    this.#announce();
  };

  /**
   * One store of each written ring's tail, then its doorbell: once per destination for everything
   * since the last time. The tail's Atomics.store comes before the doorbell's Atomics.load, as the
   * subscriber's store of PARKED comes before its re-check of the tails, so either the
   * subscriber sees the records or this sees PARKED and notifies (doorbell.ts).
   */
  #announce(): void {
    if (this.#closed) return;
    for (const lane of this.#lanes) {
      if (lane === null || !lane.due) continue;
      lane.due = false;
      lane.producer.publish();
      lane.doorbell.ring();
    }
  }

  #armRetry(): void {
    if (this.#retryTimer !== null || this.#closed) return;
    this.#retryTimer = setTimeout(this.#onRetry, this.#retryMs);
  }

  /** Writes out what waits; what it wrote is published and rung with the rest of the turn's records. */
  readonly #onRetry = (): void => {
    this.#retryTimer = null;
    let moved = false;
    let waiting = false;
    for (const lane of this.#lanes) {
      if (lane === null || (lane.begun === null && lane.queue.length === 0)) continue;
      if (this.#flushLane(lane)) moved = true;
      if (lane.begun !== null || lane.queue.length > 0) waiting = true;
    }
    // A subscriber that does not read (busy, or gone until it is replaced) is looked at less often.
    this.#retryMs = moved ? FIRST_RETRY_MS : Math.min(LAST_RETRY_MS, this.#retryMs * 2);
    if (waiting) this.#armRetry();
  };

  /**
   * Pinned isolate `k` runs on fresh rings from now on (it was replaced): what waited for the old
   * one is dropped, and counted.
   */
  reconnect(k: number, ring: SharedArrayBuffer): void {
    const lane = this.#lanes[k];
    if (lane === null || lane === undefined || k === this.#self) return;
    const lost = lane.queue.length + (lane.begun === null ? 0 : 1);
    lane.dropped += lost;
    this.#dropped += lost;
    lane.producer = new RingProducer(ring);
    lane.begun = null;
    lane.queue = [];
    lane.queuedBytes = 0;
    lane.due = false;
  }

  /** Stops: what was committed is published, nothing more is sent, and what waits in the outboxes is dropped (not counted). */
  close(): void {
    this.#announce();
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    for (const lane of this.#lanes) {
      if (lane === null) continue;
      lane.queue = [];
      lane.begun = null;
    }
  }
}

function newLane(ring: SharedArrayBuffer, doorbell: Doorbell): Lane {
  return { producer: new RingProducer(ring), doorbell, begun: null, queue: [], queuedBytes: 0, dropped: 0, due: false };
}
