/**
 * A single-producer single-consumer byte ring over a SharedArrayBuffer: the queue between one
 * pinned worker and one pooled isolate, in one direction. Each (pinned, pooled) pair has a
 * request ring and a response ring, so every ring has exactly one writer thread and one reader
 * thread, and no operation needs a compare-and-swap.
 *
 *        head (consumer)                tail (producer)
 *            │                               │
 *   ┌────────▼───────────────────────────────▼──────────────────┐
 *   │ free  │ len │ payload │pad│ len │ payload │ free ......... │   data: `capacity` bytes,
 *   └───────────────────────────────────────────────────────────┘   a power of two
 *
 *   - `head` and `tail` count bytes since the ring was made, mod 2^32; position = count & mask.
 *     Used = tail - head (mod 2^32), free = capacity - used. Only the consumer writes `head`,
 *     only the producer writes `tail`; each lives on its own cache line (see layout.ts).
 *   - A record is a u32 payload length and the payload, padded to 8 bytes. A record is never
 *     split across the end: if it does not fit, the producer writes RING_WRAP_MARK in the
 *     remaining bytes and puts the record at offset 0. So the payload is always one contiguous
 *     slice, which the codec writes into and reads from in place.
 *   - Largest payload: capacity / 2 - 8 bytes. Any record that size fits into an empty ring
 *     wherever the tail is; larger messages are split by the codec into chunk records.
 *
 * Indices. Each end keeps its own index in a private field and a cached copy of the other end's
 * (the single-producer queues of LMAX's Disruptor and Aeron work the same way), so the shared
 * words are touched once per batch, not once per record:
 *   - the producer re-reads `head` only when its cached copy says the record does not fit;
 *   - the consumer re-reads `tail` only when its cached copy says the ring is empty;
 *   - `commit()` only advances the producer's private tail; `publish()` stores it, once for as
 *     many records as were committed since the last publish;
 *   - `take()` stores `head` once, after the whole batch it visited.
 *
 * Memory order. Why the consumer sees the record bytes, written with plain typed-array stores,
 * once it has loaded the tail that covers them:
 *
 *     producer thread                               consumer thread
 *     ───────────────                               ───────────────
 *     bytes[t .. t+n) = record   (plain stores)
 *              │ sequenced before
 *     Atomics.store(tail, t+n) ───synchronizes-with──► Atomics.load(tail) reads t+n
 *                                                               │ sequenced before
 *                                                    read bytes[t .. t+n)  (plain loads)
 *
 * In the JavaScript memory model (ECMA-262 §29, "Memory Model") a sequentially consistent atomic
 * store synchronizes-with the sequentially consistent atomic load that reads its value, and
 * happens-before is the transitive closure of sequenced-before (program order within one
 * thread) and synchronizes-with. So every plain store made before `publish()` happens-before
 * every plain load made after the `Atomics.load` that saw the published tail: those loads read
 * the record's bytes, not older ones, and the program is data-race-free on them. The same holds
 * the other way for `head`: the consumer's plain loads of a record are sequenced before its
 * `Atomics.store(head)`, and the producer writes over those bytes only after an `Atomics.load`
 * that saw that head, so it never overwrites bytes still being read. A stale cached index is
 * always safe: a stale head only makes the ring look fuller, a stale tail only emptier.
 *
 * Ownership. Between `reserve()` and `commit()` the reserved bytes belong to the producer. The
 * bytes passed to a `take()` callback belong to the consumer only during that call: once
 * `take()` returns they may be overwritten. Copy what must outlive the call.
 *
 * Waking a parked consumer is not the ring's job: see doorbell.ts.
 */

import { RING_ALIGN, RING_DATA, RING_HEAD, RING_RECORD_HEADER, RING_TAIL, RING_WRAP_MARK } from './layout.ts';

const HEAD = RING_HEAD >> 2;
const TAIL = RING_TAIL >> 2;

function align(n: number): number {
  return (n + RING_ALIGN - 1) & ~(RING_ALIGN - 1);
}

/** Bytes of SharedArrayBuffer a ring with `capacity` data bytes needs. */
export function ringByteLength(capacity: number): number {
  return RING_DATA + capacity;
}

/** A SharedArrayBuffer holding an empty ring of `capacity` bytes (a power of two, ≥ 64). */
export function createRing(capacity: number): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < 64 || (capacity & (capacity - 1)) !== 0 || capacity > 2 ** 30) {
    throw new RangeError(`ring capacity must be a power of two from 64 to 2^30, got ${capacity}`);
  }
  return new SharedArrayBuffer(ringByteLength(capacity));
}

/** The largest payload one record of a ring with `capacity` bytes can carry. */
export function maxPayload(capacity: number): number {
  return capacity / 2 - RING_ALIGN;
}

abstract class RingEnd {
  /** Control words: `head` at index HEAD, `tail` at index TAIL. */
  protected readonly control: Int32Array;
  /** The data region, for reading and writing payloads in place (a Buffer, for its string codecs). */
  readonly bytes: Buffer;
  /** The data region as u32 words, for record headers (record starts are 8-byte aligned). */
  protected readonly words: Uint32Array;
  readonly capacity: number;
  protected readonly mask: number;
  /** The largest payload `reserve()` accepts. */
  readonly maxPayload: number;

  constructor(buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength - RING_DATA;
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError('not a ring: the buffer does not hold a power-of-two data region');
    }
    this.control = new Int32Array(buffer, 0, RING_DATA >> 2);
    this.bytes = Buffer.from(buffer, RING_DATA, capacity);
    this.words = new Uint32Array(buffer, RING_DATA, capacity >> 2);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxPayload = maxPayload(capacity);
  }
}

/** The writing end. Use from one thread only. */
export class RingProducer extends RingEnd {
  /** Our own copy of `tail`, with every committed record: only this thread writes it. */
  #tail: number;
  /** The tail last stored to shared memory: records in [#published, #tail) are not visible yet. */
  #published: number;
  /** Last `head` seen; re-read from shared memory only when the ring looks full. */
  #head: number;
  /** Where the reserved record's header goes, or -1 when nothing is reserved. */
  #reserved = -1;
  /** Bytes skipped by a wrap marker in front of the reserved record. */
  #skip = 0;
  #reservedSize = 0;

  constructor(buffer: SharedArrayBuffer) {
    super(buffer);
    this.#tail = Atomics.load(this.control, TAIL);
    this.#published = this.#tail;
    this.#head = Atomics.load(this.control, HEAD);
  }

  /**
   * Reserves room for a record of up to `size` payload bytes. Returns the offset in `bytes`
   * where the payload goes, or -1 if the ring has no room now (try again after the consumer
   * has taken records) or `size` is over `maxPayload`.
   */
  reserve(size: number): number {
    if (size > this.maxPayload || size < 0) return -1;
    const need = align(RING_RECORD_HEADER + size);
    const position = this.#tail & this.mask;
    const untilEnd = this.capacity - position;
    const skip = need <= untilEnd ? 0 : untilEnd;
    if (!this.#fits(skip + need)) return -1;
    if (skip > 0) this.words[position >> 2] = RING_WRAP_MARK;
    const start = skip > 0 ? 0 : position;
    this.#reserved = start;
    this.#skip = skip;
    this.#reservedSize = size;
    return start + RING_RECORD_HEADER;
  }

  /**
   * Ends the reserved record with its final payload length (at most what was reserved). The
   * record is not visible to the consumer until `publish()`.
   */
  commit(size: number): void {
    if (this.#reserved < 0 || size > this.#reservedSize || size < 0) {
      throw new RangeError(`commit(${size}) does not match the reservation`);
    }
    this.words[this.#reserved >> 2] = size;
    this.#tail = (this.#tail + this.#skip + align(RING_RECORD_HEADER + size)) | 0;
    this.#reserved = -1;
  }

  /**
   * Makes every record committed since the last call visible to the consumer, with one atomic
   * store. Returns whether there was anything to publish.
   */
  publish(): boolean {
    if (this.#published === this.#tail) return false;
    this.#published = this.#tail;
    // Publishes the headers and payloads written since the last store (see "Memory order").
    Atomics.store(this.control, TAIL, this.#tail);
    return true;
  }

  /** Writes and publishes one record holding a copy of `payload`. Returns false if there is no room now. */
  push(payload: Uint8Array): boolean {
    const at = this.reserve(payload.byteLength);
    if (at < 0) return false;
    this.bytes.set(payload, at);
    this.commit(payload.byteLength);
    this.publish();
    return true;
  }

  /** Bytes free for records right now (re-reads the consumer's `head`). */
  get free(): number {
    this.#head = Atomics.load(this.control, HEAD);
    return this.capacity - ((this.#tail - this.#head) >>> 0);
  }

  #fits(bytes: number): boolean {
    if (this.capacity - ((this.#tail - this.#head) >>> 0) >= bytes) return true;
    this.#head = Atomics.load(this.control, HEAD);
    return this.capacity - ((this.#tail - this.#head) >>> 0) >= bytes;
  }
}

/** Called with each record: its payload is `bytes[offset, offset + length)`, valid during the call only. */
export type RecordVisitor = (bytes: Buffer, offset: number, length: number) => void;

/** The reading end. Use from one thread only. */
export class RingConsumer extends RingEnd {
  /** Our own copy of `head`: only this thread writes it. */
  #head: number;
  /** Last `tail` seen; re-read from shared memory only when the ring looks empty. */
  #tail: number;

  constructor(buffer: SharedArrayBuffer) {
    super(buffer);
    this.#head = Atomics.load(this.control, HEAD);
    this.#tail = Atomics.load(this.control, TAIL);
  }

  /** Whether a record is waiting (re-reads the producer's `tail` if none was known to be). */
  hasRecords(): boolean {
    if (this.#tail !== this.#head) return true;
    this.#tail = Atomics.load(this.control, TAIL);
    return this.#tail !== this.#head;
  }

  /**
   * Visits up to `max` records in order, then frees their space at once (one store of `head`
   * for the whole batch). Returns how many records were visited. If `visit` throws, the records
   * visited before it stay consumed and the one it threw on is consumed too.
   */
  take(visit: RecordVisitor, max = Infinity): number {
    // Re-read `tail` only when the cached copy is used up, and at most once per call: at the
    // start if it is, or else on reaching it, so that every record published before the call
    // is visited.
    let fresh = false;
    if (this.#tail === this.#head) {
      this.#tail = Atomics.load(this.control, TAIL);
      if (this.#tail === this.#head) return 0;
      fresh = true;
    }
    let tail = this.#tail;
    const words = this.words;
    const bytes = this.bytes;
    const mask = this.mask;
    let head = this.#head;
    let count = 0;
    try {
      while (count < max) {
        if (head === tail) {
          if (fresh) break;
          fresh = true;
          tail = this.#tail = Atomics.load(this.control, TAIL);
          if (head === tail) break;
        }
        const position = head & mask;
        const length = words[position >> 2] as number;
        if (length === RING_WRAP_MARK) {
          head = (head + this.capacity - position) | 0;
          continue;
        }
        head = (head + align(RING_RECORD_HEADER + length)) | 0;
        count++;
        visit(bytes, position + RING_RECORD_HEADER, length);
      }
    } finally {
      this.#head = head;
      // Frees the records read above (see "Memory order").
      Atomics.store(this.control, HEAD, head);
    }
    return count;
  }
}
