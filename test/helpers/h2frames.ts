/**
 * Raw HTTP/2 for tests that must send what a real client never would: frames built by hand
 * (RFC 9113 §4) and header blocks in the simplest HPACK form (RFC 7541 §6.2.2, literal without
 * indexing, no Huffman), and a parser for what the server answers.
 */

import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0), lengthOverride?: number): Buffer {
  const head = Buffer.alloc(9);
  const length = lengthOverride ?? payload.length;
  head.writeUIntBE(length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an `prefix`-bit prefix (RFC 7541 §5.1), first byte ORed with `high`. */
export function hpackInteger(value: number, prefix: number, high = 0): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([high | value]);
  const bytes = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function hpackString(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return Buffer.concat([hpackInteger(bytes.length, 7), bytes]);
}

/** A header block: every field a literal without indexing, with a new name. */
export function headerBlock(fields: ReadonlyArray<readonly [string | Buffer, string | Buffer]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

export const GET = (path = '/hello'): Array<[string, string]> => [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', 'localhost'],
];

export const settings = (entries: ReadonlyArray<readonly [number, number]> = []): Buffer => {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
};
export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);
export const headers = (streamId: number, block: Buffer, flags: number = Flag.END_HEADERS | Flag.END_STREAM): Buffer =>
  frame(FrameType.HEADERS, flags, streamId, block);
export const continuation = (streamId: number, block: Buffer, flags: number = Flag.END_HEADERS): Buffer =>
  frame(FrameType.CONTINUATION, flags, streamId, block);
export const data = (streamId: number, payload: Buffer, flags: number = Flag.END_STREAM): Buffer => frame(FrameType.DATA, flags, streamId, payload);
export const rstStream = (streamId: number, code = 8 /* CANCEL */): Buffer => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
};
export const ping = (ack = false, payload: Buffer = Buffer.alloc(8, 7)): Buffer => frame(FrameType.PING, ack ? Flag.ACK : 0, 0, payload);
export const windowUpdate = (streamId: number, increment: number): Buffer => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment >>> 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
};
export const priority = (streamId: number, dependsOn: number): Buffer => {
  const payload = Buffer.alloc(5);
  payload.writeUInt32BE(dependsOn >>> 0);
  payload[4] = 15;
  return frame(FrameType.PRIORITY, 0, streamId, payload);
};

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Splits received bytes into frames (an incomplete tail is left out). */
export function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({ type: bytes[at + 3] as number, flags: bytes[at + 4] as number, streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff, payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

/** The `:status` of a response header block, when the server sent it in one of the usual forms. */
export function responseStatus(block: Buffer): number | null {
  const first = block[0] as number;
  // Indexed fields from the static table (RFC 7541 Appendix A), 8..14.
  const indexed: Record<number, number> = { 0x88: 200, 0x89: 204, 0x8a: 206, 0x8b: 304, 0x8c: 400, 0x8d: 404, 0x8e: 500 };
  if (indexed[first] !== undefined) return indexed[first] as number;
  // A literal whose name is static entry 8..14 (":status"), value a 3-digit string.
  const name = (first & 0xc0) === 0x40 ? first & 0x3f : (first & 0xf0) === 0x00 || (first & 0xf0) === 0x10 ? first & 0x0f : -1;
  if (name >= 8 && name <= 14 && ((block[1] as number) & 0x80) === 0) {
    const length = (block[1] as number) & 0x7f;
    return Number(block.subarray(2, 2 + length).toString('latin1'));
  }
  return null;
}

export interface H2Exchange {
  readonly frames: Frame[];
  /** The server closed (or reset) the connection. */
  readonly closed: boolean;
}

/**
 * Connects, sends `chunks` (the preface is not added), and collects the server's frames until
 * it closes the connection, `until` holds, or `waitMs` passes.
 */
export function h2Exchange(port: number, chunks: readonly Buffer[], waitMs = 1_000, until?: (frames: Frame[]) => boolean): Promise<H2Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let closed = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ frames: parseFrames(received), closed });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('connect', () => {
      for (const chunk of chunks) if (!socket.destroyed) socket.write(chunk);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (until?.(parseFrames(received))) finish();
    });
    socket.on('error', () => {
      closed = true;
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
  });
}

export function goawayCode(frames: readonly Frame[]): number | null {
  const goaway = frames.find((f) => f.type === FrameType.GOAWAY);
  return goaway === undefined ? null : goaway.payload.readUInt32BE(4);
}
