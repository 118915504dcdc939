/**
 * What the topic bus tests and their workers share: messages that say who published them, when,
 * and on which topic, with a checksum over all of it, so that a lost, duplicated, reordered,
 * misrouted or corrupted message cannot pass for a good one.
 *
 *   binary: 0 u32 publisher  4 u32 incarnation  8 u32 seq  12 u32 checksum  16 filler bytes
 *   text:   "publisher|incarnation|seq|checksum|filler", the filler mixing ASCII with 2- and
 *           3-byte UTF-8 characters
 *   checksum: FNV-1a over the topic's UTF-16 units, the three numbers and the filler
 */

import { pattern, prng } from './ring-support.ts';

export interface Stamp {
  readonly publisher: number;
  readonly incarnation: number;
  readonly seq: number;
}

const FNV_OFFSET = 0x811c_9dc5;

function fnvUnits(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x0100_0193);
  }
  return h >>> 0;
}

function fnvBytes(h: number, bytes: Uint8Array, from: number): number {
  for (let i = from; i < bytes.byteLength; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x0100_0193);
  }
  return h >>> 0;
}

function stampHash(topic: string, stamp: Stamp): number {
  return fnvUnits(FNV_OFFSET, `${topic}|${stamp.publisher}|${stamp.incarnation}|${stamp.seq}`);
}

/** Characters of the text filler: ASCII and 2- and 3-byte UTF-8 (no surrogates, so any slice of it is valid text). */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789 éüßñ€中文字ПрΩ';

let fillerBase = '';
/** `length` UTF-16 units of text filler, starting at a place chosen by `seed`. */
function textFiller(seed: number, length: number): string {
  if (fillerBase.length === 0) {
    const next = prng(0x5eed);
    const units: string[] = [];
    for (let i = 0; i < 1 << 16; i++) units.push(ALPHABET[next() % ALPHABET.length] as string);
    fillerBase = units.join('');
  }
  let out = '';
  let at = seed % fillerBase.length;
  while (out.length < length) {
    out += fillerBase.slice(at, at + length - out.length);
    at = 0;
  }
  return out;
}

/** A message of about `size` bytes of filler, text or binary, carrying `stamp` and a checksum bound to `topic`. */
export function makeMessage(topic: string, stamp: Stamp, size: number, text: boolean): string | Uint8Array {
  const seed = (stamp.publisher * 7919 + stamp.seq * 104_729 + stamp.incarnation) >>> 0;
  if (text) {
    const filler = textFiller(seed, size);
    const checksum = fnvUnits(stampHash(topic, stamp), filler);
    return `${stamp.publisher}|${stamp.incarnation}|${stamp.seq}|${checksum}|${filler}`;
  }
  const bytes = Buffer.alloc(16 + size);
  pattern(seed, size).copy(bytes, 16);
  bytes.writeUInt32LE(stamp.publisher, 0);
  bytes.writeUInt32LE(stamp.incarnation, 4);
  bytes.writeUInt32LE(stamp.seq, 8);
  bytes.writeUInt32LE(fnvBytes(stampHash(topic, stamp), bytes, 16), 12);
  return bytes;
}

/** The stamp of a message that arrived on `topic`, or why it is not a good one. */
export function checkMessage(topic: string, data: string | Uint8Array): Stamp | string {
  if (typeof data === 'string') {
    const parts = data.split('|');
    if (parts.length < 5) return `text message without its fields: ${JSON.stringify(data.slice(0, 40))}`;
    const stamp = { publisher: Number(parts[0]), incarnation: Number(parts[1]), seq: Number(parts[2]) };
    const filler = parts.slice(4).join('|');
    if (fnvUnits(stampHash(topic, stamp), filler) !== Number(parts[3])) return `bad checksum on text ${JSON.stringify(stamp)} on ${topic}`;
    return stamp;
  }
  if (!(data instanceof Uint8Array) || data.byteLength < 16) return 'binary message too short';
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stamp = { publisher: view.readUInt32LE(0), incarnation: view.readUInt32LE(4), seq: view.readUInt32LE(8) };
  if (fnvBytes(stampHash(topic, stamp), view, 16) !== view.readUInt32LE(12)) return `bad checksum on bytes ${JSON.stringify(stamp)} on ${topic}`;
  return stamp;
}

/**
 * The filler size and kind of message `seq` from `publisher`: mostly small, some of tens of KiB,
 * and every 97th larger than one record of the default ring (up to about 1 MiB), text or binary.
 */
export function messageShape(publisher: number, seq: number, bigEvery = 97): { size: number; text: boolean } {
  const next = prng((publisher + 1) * 0x9e37_79b9 + seq * 0x85eb_ca6b);
  const roll = next();
  const text = (roll & 1) === 0;
  if (bigEvery > 0 && seq % bigEvery === bigEvery - 1) return { size: 140_000 + (next() % 900_000), text };
  if (roll % 16 === 0) return { size: 2_000 + (next() % 40_000), text };
  return { size: next() % 1_500, text };
}

/** The key under which a subscriber counts what it got from one incarnation of one publisher. */
export function sourceKey(publisher: number, incarnation: number): string {
  return `${publisher}/${incarnation}`;
}

/**
 * What a bus on the test's own thread is delivered, in order, and a way to await the next
 * deliveries. The deadline timer also keeps the event loop alive, which a doorbell's pending
 * Atomics.waitAsync does not.
 */
export class Inbox {
  readonly items: Array<readonly [string, string | Buffer]> = [];
  #waiter: { readonly count: number; readonly resolve: () => void } | null = null;

  readonly deliver = (topic: string, data: string | Buffer): void => {
    this.items.push([topic, data]);
    if (this.#waiter !== null && this.items.length >= this.#waiter.count) this.#waiter.resolve();
  };

  /** Resolves once `count` messages in all have been delivered; rejects after `ms`. */
  async reach(count: number, ms = 20_000): Promise<void> {
    if (this.items.length >= count) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#waiter = { count, resolve };
        timer = setTimeout(() => reject(new Error(`${this.items.length} of ${count} messages delivered after ${ms} ms`)), ms);
      });
    } finally {
      this.#waiter = null;
      clearTimeout(timer);
    }
  }
}

/** Lets the event loop turn `turns` times (setImmediate), so that the buses on this thread step. */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
