/**
 * HTTP/1.1 on Node's llhttp-backed `node:http` server. The server never listens itself: the
 * connection layer hands it sockets (`emit('connection')`) once it has told HTTP/1.1 from h2c.
 * Each request becomes an `Incoming` (see incoming.ts); what llhttp lets through that RFC 9112
 * does not, and more header fields than the limit, are answered here.
 */

import http from 'node:http';
import type net from 'node:net';
import { errorResponse } from '../app/boundary.ts';
import type { IncomingHeaders } from '../app/request.ts';
import { disposeBody, isBodyStream, type Outgoing } from '../app/response.ts';
import { bodyLength, pipeBody, streamLength } from './body.ts';
import { refuse, type Incoming, type IncomingListener, type RespondOptions } from './incoming.ts';
import { hasToken, Http1Upgrade, type UpgradeListener } from './upgrade.ts';

export interface Http1Limits {
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
}

/**
 * The HTTP/1.1 engine. With `onUpgrade`, requests with `Upgrade: websocket` are handed to it as
 * the raw socket (Node's 'upgrade' event) after the same request-line and Host checks as any
 * request; without, they are served as ordinary requests.
 */
export function createHttp1Engine(limits: Http1Limits, onIncoming: IncomingListener, onUpgrade: UpgradeListener | null = null): http.Server {
  const { maxHeaderCount } = limits;
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
      // clients that want HTTP/2 in cleartext use prior knowledge on the same port. Only a
      // WebSocket upgrade takes the connection over, where the app has WebSocket routes.
      shouldUpgradeCallback: (req) => onUpgrade !== null && hasToken(req.headers.upgrade, 'websocket'),
    },
    (req, res) => {
      const target = requestTarget(req.url ?? '/');
      const incoming = new Http1Incoming(req, res, target ?? '/');
      // llhttp checks names and values; what it lets through that RFC 9112 does not: HTTP/0.9,
      // a broken absolute-form target, and a Host that is not a host.
      if (target === null || req.httpVersionMajor < 1 || !validHost(req.headers.host)) {
        refuse(incoming, 400, 'Bad Request: malformed request line or Host');
      } else if (req.rawHeaders.length >> 1 > maxHeaderCount) {
        refuse(incoming, 431, `Request Header Fields Too Large: the limit is ${maxHeaderCount} headers`);
      } else {
        onIncoming(incoming);
      }
    },
  );
  if (onUpgrade !== null) {
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const target = requestTarget(req.url ?? '/');
      const upgrade = new Http1Upgrade(req, target ?? '/', socket, head);
      if (target === null || !validHost(req.headers.host)) upgrade.refuse(errorResponse(400, 'Bad Request: malformed request line or Host'));
      else if (req.rawHeaders.length >> 1 > maxHeaderCount) upgrade.refuse(errorResponse(431, `Request Header Fields Too Large: the limit is ${maxHeaderCount} headers`));
      else onUpgrade(upgrade);
    });
  }
  // Node keeps at most this many headers and silently drops the rest: one more than the limit
  // shows that the limit was passed.
  server.maxHeadersCount = maxHeaderCount + 1;
  // Node's HTTP server starts its connection bookkeeping (idle tracking for
  // closeIdleConnections, the headers and request timeout checks) on 'listening'. This server
  // receives its sockets from the connection layer instead of a listen() of its own, so it is
  // told once here that connections are coming.
  server.emit('listening');
  return server;
}

class Http1Incoming implements Incoming {
  readonly protocol = 'h1';
  readonly method: string;
  readonly target: string;
  readonly headers: IncomingHeaders;
  readonly body: http.IncomingMessage;
  readonly #res: http.ServerResponse;

  constructor(req: http.IncomingMessage, res: http.ServerResponse, target: string) {
    this.method = req.method ?? 'GET';
    this.target = target;
    this.headers = req.headers;
    this.body = req;
    this.#res = res;
  }

  get bodyless(): boolean {
    // RFC 9112 §6.3: no Transfer-Encoding and no (or a zero) Content-Length.
    const { headers } = this;
    return this.body.readableEnded || (headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0'));
  }

  get closed(): boolean {
    return this.#res.closed;
  }

  once(event: 'close', listener: () => void): this {
    this.#res.once(event, listener);
    return this;
  }

  respond(outgoing: Outgoing, options: RespondOptions): void | Promise<void> {
    const res = this.#res;
    const body = outgoing.body;
    if (res.headersSent || res.destroyed) {
      disposeBody(body);
      return;
    }
    const headers = outgoing.headers as Record<string, string | readonly string[]>;
    if (options.abandonBody || options.draining) headers['connection'] = 'close';
    if (isBodyStream(body)) {
      // Chunked, unless the body's length is known (a file).
      const length = streamLength(body);
      if (length !== undefined) headers['content-length'] = String(length);
      res.writeHead(outgoing.status, headers as http.OutgoingHttpHeaders);
      if (options.head) res.end();
      const { stop } = options;
      return pipeBody(body, res, options.head, stop).then(() => {
        // Ended early because the server is shutting down: the connection closes after it.
        if (stop?.aborted !== true || res.destroyed) return;
        if (res.writableFinished) res.socket?.end();
        else res.once('finish', () => res.socket?.end());
      });
    }
    if (body !== null) headers['content-length'] = String(bodyLength(body));
    res.writeHead(outgoing.status, headers as http.OutgoingHttpHeaders);
    if (body === null || options.head) res.end();
    else res.end(body);
    return undefined;
  }

  fail(): void {
    const res = this.#res;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end('Internal Server Error');
  }
}

/** A Host value: a host name or address and an optional port (RFC 3986 §3.2.2), or absent. */
const HOST = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]*$/;

function validHost(host: string | undefined): boolean {
  return host === undefined || HOST.test(host);
}

/**
 * The origin-form target of a request; an absolute-form one (`GET http://host/path`) is routed
 * by its path, and `*` (OPTIONS) is kept. `null` when the target cannot be parsed.
 */
function requestTarget(url: string): string | null {
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  if (url === '*') return url;
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}
