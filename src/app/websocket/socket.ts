/**
 * The WebSocket a route's callbacks get (`ws`): one open connection on this pinned isolate, over
 * HTTP/1.1 or an HTTP/2 stream alike. Framing, masking, UTF-8 checks, fragmentation, ping/pong and
 * permessage-deflate are ws's (ws-lib.ts); what is here is the server's policy around it:
 *
 * - Before the handshake is answered (while `open` runs), sends are kept and go out, in order,
 *   once the socket is open; if `open` refuses the socket they are dropped with it.
 * - Send buffer: `send` returns false once more than `sendBufferLimit` bytes wait to go out (the
 *   message is still queued) and the route's `drain` runs when the buffer is back under the limit.
 *   A send that would take the buffer past twice the limit is not queued: the socket is closed
 *   with 1008 (a client that does not read, or an app that ignores `false`), so one slow reader
 *   cannot hold unbounded memory. Published messages follow the same rule.
 * - Idle: with `idleTimeout`, a socket that has sent nothing (no message, ping or pong) for half of
 *   it is pinged; if it stays silent for the other half it is cut (its client sees 1006).
 * - Closing: `close(code, reason)` starts the closing handshake; the route's `close` runs once,
 *   whoever closed and however (1006 when the connection just ended).
 * - Published messages are corked: the first delivery to a socket in a turn corks its connection,
 *   and every socket corked in that turn is uncorked together once the turn's synchronous work is
 *   done (`process.nextTick`), so the messages one turn publishes to a socket leave in one write
 *   instead of one system call each — what uWebSockets does for every callback. Fan-out is where
 *   it counts: a publisher's burst reaches each of a thousand subscribers in one write apiece.
 */

import type { Duplex } from 'node:stream';
import type { IncomingHeaders, IsolateInfo, Query } from '../request.ts';
import type { Subscriber, Topics } from './topics.ts';
import { OPEN, type LibSocket } from './ws-lib.ts';

/** What the socket needs of its route and isolate. */
export interface SocketSettings {
  readonly sendBufferLimit: number;
  readonly idleTimeout: number;
  readonly topics: Topics<ServerWebSocket>;
  /** Called after each message the socket was sent would fit again under the limit. */
  readonly onDrain: (ws: ServerWebSocket) => void;
  /** Called once when the socket has closed, with the code and reason it closed with. */
  readonly onClose: (ws: ServerWebSocket, code: number, reason: string) => void;
}

/** The message types `send` takes: a string goes as text, bytes as binary. */
export type SocketData = string | Uint8Array | ArrayBuffer;

type State = 'opening' | 'open' | 'closed';

export class ServerWebSocket<Data = unknown> implements Subscriber {
  /** Path params of the route, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The handshake's header fields. */
  readonly headers: IncomingHeaders;
  /** The isolate holding the socket (always a pinned one). */
  readonly isolate: IsolateInfo;
  /** `http/1.1` (an Upgrade) or `h2` (an extended CONNECT on an HTTP/2 stream, RFC 8441). */
  readonly transport: 'http/1.1' | 'h2';
  /** The subprotocol agreed in the handshake, '' for none. */
  readonly protocol: string;
  /** Whatever the app keeps for this connection (set it in `open`). */
  data: Data = undefined as Data;

  readonly #query: () => Query;
  readonly #settings: SocketSettings;
  readonly #topics = new Set<string>();
  #state: State = 'opening';
  #lib: LibSocket | null = null;
  #pending: Array<{ data: SocketData; binary: boolean; compress: boolean }> = [];
  /** The buffer went over the limit: `drain` is owed once it is back under. */
  #owesDrain = false;
  #lastHeard = 0;
  #pinged = false;
  #idleTimer: NodeJS.Timeout | null = null;
  /** Where a close before the handshake was answered leaves its code and reason for `open`'s caller. */
  #closedEarly: { code: number; reason: string } | null = null;
  /** The connection the frames go out on, once attached. */
  #wire: Duplex | null = null;
  /** Corked for this turn's deliveries; uncorked by `uncorkTurn`. */
  #corked = false;

  /** Sockets corked in this turn, in the order they were first delivered to. */
  static #corkedThisTurn: ServerWebSocket[] = [];

  /** Uncorks every socket corked in the turn that is ending: each writes what it was delivered. */
  static #uncorkTurn(): void {
    const sockets = ServerWebSocket.#corkedThisTurn;
    ServerWebSocket.#corkedThisTurn = [];
    for (const socket of sockets) {
      socket.#corked = false;
      socket.#wire?.uncork();
    }
  }

  constructor(
    params: Readonly<Record<string, string>>,
    query: () => Query,
    headers: IncomingHeaders,
    isolate: IsolateInfo,
    transport: 'http/1.1' | 'h2',
    protocol: string,
    settings: SocketSettings,
  ) {
    this.params = params;
    this.#query = query;
    this.headers = headers;
    this.isolate = isolate;
    this.transport = transport;
    this.protocol = protocol;
    this.#settings = settings;
  }

  /** The query string's parameters. */
  get query(): Query {
    return this.#query();
  }

  /** Bytes queued to go out and not yet taken by the connection. */
  get bufferedAmount(): number {
    if (this.#lib === null) {
      let total = 0;
      for (const item of this.#pending) total += sizeOf(item.data);
      return total;
    }
    return this.#lib.bufferedAmount;
  }

  /** Whether the socket is open (or opening: sends are kept until it is). */
  get isOpen(): boolean {
    return this.#state !== 'closed';
  }

  /** The topics this socket is subscribed to. */
  get topics(): readonly string[] {
    return [...this.#topics];
  }

  /**
   * Sends a message: a string as text, bytes as binary. Returns false when the send buffer is
   * over `sendBufferLimit` (wait for `drain`), or when the socket is closed (nothing is sent).
   */
  send(data: SocketData, options?: { readonly compress?: boolean }): boolean {
    return this.#send(data, typeof data !== 'string', options?.compress ?? true);
  }

  #send(data: SocketData, binary: boolean, compress: boolean): boolean {
    if (this.#state === 'closed') return false;
    const limit = this.#settings.sendBufferLimit;
    const size = sizeOf(data);
    const buffered = this.bufferedAmount;
    if (buffered + size > 2 * limit) {
      this.close(1008, 'send buffer overflow');
      return false;
    }
    if (this.#lib === null) this.#pending.push({ data, binary, compress });
    else this.#lib.send(data, { binary, compress });
    if (buffered + size > limit) {
      this.#owesDrain = true;
      return false;
    }
    return true;
  }

  /** Starts the closing handshake with `code` (1000 by default) and `reason` (at most 123 bytes). */
  close(code = 1000, reason = ''): void {
    if (this.#state === 'closed') return;
    if (this.#lib === null) {
      this.#closedEarly ??= { code, reason };
      return;
    }
    try {
      this.#lib.close(code, reason);
    } catch (thrown) {
      // An invalid code or a reason over 123 bytes: the app's mistake, reported to it.
      throw new RangeError(`cannot close a WebSocket with code ${code}: ${(thrown as Error).message}`);
    }
  }

  /** Cuts the connection without a closing handshake (the client sees 1006). */
  terminate(): void {
    if (this.#lib === null) {
      this.#closedEarly ??= { code: 1006, reason: '' };
      return;
    }
    this.#lib.terminate();
  }

  /** Listens to `topic`; false if it did already. */
  subscribe(topic: string): boolean {
    if (this.#state === 'closed') return false;
    if (!this.#settings.topics.subscribe(this, topic)) return false;
    this.#topics.add(topic);
    return true;
  }

  /** Stops listening to `topic`; false if it did not. */
  unsubscribe(topic: string): boolean {
    if (!this.#topics.delete(topic)) return false;
    this.#settings.topics.unsubscribe(this, topic);
    return true;
  }

  isSubscribed(topic: string): boolean {
    return this.#topics.has(topic);
  }

  /** Publishes to every subscriber of `topic` on every isolate, except this socket. */
  publish(topic: string, data: string | Uint8Array): void {
    this.#settings.topics.publish(topic, typeof data === 'string' ? data : asBytes(data), this as ServerWebSocket);
  }

  /** From the topic registry: a published message for this socket, already encoded. */
  deliver(bytes: Uint8Array, text: boolean): void {
    if (!this.#corked && this.#wire !== null && this.#state === 'open') {
      this.#corked = true;
      this.#wire.cork();
      if (ServerWebSocket.#corkedThisTurn.push(this) === 1) process.nextTick(ServerWebSocket.#uncorkTurn);
    }
    this.#send(bytes, !text, true);
  }

  // ─── the server's side ─────────────────────────────────────────────────────────────────────

  /** How `open` left the socket, for the handshake: closed from inside `open`, or null. */
  get closedEarly(): { code: number; reason: string } | null {
    return this.#closedEarly;
  }

  /**
   * The handshake is answered: `lib` carries the frames from now on. Sends made while opening
   * go out first, in order.
   */
  attach(lib: LibSocket, onMessage: (data: Buffer, isBinary: boolean) => void): void {
    this.#lib = lib;
    this.#state = 'open';
    this.#lastHeard = Date.now();
    const heard = (): void => {
      this.#lastHeard = Date.now();
      this.#pinged = false;
    };
    lib.on('message', (data: Buffer, isBinary: boolean) => {
      heard();
      onMessage(data, isBinary);
    });
    lib.on('ping', heard);
    lib.on('pong', heard);
    // ws reports protocol errors (and closes with the RFC's code) through 'error'; the close
    // that follows is what the app hears.
    lib.on('error', () => {});
    lib.once('close', (code: number, reason: Buffer) => this.#closed(code, reason.toString()));
    const socket = (lib as unknown as { _socket: Duplex | null })._socket;
    this.#wire = socket;
    socket?.on('drain', () => this.#maybeDrain());
    const pending = this.#pending;
    this.#pending = [];
    for (const item of pending) lib.send(item.data, { binary: item.binary, compress: item.compress });
    if (this.#settings.idleTimeout > 0) this.#armIdle(Math.max(1, Math.floor(this.#settings.idleTimeout / 2)));
    this.#maybeDrain();
  }

  /** The handshake was refused or the client left before it: the route's `close` does not run. */
  abandon(): void {
    this.#state = 'closed';
    this.#pending = [];
    for (const topic of this.#topics) this.#settings.topics.unsubscribe(this, topic);
    this.#topics.clear();
  }

  #maybeDrain(): void {
    if (!this.#owesDrain || this.#state !== 'open') return;
    if (this.bufferedAmount > this.#settings.sendBufferLimit) return;
    this.#owesDrain = false;
    this.#settings.onDrain(this);
  }

  /** Checks for silence `delay` ms from now: ping after half the idle timeout, cut after all of it. */
  #armIdle(delay: number): void {
    const half = Math.max(1, Math.floor(this.#settings.idleTimeout / 2));
    this.#idleTimer = setTimeout(() => {
      if (this.#state !== 'open' || this.#lib === null) return;
      const silent = Date.now() - this.#lastHeard;
      if (silent < half) {
        this.#armIdle(half - silent);
      } else if (this.#pinged) {
        this.#lib.terminate();
      } else {
        this.#pinged = true;
        this.#lib.ping();
        this.#armIdle(half);
      }
    }, delay);
    this.#idleTimer.unref();
  }

  #closed(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    for (const topic of this.#topics) this.#settings.topics.unsubscribe(this, topic);
    this.#topics.clear();
    this.#settings.onClose(this, code, reason);
  }
}

function sizeOf(data: SocketData): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

function asBytes(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}
