/**
 * One request/response shape over both protocols (protocol choice happens at the edge, in
 * `connection.ts`). Each protocol supplies an adapter that writes an `Outgoing` on its native
 * handle; everything above the adapters speaks `Outgoing`.
 */

import type { Outgoing } from '../app/response.ts';

export interface ProtocolAdapter<Native> {
  /** `h1` or `h2`, for logs. */
  readonly name: string;
  /**
   * Writes `outgoing` on `native`. `head`: a HEAD request, so headers only (with the
   * content-length the body would have had). `abandonBody`: the rest of the request body will
   * not be read, so end the connection (HTTP/1.1) or reset the stream's request side (HTTP/2)
   * after this response rather than drain it. `draining`: the server is shutting down, so an
   * HTTP/1.1 connection closes after this response (HTTP/2 sessions already got GOAWAY).
   * Does nothing if the client has gone. Throws if the protocol refuses the response.
   */
  send(native: Native, outgoing: Outgoing, head: boolean, abandonBody: boolean, draining: boolean): void;
  /** After `send` threw: answer a bare 500 if nothing was sent yet, else cut the response. */
  fail(native: Native): void;
}

/** A listener for 'error' events that are handled elsewhere (the socket or stream is closed). */
export function ignore(): void {}

export function bodyLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}
