/**
 * The one shape both protocol engines hand the layer above: a request (method, target, header
 * fields, body) and the way to answer it. Everything HTTP-version-specific stays below this line
 * — framing checks, pseudo-headers, header counting, the request target's forms, Host and
 * :authority — so the request lifecycle never asks which protocol carries a request, except
 * through `protocol`, for logs.
 *
 * Protocol choice happens at the edge (`connection.ts`); `http1.ts` and `http2.ts` each make an
 * `Incoming` per request, as undici's client-h1 / client-h2 each speak one dispatcher shape.
 */

import type { Readable } from 'node:stream';
import { errorResponse } from '../app/boundary.ts';
import type { Closable, IncomingHeaders } from '../app/request.ts';
import type { Outgoing } from '../app/response.ts';

/** How a response is to be written, besides what it is (see `Incoming.respond`). */
export interface RespondOptions {
  /** A HEAD request: headers only, with the content-length the body would have had. */
  readonly head: boolean;
  /**
   * The rest of the request body will not be read: end the connection (HTTP/1.1) or stop the
   * stream's request side (HTTP/2) after this response rather than drain it.
   */
  readonly abandonBody: boolean;
  /** The server is shutting down: an HTTP/1.1 connection closes after this response. */
  readonly draining: boolean;
  /** For an event stream: aborted when the server shuts down, which ends the response early but cleanly. */
  readonly stop: AbortSignal | undefined;
}

/**
 * One request, as a protocol engine received it. It is also what a `Request`'s `signal` watches
 * (`Closable`): it closes when the response is done or the client has gone.
 *
 * The engines answer what is not a request this server can serve themselves, before any of this
 * exists: a malformed request line or Host (400), more header fields than `maxHeaderCount`
 * (431), like the heads past `maxHeaderSize` that llhttp and nghttp2 refuse.
 */
export interface Incoming extends Closable {
  /** `h1` or `h2`, for logs; `memory` for a request made in-process (`app.request()`, memory.ts). */
  readonly protocol: 'h1' | 'h2' | 'memory';
  /** Uppercase method. */
  readonly method: string;
  /** Origin form: the path and `?query` as sent, or `*`; an absolute-form target is reduced to it. */
  readonly target: string;
  /** The header fields, lowercase names; never a pseudo-header. */
  readonly headers: IncomingHeaders;
  /** The request body, read on demand. */
  readonly body: Readable;
  /** The request certainly has no body (so none needs reading before it goes to the pool). */
  readonly bodyless: boolean;
  /**
   * Writes `outgoing`. A streamed body makes this return a promise that settles when the body is
   * written (or the client left); it rejects with a `BodyStreamError` if the body threw. Does
   * nothing but release the body if the client has gone. Throws if the protocol refuses the
   * response.
   */
  respond(outgoing: Outgoing, options: RespondOptions): void | Promise<void>;
  /** After `respond` threw: answer a bare 500 if nothing was sent yet, else cut the response. */
  fail(): void;
}

export type IncomingListener = (incoming: Incoming) => void;

/** A listener for 'error' events that are handled elsewhere (the socket or stream is closed). */
export function ignore(): void {}

/**
 * Answers a request this server will not serve, before the lifecycle sees it: no hook runs, as
 * for the heads the parsers refuse themselves. The connection (HTTP/1.1) or the stream's
 * request side (HTTP/2) is closed after it, since what follows cannot be trusted.
 */
export function refuse(incoming: Incoming, status: 400 | 431, message: string): void {
  try {
    void incoming.respond(errorResponse(status, message), REFUSED);
  } catch {
    incoming.fail();
  }
}

const REFUSED: RespondOptions = { head: false, abandonBody: true, draining: false, stop: undefined };
