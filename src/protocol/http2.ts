/**
 * HTTP/2 on Node's nghttp2-backed `node:http2` core API (streams, not the compatibility layer).
 * Like the HTTP/1.1 engine it never listens: it receives sockets that start with the HTTP/2
 * preface (h2c) or negotiated `h2` over TLS. Each stream becomes an `Incoming` (see
 * incoming.ts) whose headers are the header fields only: the pseudo-headers are read here and
 * taken out.
 */

import http2 from 'node:http2';
import { errorResponse } from '../app/boundary.ts';
import type { IncomingHeaders } from '../app/request.ts';
import { disposeBody, isBodyStream, type Outgoing } from '../app/response.ts';

import { bodyLength, pipeBody, streamLength } from './body.ts';
import { ignore, refuse, type Incoming, type IncomingListener, type RespondOptions } from './incoming.ts';
import { Http2Upgrade, type UpgradeListener } from './upgrade.ts';

/** Response headers whose values are never HPACK-indexed (see `respond`). */
const UNINDEXED: readonly string[] = Object.freeze(['x-request-id']);

export interface Http2Limits {
  /** Idle time after which a session with no open streams is closed, in ms. */
  readonly sessionIdleTimeout: number;
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, in bytes. */
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  /** In MB. */
  readonly maxSessionMemory: number;
}

/**
 * How many pseudo-header fields a request can carry (:method, :scheme, :authority, :path,
 * :protocol), and then some. nghttp2 bounds the pairs of a header block (`maxHeaderListPairs`),
 * pseudo-headers included, and resets a stream past it; the bound is set to leave room for them,
 * for cookie crumbs (which `fieldCount` counts as one field) and for one field too many, so
 * that such a request is answered 431 here rather than reset. The bytes of the block stay
 * bounded by `maxHeaderSize` either way.
 */
const PSEUDO_HEADER_ROOM = 8;

/**
 * The HTTP/2 engine. With `onUpgrade`, it advertises SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441)
 * and hands an extended CONNECT with `:protocol: websocket` to it; without, it advertises nothing
 * and such a CONNECT is an ordinary request (which no route takes).
 */
export function createHttp2Engine(
  limits: Http2Limits,
  sessions: Set<http2.ServerHttp2Session>,
  onIncoming: IncomingListener,
  onUpgrade: UpgradeListener | null = null,
): http2.Http2Server {
  const { maxHeaderCount } = limits;
  const server = http2.createServer({
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderSize, enableConnectProtocol: onUpgrade !== null },
    maxSessionMemory: limits.maxSessionMemory,
    maxHeaderListPairs: 2 * maxHeaderCount + PSEUDO_HEADER_ROOM,
    // Rapid reset (CVE-2023-44487) and frame floods are bounded by Node's and nghttp2's own
    // defaults: at most 1000 RST_STREAM in a burst and 33/s after it (streamResetBurst,
    // streamResetRate), 10 unanswered PINGs and SETTINGS, 1000 invalid frames, 100 refused streams.
  });
  server.on('session', (session) => {
    sessions.add(session);
    session.setTimeout(limits.sessionIdleTimeout, () => session.close());
    // A protocol error on one session must not become an uncaught exception in the worker.
    session.on('error', ignore);
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    // A stream reset by the client emits 'error'; without a listener it would be thrown.
    stream.on('error', ignore);
    const method = (headers[':method'] as string | undefined) ?? 'GET';
    const target = (headers[':path'] as string | undefined) ?? '/';
    // nghttp2 has checked the pseudo-headers (present, known, once each, before every regular
    // field: RFC 9113 §8.3) and dropped fields with invalid names or values, so the raw list
    // starts with the pseudo-headers and the rest are the header fields.
    const authority = headers[':authority'] as string | undefined;
    const tunnel = method === 'CONNECT' && headers[':protocol'] === 'websocket' && onUpgrade !== null;
    let pseudo = 0;
    while (pseudo < rawHeaders.length && (rawHeaders[pseudo] as string).charCodeAt(0) === 58 /* ':' */) {
      delete headers[rawHeaders[pseudo] as string];
      pseudo += 2;
    }
    // :authority stands for Host in HTTP/2 (RFC 9113 §8.3.1), so a handler reads the host the
    // same way over either protocol.
    if (authority !== undefined && headers.host === undefined) headers.host = authority;
    if (tunnel) {
      const upgrade = new Http2Upgrade(stream, target, headers);
      if (fieldCount(rawHeaders, pseudo) > maxHeaderCount) upgrade.refuse(errorResponse(431, `Request Header Fields Too Large: the limit is ${maxHeaderCount} headers`));
      else onUpgrade(upgrade);
      return;
    }
    const incoming = new Http2Incoming(stream, method, target, headers);
    if (fieldCount(rawHeaders, pseudo) > maxHeaderCount) {
      refuse(incoming, 431, `Request Header Fields Too Large: the limit is ${maxHeaderCount} headers`);
    } else {
      onIncoming(incoming);
    }
  });
  return server;
}

/**
 * How many header fields the request has, counted as HTTP/1.1 counts its header lines, from the
 * first regular field at `from`. Cookie crumbs are one field: HTTP/2 lets a client split the
 * Cookie header into one field per cookie for compression (RFC 9113 §8.2.3), where HTTP/1.1 sends
 * one line, so a browser with many cookies is not refused over HTTP/2 alone.
 */
function fieldCount(rawHeaders: readonly string[], from: number): number {
  let count = 0;
  let cookie = false;
  for (let i = from; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i] === 'cookie') {
      if (cookie) continue;
      cookie = true;
    }
    count++;
  }
  return count;
}

class Http2Incoming implements Incoming {
  readonly protocol = 'h2';
  readonly method: string;
  readonly target: string;
  readonly headers: IncomingHeaders;
  readonly body: http2.ServerHttp2Stream;

  constructor(stream: http2.ServerHttp2Stream, method: string, target: string, headers: IncomingHeaders) {
    this.method = method;
    this.target = target;
    this.headers = headers;
    this.body = stream;
  }

  get bodyless(): boolean {
    return this.body.readableEnded || this.body.endAfterHeaders;
  }

  get closed(): boolean {
    return this.body.closed;
  }

  once(event: 'close', listener: () => void): this {
    this.body.once(event, listener);
    return this;
  }

  respond(outgoing: Outgoing, options: RespondOptions): void | Promise<void> {
    const stream = this.body;
    if (stream.destroyed || stream.headersSent) {
      disposeBody(outgoing.body);
      return;
    }
    const headers = outgoing.headers as Record<string, string | number | readonly string[]>;
    // The only connection-specific header a handler can set (the others never get this far,
    // see response.ts); forbidden in HTTP/2 (RFC 9113 §8.2.2).
    if (headers['connection'] !== undefined) delete headers['connection'];
    headers[':status'] = outgoing.status;
    // A value that differs in every response (the request id) is sent without HPACK indexing:
    // indexed, each one would take a place in the connection's dynamic table and push out the
    // entries that repeat (content-type, date), and every response would grow by those bytes
    // (measured: 9 bytes of headers per response without the id, 24 with it indexed).
    if (headers['x-request-id'] !== undefined) (headers as Record<symbol, readonly string[]>)[http2.sensitiveHeaders] = UNINDEXED;
    const body = outgoing.body;
    if (isBodyStream(body)) {
      const length = streamLength(body);
      if (length !== undefined) headers['content-length'] = length;
      stream.respond(headers as http2.OutgoingHttpHeaders, { endStream: options.head });
      return pipeBody(body, stream, options.head, options.stop);
    }
    if (body !== null) headers['content-length'] = bodyLength(body);
    if (body === null || options.head) {
      stream.respond(headers as http2.OutgoingHttpHeaders, { endStream: true });
    } else {
      stream.respond(headers as http2.OutgoingHttpHeaders);
      stream.end(body);
    }
    // RFC 9113 §8.1: after a complete response, a server may stop a request body it will not read
    // with RST_STREAM(NO_ERROR).
    if (options.abandonBody && !stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    return undefined;
  }

  fail(): void {
    const stream = this.body;
    if (stream.destroyed) return;
    if (stream.headersSent) {
      // RST_STREAM(INTERNAL_ERROR) alone: `close()` would end the writable side first, and the
      // client would take the cut body for a complete one (END_STREAM arrives before the reset).
      stream.destroy(new Error('the response was cut'));
      return;
    }
    stream.respond({ ':status': 500, 'content-type': 'text/plain; charset=utf-8' });
    stream.end('Internal Server Error');
  }
}
