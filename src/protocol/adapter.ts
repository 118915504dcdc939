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
   * content-length the body would have had). `closeAfter`: end the connection (HTTP/1.1) or the
   * stream's request side (HTTP/2) after this response, because the request body was not read.
   * Does nothing if the client has gone.
   */
  send(native: Native, outgoing: Outgoing, head: boolean, closeAfter: boolean): void;
}

export function bodyLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}
