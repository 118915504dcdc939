/**
 * Protocol choice at the edge. Every accepted TCP socket — from this worker's own reusePort
 * listener or handed over by the acceptor — comes here, and goes to exactly one engine:
 *
 *   cleartext: HTTP/2 connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" → h2c, else HTTP/1.1
 *   TLS:       ALPN "h2" → HTTP/2, "http/1.1" (or none) → HTTP/1.1
 *
 * The sniffed bytes are put back with `unshift`, so each engine reads the connection from its
 * first byte. The decision waits for as many bytes as it needs: a prefix of the preface is
 * not yet a decision.
 */

import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { ignore } from './incoming.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface TlsConfig {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface Engines {
  readonly h1: http.Server;
  readonly h2: http2.Http2Server;
}

/** `true`: HTTP/2 preface; `false`: not it; `null`: a prefix of it, more bytes needed. */
export function classifyPreface(head: Buffer): boolean | null {
  const n = Math.min(head.length, PREFACE.length);
  if (PREFACE.compare(head, 0, n, 0, n) !== 0) return false;
  return n === PREFACE.length ? true : null;
}

/**
 * Hands a cleartext socket to the engine its first bytes ask for; `onDecided` runs just before.
 * A connection that sends nothing for `sniffTimeout` ms is closed, like a slow request header.
 */
export function sniffCleartext(socket: net.Socket, engines: Engines, sniffTimeout: number, onDecided: () => void): void {
  let buffered: Buffer | null = null;
  socket.setTimeout(sniffTimeout, () => socket.destroy());
  socket.on('error', ignore);
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) {
      buffered = buffered === null ? chunk : Buffer.concat([buffered, chunk]);
      const verdict = classifyPreface(buffered);
      if (verdict === null) continue;
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('error', ignore);
      socket.setTimeout(0);
      socket.unshift(buffered);
      onDecided();
      (verdict ? engines.h2 : engines.h1).emit('connection', socket);
      return;
    }
  };
  const onEnd = (): void => void socket.destroy();
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
}

/**
 * A TLS front that never listens: raw sockets are wrapped on `emit('connection')`, and each
 * secured socket goes to the engine ALPN chose.
 */
export function createTlsFront(config: TlsConfig, engines: Engines, handshakeTimeout: number): tls.Server {
  const server = tls.createServer({
    cert: config.cert,
    key: config.key,
    ALPNProtocols: ['h2', 'http/1.1'],
    handshakeTimeout,
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    (socket.alpnProtocol === 'h2' ? engines.h2 : engines.h1).emit('connection', socket);
  });
  // Failed handshakes (plain HTTP on the TLS port, scanners) are the client's problem; the
  // socket is already destroyed.
  server.on('tlsClientError', ignore);
  return server;
}
