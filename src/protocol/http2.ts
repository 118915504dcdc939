/**
 * HTTP/2 on Node's nghttp2-backed `node:http2` core API (streams, not the compatibility layer).
 * Like the HTTP/1.1 engine it never listens: it receives sockets that start with the HTTP/2
 * preface (h2c) or negotiated `h2` over TLS.
 */

import http2 from 'node:http2';
import type { Outgoing } from '../app/response.ts';
import { disposeBody, isBodyStream } from '../app/response.ts';
import { bodyLength, ignore, pipeBody, type ProtocolAdapter } from './adapter.ts';

export type Http2StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

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

export function createHttp2Engine(
  limits: Http2Limits,
  sessions: Set<http2.ServerHttp2Session>,
  onStream: Http2StreamListener,
): http2.Http2Server {
  const server = http2.createServer({
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderSize },
    maxSessionMemory: limits.maxSessionMemory,
    // nghttp2 refuses a stream with more header fields than this (pseudo-headers included); a
    // few more than the limit lets the exchange answer such a request with a 431 instead.
    maxHeaderListPairs: limits.maxHeaderCount + 8,
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
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    // A stream reset by the client emits 'error'; without a listener it would be thrown.
    stream.on('error', ignore);
    onStream(stream, headers);
  });
  return server;
}

export const http2Adapter: ProtocolAdapter<http2.ServerHttp2Stream> = {
  name: 'h2',
  send(stream, outgoing: Outgoing, head, abandonBody, _draining, stop) {
    if (stream.destroyed || stream.headersSent) {
      disposeBody(outgoing.body);
      return;
    }
    const headers = outgoing.headers as Record<string, string | number | readonly string[]>;
    // The only connection-specific header a handler can set (the others never get this far,
    // see response.ts); forbidden in HTTP/2 (RFC 9113 §8.2.2).
    if (headers['connection'] !== undefined) delete headers['connection'];
    headers[':status'] = outgoing.status;
    const body = outgoing.body;
    if (isBodyStream(body)) {
      stream.respond(headers as http2.OutgoingHttpHeaders, { endStream: head });
      return pipeBody(body, stream, head, stop);
    }
    if (body !== null) headers['content-length'] = bodyLength(body);
    if (body === null || head) {
      stream.respond(headers as http2.OutgoingHttpHeaders, { endStream: true });
    } else {
      stream.respond(headers as http2.OutgoingHttpHeaders);
      stream.end(body);
    }
    // RFC 9113 §8.1: after a complete response, a server may stop a request body it will not read
    // with RST_STREAM(NO_ERROR).
    if (abandonBody && !stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    return undefined;
  },
  fail(stream) {
    if (stream.destroyed) return;
    if (stream.headersSent) {
      // RST_STREAM(INTERNAL_ERROR) alone: `close()` would end the writable side first, and the
      // client would take the cut body for a complete one (END_STREAM arrives before the reset).
      stream.destroy(new Error('the response was cut'));
      return;
    }
    stream.respond({ ':status': 500, 'content-type': 'text/plain; charset=utf-8' });
    stream.end('Internal Server Error');
  },
};
