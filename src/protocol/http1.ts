/**
 * HTTP/1.1 on Node's llhttp-backed `node:http` server. The server never listens itself: the
 * connection layer hands it sockets (`emit('connection')`) once it has told HTTP/1.1 from h2c.
 */

import http from 'node:http';
import type { Outgoing } from '../app/response.ts';
import { disposeBody, isBodyStream } from '../app/response.ts';
import { bodyLength, pipeBody, type ProtocolAdapter } from './adapter.ts';

export type Http1RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface Http1Limits {
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
}

export function createHttp1Engine(limits: Http1Limits, onRequest: Http1RequestListener): http.Server {
  const server = http.createServer(
    {
      keepAliveTimeout: limits.keepAliveTimeout,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      // How often those two timeouts are checked: often enough that a connection is cut within
      // half a headers timeout of it passing (Node's default is every 30 s).
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(limits.headersTimeout / 2))),
      // llhttp answers 431 itself past this size (request line and headers).
      maxHeaderSize: limits.maxHeaderSize,
      // Requests carrying `Upgrade: h2c` are served as HTTP/1.1, which RFC 9113 §3.1 allows;
      // clients that want HTTP/2 in cleartext use prior knowledge on the same port.
      shouldUpgradeCallback: () => false,
    },
    onRequest,
  );
  // Node keeps at most this many headers and silently drops the rest: one more than the limit
  // lets the exchange see that the limit was passed, and answer 431.
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  // Node's HTTP server starts its connection bookkeeping (idle tracking for
  // closeIdleConnections, the headers and request timeout checks) on 'listening'. This server
  // receives its sockets from the connection layer instead of a listen() of its own, so it is
  // told once here that connections are coming.
  server.emit('listening');
  return server;
}

export const http1Adapter: ProtocolAdapter<http.ServerResponse> = {
  name: 'h1',
  send(res, outgoing: Outgoing, head, abandonBody, draining, stop) {
    const body = outgoing.body;
    if (res.headersSent || res.destroyed) {
      disposeBody(body);
      return;
    }
    const headers = outgoing.headers as Record<string, string | readonly string[]>;
    if (abandonBody || draining) headers['connection'] = 'close';
    if (isBodyStream(body)) {
      // No content-length: HTTP/1.1 sends it chunked.
      res.writeHead(outgoing.status, headers as http.OutgoingHttpHeaders);
      if (head) res.end();
      return pipeBody(body, res, head, stop).then(() => {
        // Ended early because the server is shutting down: the connection closes after it.
        if (stop?.aborted !== true || res.destroyed) return;
        if (res.writableFinished) res.socket?.end();
        else res.once('finish', () => res.socket?.end());
      });
    }
    if (body !== null) headers['content-length'] = String(bodyLength(body));
    res.writeHead(outgoing.status, headers as http.OutgoingHttpHeaders);
    if (body === null || head) res.end();
    else res.end(body);
    return undefined;
  },
  fail(res) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end('Internal Server Error');
  },
};
