/**
 * A pinned worker's connections: every socket it accepts (from its own listener or handed over
 * by the acceptor) goes through the protocol sniff or the TLS front to an engine, and is tracked
 * until it closes, so a graceful shutdown knows what is left and can cut it at the deadline.
 */

import type http2 from 'node:http2';
import type net from 'node:net';
import { createTlsFront, sniffCleartext, type Engines, type TlsConfig } from '../protocol/connection.ts';

/** How long a connection that has sent nothing may stay open once shutdown has begun, in ms. */
const SILENT_WHILE_DRAINING_MS = 1_000;
/**
 * How long idle HTTP/1.1 keep-alive connections stay open once a drain has begun, in ms. A client
 * that sends its next request meanwhile is answered, with `connection: close`; closing an idle
 * connection at once would race with a request already on its way, which the client sees as a
 * connection closed under it (most clients do not retry then). Connections still idle after this
 * are closed.
 */
const IDLE_WHILE_DRAINING_MS = 250;
export class WorkerConnections {
  readonly #engines: Engines;
  readonly #sessions: Set<http2.ServerHttp2Session>;
  readonly #tlsFront: ReturnType<typeof createTlsFront> | null;
  /** How long a connection may take to show its protocol (and a TLS handshake to finish), in ms. */
  readonly #sniffTimeout: number;
  /** Every raw connection this worker owns, until it closes. */
  readonly #open = new Set<net.Socket>();
  /** Cleartext connections whose protocol is not known yet (no request can be in flight). */
  readonly #sniffing = new Set<net.Socket>();
  /** Set while draining: called when the last connection has closed. */
  #onAllClosed: (() => void) | undefined;

  constructor(engines: Engines, sessions: Set<http2.ServerHttp2Session>, tls: TlsConfig | null, sniffTimeout: number) {
    this.#engines = engines;
    this.#sessions = sessions;
    this.#tlsFront = tls === null ? null : createTlsFront(tls, engines, sniffTimeout);
    this.#sniffTimeout = sniffTimeout;
  }

  /** Takes a freshly accepted socket. */
  accept(socket: net.Socket): void {
    this.#open.add(socket);
    socket.once('close', () => {
      this.#open.delete(socket);
      this.#sniffing.delete(socket);
      if (this.#open.size === 0) this.#onAllClosed?.();
    });
    if (this.#tlsFront !== null) {
      this.#tlsFront.emit('connection', socket);
    } else {
      this.#sniffing.add(socket);
      sniffCleartext(socket, this.#engines, this.#sniffTimeout, () => this.#sniffing.delete(socket));
    }
  }

  /**
   * Graceful shutdown of the connections (the listener is closed already): GOAWAY every HTTP/2
   * session (open streams finish; a client opens its next ones on a new connection, and what it
   * had not sent yet it may retry there, RFC 9113 8.7), close idle HTTP/1.1 connections after `IDLE_WHILE_DRAINING_MS`
   * (busy ones close after their response), then wait for the last connection to go, at most `graceMs`, and cut what is left.
   * Resolves with how many were cut.
   */
  async drain(graceMs: number): Promise<number> {
    // Connections not yet past their first bytes get a short while to send a request (it will
    // be served); one that stays silent had nothing in flight and is closed.
    for (const socket of this.#sniffing) socket.setTimeout(Math.min(SILENT_WHILE_DRAINING_MS, graceMs), () => socket.destroy());
    for (const session of this.#sessions) session.close();
    const idle = setTimeout(() => this.#engines.h1.closeIdleConnections(), Math.min(IDLE_WHILE_DRAINING_MS, graceMs));
    if (this.#open.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#onAllClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    clearTimeout(idle);
    const forced = this.#open.size;
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#open) socket.destroy();
    this.#engines.h1.close(() => {});
    this.#engines.h2.close(() => {});
    return forced;
  }
}
