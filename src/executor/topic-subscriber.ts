/**
 * The receiving half of the topic bus, on a pinned isolate: one ring from every other
 * participant (pinned and pooled), read in turn, and one doorbell of its own that they ring.
 *
 *   ring from participant 0 ─┐
 *   ring from participant 1 ─┼─► step(): up to TAKE_PER_STEP records of each ring
 *   …                        │     MESSAGE whole      ─► wanted topic? deliver(topic, data)
 *   ring from participant n ─┘     MESSAGE + CHUNKs   ─► reassembled per ring, then delivered
 *                                  unwanted topic     ─► dropped, counted in `unwanted`
 *
 * The loop. The isolate's event loop is busy serving connections, so the subscriber never spins:
 * a step reads what is there and, if it read anything, looks again on the next turn
 * (setImmediate: connections are served in between, and a backlog is taken at most
 * TAKE_PER_STEP records per ring per turn). A step that finds nothing parks (doorbell.ts):
 * it publishes PARKED, checks every ring once more, and only if they are still empty waits with
 * `Atomics.waitAsync`. A publisher that made records visible and then sees PARKED rings it, once
 * per turn at most; one that sees AWAKE does nothing, so while records keep coming nobody makes
 * a system call. The waiting promise does not keep the thread alive: a pinned worker is kept
 * alive by its server and its `parentPort` listener.
 *
 * What `deliver` gets belongs to it: a string, or a Buffer copied out of the ring (ring memory
 * is overwritten once a record is taken). A `deliver` that throws does not stop the reading: the
 * error goes to `onError`.
 *
 * One thread only: the subscriber belongs to its pinned isolate.
 */

import type { Doorbell } from './doorbell.ts';
import { RingConsumer } from './ring.ts';
import { chunkOffset, emptyHead, readHead, recordFlags, recordKind, TOPIC_FLAG_MORE, TOPIC_PREFIX, TopicRecordKind } from './topic-codec.ts';

/** Records taken from one ring per step, so that a backlog does not hold the event loop for long. */
export const TAKE_PER_STEP = 256;

/** Receives a message published on another isolate: a string for text, a Buffer of its own for bytes. */
export type Deliver = (topic: string, data: string | Buffer) => void;

/** One incoming ring and the message being put together from it. */
interface Source {
  consumer: RingConsumer;
  /** The data of a message larger than one record, as far as it has come; null when none. */
  partial: Buffer | null;
  received: number;
  topic: string;
  text: boolean;
  /** The chunks that follow belong to a message nobody here wants. */
  skipping: boolean;
}

export interface SubscriberOptions {
  readonly doorbell: Doorbell;
  /** By participant index, the ring each one writes to this isolate (null for itself). */
  readonly rings: readonly (SharedArrayBuffer | null)[];
  /** The topics with local subscribers. */
  readonly topics: ReadonlySet<string>;
  readonly deliver: Deliver;
  readonly onError: (error: unknown) => void;
}

export class TopicSubscriber {
  readonly #doorbell: Doorbell;
  readonly #sources: Array<Source | null>;
  readonly #topics: ReadonlySet<string>;
  readonly #deliver: Deliver;
  readonly #onError: (error: unknown) => void;
  readonly #head = emptyHead();
  #delivered = 0;
  #unwanted = 0;
  #incomplete = 0;
  /** The participant whose ring is being read, for `#visit`. */
  #reading = 0;
  #started = false;
  #closed = false;
  #scheduled = false;
  #waiting = false;

  constructor(options: SubscriberOptions) {
    this.#doorbell = options.doorbell;
    this.#sources = options.rings.map((ring) => (ring === null ? null : newSource(ring)));
    this.#topics = options.topics;
    this.#deliver = options.deliver;
    this.#onError = options.onError;
  }

  /** Messages handed to `deliver`. */
  get delivered(): number {
    return this.#delivered;
  }

  /** Messages that arrived for a topic with no local subscriber: interest-table collisions, or an unsubscribe racing a publish. */
  get unwanted(): number {
    return this.#unwanted;
  }

  /** Messages whose records did not all arrive (their publisher was replaced while sending them). */
  get incomplete(): number {
    return this.#incomplete;
  }

  /** Starts reading: one step now, then the loop runs until `close()`. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#step();
  }

  /**
   * Participant `x` was replaced and writes on `ring` from now on. What the old one made visible
   * before it exited is delivered first; a message it left unfinished is dropped.
   */
  reconnect(x: number, ring: SharedArrayBuffer): void {
    const source = this.#sources[x];
    if (source === null || source === undefined) return;
    this.#reading = x;
    source.consumer.take(this.#visit);
    if (source.partial !== null || source.skipping) this.#incomplete++;
    this.#sources[x] = newSource(ring);
    if (this.#started) this.#schedule();
  }

  /** Stops reading. A doorbell wait still outstanding ends at the next ring and does nothing. */
  close(): void {
    this.#closed = true;
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(this.#onTurn);
  }

  readonly #onTurn = (): void => {
    this.#scheduled = false;
    this.#step();
  };

  readonly #onRung = (): void => {
    this.#waiting = false;
    this.#step();
  };

  #step(): void {
    if (this.#closed) return;
    if (this.#read() > 0) {
      this.#schedule();
      return;
    }
    this.#doorbell.park();
    // A publisher that made records visible before it saw PARKED did not ring; they are seen here.
    if (this.#hasRecords()) {
      this.#doorbell.unpark();
      this.#schedule();
      return;
    }
    // A wait left from an earlier park is still registered on the word, which reads PARKED again.
    if (this.#waiting) return;
    this.#waiting = true;
    void this.#doorbell.wait().then(this.#onRung);
  }

  #read(): number {
    let read = 0;
    const sources = this.#sources;
    for (let x = 0; x < sources.length; x++) {
      const source = sources[x];
      if (source === null || source === undefined) continue;
      this.#reading = x;
      read += source.consumer.take(this.#visit, TAKE_PER_STEP);
    }
    return read;
  }

  #hasRecords(): boolean {
    for (const source of this.#sources) if (source !== null && source.consumer.hasRecords()) return true;
    return false;
  }

  /** Made once, so that reading allocates nothing per record beyond what `deliver` is given. */
  readonly #visit = (bytes: Buffer, offset: number, length: number): void => {
    const source = this.#sources[this.#reading] as Source;
    if (recordKind(bytes, offset) === TopicRecordKind.MESSAGE) this.#message(source, bytes, offset, length);
    else this.#chunk(source, bytes, offset, length);
  };

  #message(source: Source, bytes: Buffer, offset: number, length: number): void {
    if (source.partial !== null || source.skipping) {
      // A publisher finishes a message before it starts the next; only a broken ring gets here.
      this.#incomplete++;
      source.partial = null;
      source.skipping = false;
    }
    const head = this.#head;
    readHead(bytes, offset, length, head);
    if (!this.#topics.has(head.topic)) {
      this.#unwanted++;
      source.skipping = head.more;
      return;
    }
    if (!head.more) {
      if (head.text) this.#hand(head.topic, bytes.toString('utf8', head.dataStart, head.dataEnd));
      else this.#hand(head.topic, copy(bytes, head.dataStart, head.dataEnd));
      return;
    }
    const partial = Buffer.allocUnsafe(head.dataBytes);
    source.received = bytes.copy(partial, 0, head.dataStart, head.dataEnd);
    source.partial = partial;
    source.topic = head.topic;
    source.text = head.text;
  }

  #chunk(source: Source, bytes: Buffer, offset: number, length: number): void {
    const last = (recordFlags(bytes, offset) & TOPIC_FLAG_MORE) === 0;
    if (source.skipping) {
      source.skipping = !last;
      return;
    }
    const partial = source.partial;
    const start = offset + TOPIC_PREFIX;
    const end = offset + length;
    if (partial === null || chunkOffset(bytes, offset) !== source.received || source.received + (end - start) > partial.byteLength) {
      // Out of sequence: only a broken ring gets here. The rest of this message is skipped.
      if (partial !== null) this.#incomplete++;
      source.partial = null;
      source.skipping = !last;
      return;
    }
    source.received += bytes.copy(partial, source.received, start, end);
    if (!last) return;
    source.partial = null;
    if (source.received !== partial.byteLength) {
      this.#incomplete++;
      return;
    }
    this.#hand(source.topic, source.text ? partial.toString('utf8') : partial);
  }

  #hand(topic: string, data: string | Buffer): void {
    this.#delivered++;
    try {
      this.#deliver(topic, data);
    } catch (error) {
      this.#onError(error);
    }
  }
}

function newSource(ring: SharedArrayBuffer): Source {
  return { consumer: new RingConsumer(ring), partial: null, received: 0, topic: '', text: false, skipping: false };
}

/** A Buffer of its own holding bytes[start, end). */
function copy(bytes: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  bytes.copy(out, 0, start, end);
  return out;
}
