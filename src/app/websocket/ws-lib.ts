/**
 * The parts of the `ws` library this server builds on, typed. `ws` frames, masks, validates
 * and (with permessage-deflate) compresses messages; its `WebSocketServer` also does the opening
 * handshake, but only as HTTP/1.1 (it writes `101 Switching Protocols` on the socket itself), so
 * it cannot take a WebSocket bootstrapped over an HTTP/2 stream (RFC 8441). The handshake is
 * therefore ours (protocol/websocket-handshake.ts), for both transports, and a socket is then
 * handed to `ws` the way its own server completes an upgrade: `new WebSocket(null)`, the negotiated subprotocol and
 * extensions, then `setSocket(duplex, head, options)`, which `ws` documents in its source as
 * taking any Duplex ("may not be available if `socket` is just a `Duplex`"): a TCP or TLS socket,
 * or an HTTP/2 stream.
 *
 * The members below are not in @types/ws; they are what ws 8's `WebSocketServer.completeUpgrade`
 * uses. test/websocket/*.test.ts exercise every one through real clients, so an upgrade of `ws`
 * that changes them fails there.
 */

import type { Duplex } from 'node:stream';
import * as ws from 'ws';

export interface SetSocketOptions {
  readonly maxPayload: number;
  readonly allowSynchronousEvents?: boolean;
  readonly skipUTF8Validation?: boolean;
}

/** A server-side `ws` WebSocket before and after `setSocket`. */
export interface LibSocket extends ws.WebSocket {
  setSocket(socket: Duplex, head: Buffer, options: SetSocketOptions): void;
  _protocol: string;
  _extensions: Record<string, unknown>;
}

/** ws's permessage-deflate extension (RFC 7692), one per connection. */
export interface Deflate {
  accept(offers: unknown[]): { [param: string]: unknown };
  cleanup(): void;
}

interface DeflateConstructor {
  new (options: { isServer: boolean; maxPayload: number; threshold?: number; serverNoContextTakeover?: boolean; clientNoContextTakeover?: boolean }): Deflate;
  readonly extensionName: string;
}

interface ExtensionCodec {
  parse(header: string): Record<string, unknown[]>;
  format(extensions: Record<string, unknown>): string;
}

interface SubprotocolCodec {
  parse(header: string): Set<string>;
}

const lib = ws as unknown as {
  WebSocket: new (address: null, protocols: undefined, options: { autoPong?: boolean; closeTimeout: number }) => LibSocket;
  PerMessageDeflate: DeflateConstructor;
  extension: ExtensionCodec;
  subprotocol: SubprotocolCodec;
};

export const LibWebSocket = lib.WebSocket;
export const PerMessageDeflate = lib.PerMessageDeflate;
export const extensionHeader = lib.extension;
export const subprotocolHeader = lib.subprotocol;
export const OPEN = ws.WebSocket.OPEN;
export const CONNECTING = ws.WebSocket.CONNECTING;
