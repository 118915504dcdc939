/**
 * A request to open a WebSocket, as either engine received it: an HTTP/1.1 request with
 * `Upgrade: websocket` (which Node's HTTP server hands over as the raw socket), or an HTTP/2
 * extended CONNECT with `:protocol: websocket` (RFC 8441), whose stream carries the frames. The
 * layer above checks the handshake (websocket-handshake.ts) and either accepts — this writes the
 * answer the transport needs (101 Switching Protocols, or :status 200) and hands back the duplex
 * that carries the frames — or refuses with an ordinary HTTP response.
 */

import http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingHeaders } from '../app/request.ts';
import type { Outgoing } from '../app/response.ts';
import { bodyLength } from './body.ts';
import { ignore } from './incoming.ts';

/** The duplex that carries a WebSocket's frames, and what was read past the handshake already. */
export interface Tunnel {
  readonly socket: Duplex;
  readonly head: Buffer;
}

export interface UpgradeIncoming {
  readonly protocol: 'h1' | 'h2';
  /** GET (HTTP/1.1) or CONNECT (HTTP/2). */
  readonly method: string;
  /** Origin form: path and `?query`, as sent. */
  readonly target: string;
  /** The header fields, lowercase names; never a pseudo-header. */
  readonly headers: IncomingHeaders;
  /** The client has gone. */
  readonly closed: boolean;
  /** Completes the handshake with `headers` (lowercase names); null when the client has gone meanwhile. */
  accept(headers: Readonly<Record<string, string>>): Tunnel | null;
  /** Answers with `outgoing` instead and closes the connection (HTTP/1.1) or the stream (HTTP/2). */
  refuse(outgoing: Outgoing): void;
}

export type UpgradeListener = (upgrade: UpgradeIncoming) => void;

/** Whether `value` (a comma-separated token list, such as Upgrade or Connection) holds `token`, compared without case. */
export function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const text = Array.isArray(value) ? value.join(',') : value;
  for (const part of text.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

const EMPTY = Buffer.alloc(0);

/** `Upgrade: websocket` over HTTP/1.1: the socket is the client's, detached from the HTTP parser. */
export class Http1Upgrade implements UpgradeIncoming {
  readonly protocol = 'h1';
  readonly method: string;
  readonly target: string;
  readonly headers: IncomingHeaders;
  readonly #socket: net.Socket;
  readonly #head: Buffer;

  constructor(req: http.IncomingMessage, target: string, socket: net.Socket, head: Buffer) {
    this.method = req.method ?? 'GET';
    this.target = target;
    this.headers = req.headers;
    this.#socket = socket;
    this.#head = head;
    socket.on('error', ignore);
  }

  get closed(): boolean {
    return this.#socket.destroyed || !this.#socket.writable;
  }

  accept(headers: Readonly<Record<string, string>>): Tunnel | null {
    const socket = this.#socket;
    if (this.closed || !socket.readable) {
      socket.destroy();
      return null;
    }
    let head = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n';
    for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    socket.write(`${head}\r\n`);
    socket.off('error', ignore);
    return { socket, head: this.#head };
  }

  refuse(outgoing: Outgoing): void {
    const socket = this.#socket;
    if (this.closed) return;
    const body = typeof outgoing.body === 'string' || outgoing.body instanceof Uint8Array ? outgoing.body : '';
    let head = `HTTP/1.1 ${outgoing.status} ${http.STATUS_CODES[outgoing.status] ?? ''}\r\nconnection: close\r\ncontent-length: ${bodyLength(body)}\r\n`;
    for (const [name, value] of Object.entries(outgoing.headers)) {
      if (value === undefined || name === 'content-length' || name === 'connection') continue;
      for (const item of Array.isArray(value) ? value : [value]) head += `${name}: ${String(item)}\r\n`;
    }
    socket.write(`${head}\r\n`);
    socket.end(body);
  }
}

/** An extended CONNECT over HTTP/2 (RFC 8441): the stream is the tunnel. */
export class Http2Upgrade implements UpgradeIncoming {
  readonly protocol = 'h2';
  readonly method = 'CONNECT';
  readonly target: string;
  readonly headers: IncomingHeaders;
  readonly #stream: http2.ServerHttp2Stream;

  constructor(stream: http2.ServerHttp2Stream, target: string, headers: IncomingHeaders) {
    this.target = target;
    this.headers = headers;
    this.#stream = stream;
  }

  get closed(): boolean {
    return this.#stream.destroyed || this.#stream.closed;
  }

  accept(headers: Readonly<Record<string, string>>): Tunnel | null {
    const stream = this.#stream;
    if (this.closed) return null;
    stream.respond({ ...headers, ':status': 200 });
    return { socket: stream, head: EMPTY };
  }

  refuse(outgoing: Outgoing): void {
    const stream = this.#stream;
    if (this.closed || stream.headersSent) return;
    const body = typeof outgoing.body === 'string' || outgoing.body instanceof Uint8Array ? outgoing.body : '';
    const headers: http2.OutgoingHttpHeaders = { ...(outgoing.headers as http2.OutgoingHttpHeaders), ':status': outgoing.status, 'content-length': bodyLength(body) };
    delete headers['connection'];
    stream.respond(headers);
    stream.end(body);
  }
}
