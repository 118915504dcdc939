/**
 * The records of the topic bus, written straight into ring memory and read from it in place.
 * A published message is one MESSAGE record, or, when it is larger than one record can carry, a
 * MESSAGE record with the start of its data and CHUNK records with the rest, back to back on the
 * ring (a publisher finishes one message on a ring before it starts the next):
 *
 * MESSAGE
 *     0  u8  kind       TopicRecordKind.MESSAGE
 *     1  u8  flags      TOPIC_FLAG_TEXT: the data is a string's UTF-8 (delivered as a string;
 *                       else as bytes); TOPIC_FLAG_MORE: CHUNK records with the rest follow
 *     2  u16 topicBytes the topic's UTF-8 length
 *     4  u32 dataBytes  the whole message's data length, this record's and the chunks'
 *     8  topic (UTF-8), then the first data bytes: all of them, or as many as the record holds
 * CHUNK
 *     0  u8  kind       TopicRecordKind.CHUNK
 *     1  u8  flags      TOPIC_FLAG_MORE: more CHUNK records follow
 *     2  u16 (zero)
 *     4  u32 offset     where in the message's data these bytes go (a check on the sequence)
 *     8  data bytes
 *
 * All integers are little-endian. Text travels as UTF-8, so a string with a lone surrogate (not
 * valid Unicode) arrives with U+FFFD in its place, as it would over a WebSocket. A ring of
 * capacity C carries up to C / 2 − 8 payload bytes per record (ring.ts), so with the default
 * 256 KiB ring a message of up to 128 KiB less its topic and 16 bytes travels as one record.
 */

import type { RingProducer } from './ring.ts';

export const TopicRecordKind = {
  MESSAGE: 1,
  CHUNK: 2,
} as const;

export const TOPIC_FLAG_TEXT = 1;
export const TOPIC_FLAG_MORE = 2;
/** Bytes before a record's topic (MESSAGE) or data (CHUNK). */
export const TOPIC_PREFIX = 8;
/** The longest topic, in UTF-8 bytes (its length is a u16); a ring may allow less (`maxTopicBytes`). */
export const MAX_TOPIC_BYTES = 0xffff;
/** The smallest piece of a large message worth a record when the ring is nearly full. */
const MIN_CHUNK = 4096;

/** The longest topic a ring can carry: its MESSAGE record must hold the topic at least. */
export function maxTopicBytes(ring: RingProducer): number {
  return Math.min(MAX_TOPIC_BYTES, ring.maxPayload - TOPIC_PREFIX);
}

/**
 * A message that waits in an outbox, or that is too large for one record. One object serves
 * every destination it is queued for: it holds its own copy of the data, never the caller's
 * buffer, and the UTF-8 bytes of a string are made once, the first time they are needed.
 */
export class TopicMessage {
  readonly topic: string;
  readonly topicBytes: number;
  readonly text: boolean;
  /** A string, or bytes that belong to this message. */
  readonly data: string | Buffer;
  readonly dataBytes: number;
  #bytes: Buffer | null;

  constructor(topic: string, topicBytes: number, data: string | Uint8Array, dataBytes: number) {
    this.topic = topic;
    this.topicBytes = topicBytes;
    this.text = typeof data === 'string';
    this.data = typeof data === 'string' ? data : Buffer.from(data);
    this.dataBytes = dataBytes;
    this.#bytes = typeof this.data === 'string' ? null : this.data;
  }

  /** What the message counts against an outbox's byte bound. */
  get size(): number {
    return this.topicBytes + this.dataBytes;
  }

  /** The data as bytes (a string's UTF-8, made once). */
  bytes(): Buffer {
    this.#bytes ??= Buffer.from(this.data as string, 'utf8');
    return this.#bytes;
  }
}

/** Whether a message with this much topic and data fits one record of `ring`. */
export function fitsOneRecord(ring: RingProducer, topicBytes: number, dataBytes: number): boolean {
  return TOPIC_PREFIX + topicBytes + dataBytes <= ring.maxPayload;
}

function writePrefix(bytes: Buffer, at: number, kind: number, flags: number, u16: number, u32: number): void {
  bytes[at] = kind;
  bytes[at + 1] = flags;
  bytes.writeUInt16LE(u16, at + 2);
  bytes.writeUInt32LE(u32, at + 4);
}

/**
 * Commits a whole message as one MESSAGE record (it must pass `fitsOneRecord`), writing the
 * string or bytes straight into ring memory. Returns false when the ring has no room now.
 */
export function writeWhole(
  ring: RingProducer,
  topic: string,
  topicBytes: number,
  data: string | Uint8Array,
  dataBytes: number,
): boolean {
  const size = TOPIC_PREFIX + topicBytes + dataBytes;
  const start = ring.reserve(size);
  if (start < 0) return false;
  const bytes = ring.bytes;
  const text = typeof data === 'string';
  writePrefix(bytes, start, TopicRecordKind.MESSAGE, text ? TOPIC_FLAG_TEXT : 0, topicBytes, dataBytes);
  const at = start + TOPIC_PREFIX;
  if (topicBytes > 0) bytes.write(topic, at, topicBytes, 'utf8');
  if (dataBytes > 0) {
    if (text) bytes.write(data, at + topicBytes, dataBytes, 'utf8');
    else bytes.set(data, at + topicBytes);
  }
  ring.commit(size);
  return true;
}

/**
 * Reserves a record of `fixed` bytes and up to `wanted` more: as many as one record holds, or,
 * when the ring has no room for that, what half its free space holds (the other half may be
 * lost to a wrap), but not slivers, which would only multiply records. Returns how many of the
 * `wanted` bytes were reserved, or -1 for no room now; the record starts at `reservedAt`.
 */
let reservedAt = 0;
function reserveSome(ring: RingProducer, fixed: number, wanted: number): number {
  let size = Math.min(wanted, ring.maxPayload - fixed);
  let start = ring.reserve(fixed + size);
  if (start < 0) {
    size = Math.min(wanted, (ring.free >> 1) - fixed - 8);
    if (size < Math.min(wanted, MIN_CHUNK)) return -1;
    start = ring.reserve(fixed + size);
    if (start < 0) return -1;
  }
  reservedAt = start;
  return size;
}

/**
 * Commits the MESSAGE record of a message too large for one record: its topic and the first
 * data bytes. Returns how many data bytes it carries (the rest goes with `writeChunk`), or -1
 * when the ring has no room now.
 */
export function writeHead(ring: RingProducer, message: TopicMessage): number {
  const fixed = TOPIC_PREFIX + message.topicBytes;
  const size = reserveSome(ring, fixed, message.dataBytes);
  if (size < 0) return -1;
  const bytes = ring.bytes;
  const start = reservedAt;
  const flags = (message.text ? TOPIC_FLAG_TEXT : 0) | (size < message.dataBytes ? TOPIC_FLAG_MORE : 0);
  writePrefix(bytes, start, TopicRecordKind.MESSAGE, flags, message.topicBytes, message.dataBytes);
  if (message.topicBytes > 0) bytes.write(message.topic, start + TOPIC_PREFIX, message.topicBytes, 'utf8');
  bytes.set(message.bytes().subarray(0, size), start + fixed);
  ring.commit(fixed + size);
  return size;
}

/** Commits the next CHUNK record of `data` from `offset`. Returns the new offset, or -1 when the ring has no room now. */
export function writeChunk(ring: RingProducer, data: Uint8Array, offset: number): number {
  const size = reserveSome(ring, TOPIC_PREFIX, data.byteLength - offset);
  if (size < 0) return -1;
  const end = offset + size;
  writePrefix(ring.bytes, reservedAt, TopicRecordKind.CHUNK, end < data.byteLength ? TOPIC_FLAG_MORE : 0, 0, offset);
  ring.bytes.set(data.subarray(offset, end), reservedAt + TOPIC_PREFIX);
  ring.commit(TOPIC_PREFIX + size);
  return end;
}

// ── reading ──

export function recordKind(bytes: Buffer, offset: number): number {
  return bytes[offset] as number;
}

export function recordFlags(bytes: Buffer, offset: number): number {
  return bytes[offset + 1] as number;
}

/** What a MESSAGE record says, filled in place by `readHead` (one object per reader, reused). */
export interface TopicHead {
  topic: string;
  text: boolean;
  more: boolean;
  /** The whole message's data length. */
  dataBytes: number;
  /** Where this record's data bytes are in the ring's `bytes`: [dataStart, dataEnd). */
  dataStart: number;
  dataEnd: number;
}

export function emptyHead(): TopicHead {
  return { topic: '', text: false, more: false, dataBytes: 0, dataStart: 0, dataEnd: 0 };
}

/** Reads a MESSAGE record's fields into `head`; the topic is decoded, the data is left in place. */
export function readHead(bytes: Buffer, offset: number, length: number, head: TopicHead): void {
  const flags = bytes[offset + 1] as number;
  const topicBytes = bytes.readUInt16LE(offset + 2);
  const topicStart = offset + TOPIC_PREFIX;
  head.text = (flags & TOPIC_FLAG_TEXT) !== 0;
  head.more = (flags & TOPIC_FLAG_MORE) !== 0;
  head.dataBytes = bytes.readUInt32LE(offset + 4);
  head.topic = topicBytes === 0 ? '' : bytes.toString('utf8', topicStart, topicStart + topicBytes);
  head.dataStart = topicStart + topicBytes;
  head.dataEnd = offset + length;
}

/** A CHUNK record's offset in its message's data. */
export function chunkOffset(bytes: Buffer, offset: number): number {
  return bytes.readUInt32LE(offset + 4);
}
