/**
 * Clients for the WebSocket tests: `ws` over HTTP/1.1, `ws`'s client framing over a node:http2
 * extended CONNECT stream (ws's own client only speaks HTTP/1.1), and a raw TCP connection that
 * writes frames by hand, for the malformed ones no library sends.
 */

import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import WebSocket from 'ws';

export interface Received {
  readonly data: Buffer;
  readonly isBinary: boolean;
  readonly text: string;
}

const inboxes = new WeakMap<WebSocket, Inbox>();

/**
 * The messages of a socket opened here, collected from before it opened: a message the server
 * sends in `open` may arrive with the handshake's answer and be emitted in the same tick.
 */
export function inboxOf(ws: WebSocket): Inbox {
  let inbox = inboxes.get(ws);
  if (inbox === undefined) {
    inbox = new Inbox(ws);
    inboxes.set(ws, inbox);
  }
  return inbox;
}

/** Opens a `ws` client; rejects with the HTTP status and body if the handshake is refused. */
export function openWs(url: string, protocols?: string | string[], options?: WebSocket.ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    inboxOf(ws);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => reject(Object.assign(new Error(`refused with ${res.statusCode}`), { status: res.statusCode, body, headers: res.headers })));
    });
    ws.once('error', reject);
  });
}

/** The HTTP answer to a handshake that is expected to be refused. */
export async function refusalOf(url: string, options?: WebSocket.ClientOptions, protocols?: string[]): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  try {
    const ws = await openWs(url, protocols, options);
    ws.terminate();
  } catch (thrown) {
    const refused = thrown as { status?: number; body?: string; headers?: Record<string, unknown> };
    if (refused.status !== undefined) return { status: refused.status, body: refused.body ?? '', headers: refused.headers ?? {} };
    throw thrown;
  }
  throw new Error(`the handshake to ${url} was accepted`);
}

/** Collects a socket's messages in order; `next()` waits for the next one. */
export class Inbox {
  readonly #queue: Received[] = [];
  readonly #waiting: Array<(message: Received) => void> = [];
  count = 0;

  constructor(ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.count++;
      const message = { data, isBinary, text: data.toString() };
      const waiter = this.#waiting.shift();
      if (waiter !== undefined) waiter(message);
      else this.#queue.push(message);
    });
  }

  next(timeoutMs = 10_000): Promise<Received> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message came')), timeoutMs);
      this.#waiting.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }

  get queued(): number {
    return this.#queue.length;
  }
}

/** Resolves with the code and reason a socket closes with. */
export function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

interface ClientModeSocket extends WebSocket {
  setSocket(socket: import('node:stream').Duplex, head: Buffer, options: { maxPayload: number }): void;
  _isServer: boolean;
}

/**
 * A WebSocket over HTTP/2 (RFC 8441): a CONNECT with `:protocol: websocket` on a node:http2
 * session, then ws's client framing (masked frames) over the stream. Resolves with the response
 * status and headers, and the socket when the status is 200.
 */
export async function openH2(
  session: http2.ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; ws: WebSocket | null; body: string }> {
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, ':scheme': 'http', 'sec-websocket-version': '13', ...headers });
  const response = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  const status = Number(response[':status']);
  if (status !== 200) {
    let body = '';
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    await new Promise((resolve) => stream.once('end', resolve));
    return { status, headers: response, ws: null, body };
  }
  // closeTimeout must be given: ws takes it from each socket's options, with no default here.
  const ws = new (WebSocket as unknown as new (address: null, protocols: undefined, options: object) => ClientModeSocket)(null, undefined, { closeTimeout: 30_000 });
  // A client masks what it sends and expects unmasked frames.
  ws._isServer = false;
  inboxOf(ws);
  ws.setSocket(stream, Buffer.alloc(0), { maxPayload: 64 * 1024 * 1024 });
  return { status, headers: response, ws, body: '' };
}

/** An h2c session that has received the server's SETTINGS. */
export async function h2Session(url: string): Promise<{ session: http2.ClientHttp2Session; enableConnectProtocol: boolean }> {
  const session = http2.connect(url);
  session.on('error', () => {});
  const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
  return { session, enableConnectProtocol: settings.enableConnectProtocol === true };
}

// ─── raw frames ──────────────────────────────────────────────────────────────────────────────

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** One frame as a client writes it (masked unless `mask: false`). */
export function frame(opcode: number, payload: Uint8Array = Buffer.alloc(0), options: { fin?: boolean; mask?: boolean; rsv?: number } = {}): Buffer {
  const fin = options.fin ?? true;
  const mask = options.mask ?? true;
  const length = payload.byteLength;
  const head: number[] = [(fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 65536) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    head.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  const key = mask ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (mask) for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** A close frame's payload: the code and a UTF-8 reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const out = Buffer.alloc(2 + Buffer.byteLength(reason));
  out.writeUInt16BE(code, 0);
  out.write(reason, 2);
  return out;
}

/** A raw HTTP/1.1 connection that has completed a WebSocket handshake to `path`. */
export class RawSocket {
  readonly socket: net.Socket;
  #buffered = Buffer.alloc(0);
  #ended = false;
  readonly #waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    const end = (): void => {
      this.#ended = true;
      for (const wake of this.#waiters.splice(0)) wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => {});
  }

  static async open(port: number, path: string): Promise<RawSocket> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const raw = new RawSocket(socket);
    const key = randomBytes(16).toString('base64');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const head = await raw.#until((bytes) => {
      const end = bytes.indexOf('\r\n\r\n');
      return end === -1 ? null : end + 4;
    });
    if (!head.toString().startsWith('HTTP/1.1 101')) throw new Error(`handshake refused: ${head.toString()}`);
    return raw;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next server frame: opcode and (unmasked) payload; null if the connection ended first. */
  async nextFrame(): Promise<{ opcode: number; payload: Buffer } | null> {
    try {
      const bytes = await this.#until((buffered) => {
        if (buffered.length < 2) return null;
        let length = (buffered[1] as number) & 0x7f;
        let at = 2;
        if (length === 126) {
          if (buffered.length < 4) return null;
          length = buffered.readUInt16BE(2);
          at = 4;
        } else if (length === 127) {
          if (buffered.length < 10) return null;
          length = Number(buffered.readBigUInt64BE(2));
          at = 10;
        }
        return buffered.length >= at + length ? at + length : null;
      });
      let at = 2;
      const short = (bytes[1] as number) & 0x7f;
      if (short === 126) at = 4;
      else if (short === 127) at = 10;
      return { opcode: (bytes[0] as number) & 0x0f, payload: bytes.subarray(at) };
    } catch {
      return null;
    }
  }

  /** The close code the server sends (skipping other frames), or null if it just hung up. */
  async closeCode(): Promise<number | null> {
    for (;;) {
      const next = await this.nextFrame();
      if (next === null) return null;
      if (next.opcode === Opcode.CLOSE) return next.payload.length >= 2 ? next.payload.readUInt16BE(0) : 1005;
    }
  }

  /** Resolves once the server has ended the connection. */
  async ended(): Promise<void> {
    while (!this.#ended) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async #until(complete: (buffered: Buffer) => number | null): Promise<Buffer> {
    for (;;) {
      const end = complete(this.#buffered);
      if (end !== null) {
        const taken = this.#buffered.subarray(0, end);
        this.#buffered = this.#buffered.subarray(end);
        return taken;
      }
      if (this.#ended) throw new Error('the connection ended');
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}
