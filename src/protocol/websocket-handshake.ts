/**
 * The opening handshake, for both ways a WebSocket starts:
 *
 *   HTTP/1.1 (RFC 6455 §4.2): GET with `Upgrade: websocket`, `Connection: upgrade`, a
 *     `Sec-WebSocket-Key` of 16 random bytes in base64 and `Sec-WebSocket-Version: 13`; the server
 *     answers 101 with `Sec-WebSocket-Accept` = base64(SHA-1(key + GUID)).
 *   HTTP/2 (RFC 8441 §4–5): a CONNECT with `:protocol: websocket` on a stream, after the server
 *     advertised SETTINGS_ENABLE_CONNECT_PROTOCOL; no key and no accept (the stream is the
 *     proof), the server answers 200.
 *
 * Both carry the same `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol`,
 * `Sec-WebSocket-Extensions` and `Origin` fields, which are checked and negotiated here once:
 * the origin allow-list, the subprotocol (the first of the route's, in its order, that the client
 * offers; a client that offers only others is refused with 400, since it would fail the
 * connection itself for want of one: RFC 6455 §4.1, and the WHATWG WebSocket standard), and
 * permessage-deflate
 * (RFC 7692, through ws's implementation) when the route has `compression` on.
 */

import { createHash } from 'node:crypto';
import type { IncomingHeaders } from '../app/request.ts';
import { hasToken } from './upgrade.ts';
import { extensionHeader, PerMessageDeflate, subprotocolHeader, type Deflate } from '../app/websocket/ws-lib.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** 16 bytes in base64: 22 characters and `==`. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** What the handshake needs of the route. */
export interface HandshakePolicy {
  readonly subprotocols: readonly string[];
  readonly compression: boolean;
  /** Origins allowed to open the socket; null: any (and requests without an Origin are always allowed). */
  readonly origins: ReadonlySet<string> | null;
  readonly maxPayload: number;
}

/** A handshake this server will not complete, and the HTTP answer it gets instead. */
export interface Refusal {
  readonly ok: false;
  readonly status: number;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Agreement {
  readonly ok: true;
  /** The chosen subprotocol, '' for none. */
  readonly protocol: string;
  /** The connection's permessage-deflate, or null when it is not used. */
  readonly deflate: Deflate | null;
  /** Header fields for the answer (101 or 200), lowercase names, except the status line's. */
  readonly headers: Record<string, string>;
}

export type Handshake = Agreement | Refusal;

function refusal(status: number, message: string, headers?: Record<string, string>): Refusal {
  return headers === undefined ? { ok: false, status, message } : { ok: false, status, message, headers };
}

function single(headers: IncomingHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Checks and negotiates a handshake that arrived over `transport` with `method`. The protocol
 * layer has already seen that it asks for a WebSocket (an `Upgrade: websocket` or a
 * `:protocol: websocket`); everything else is checked here.
 */
export function negotiate(transport: 'h1' | 'h2', method: string, headers: IncomingHeaders, policy: HandshakePolicy): Handshake {
  const answer: Record<string, string> = {};
  if (transport === 'h1') {
    if (method !== 'GET') return refusal(405, 'Method Not Allowed: a WebSocket opens with GET', { allow: 'GET' });
    if (!hasToken(headers['connection'], 'upgrade')) return refusal(400, 'Bad Request: a WebSocket handshake needs Connection: upgrade');
    const key = single(headers, 'sec-websocket-key');
    if (key === undefined || !KEY.test(key)) return refusal(400, 'Bad Request: missing or invalid Sec-WebSocket-Key');
    answer['sec-websocket-accept'] = createHash('sha1').update(key + GUID).digest('base64');
  } else if (method !== 'CONNECT') {
    return refusal(405, 'Method Not Allowed: a WebSocket over HTTP/2 opens with CONNECT', { allow: 'CONNECT' });
  }
  if (single(headers, 'sec-websocket-version') !== '13') {
    // RFC 6455 §4.2.2: answer the versions this server speaks.
    return refusal(426, 'Upgrade Required: this server speaks WebSocket version 13', { 'sec-websocket-version': '13' });
  }
  if (policy.origins !== null) {
    const origin = single(headers, 'origin');
    if (origin !== undefined && !policy.origins.has(origin)) return refusal(403, 'Forbidden: this origin may not open a WebSocket here');
  }

  let protocol = '';
  const offered = single(headers, 'sec-websocket-protocol');
  if (offered !== undefined) {
    let offers: Set<string>;
    try {
      offers = subprotocolHeader.parse(offered);
    } catch {
      return refusal(400, 'Bad Request: invalid Sec-WebSocket-Protocol');
    }
    for (const candidate of policy.subprotocols) {
      if (offers.has(candidate)) {
        protocol = candidate;
        answer['sec-websocket-protocol'] = candidate;
        break;
      }
    }
    if (protocol === '') {
      const spoken = policy.subprotocols.length === 0 ? 'none' : policy.subprotocols.join(', ');
      return refusal(400, `Bad Request: no offered subprotocol is spoken here (this route speaks ${spoken})`);
    }
  }

  let deflate: Deflate | null = null;
  const extensions = single(headers, 'sec-websocket-extensions');
  if (policy.compression && extensions !== undefined) {
    const offer = new PerMessageDeflate({ isServer: true, maxPayload: policy.maxPayload });
    try {
      const offers = extensionHeader.parse(extensions)[PerMessageDeflate.extensionName];
      if (offers !== undefined) {
        const params = offer.accept(offers);
        answer['sec-websocket-extensions'] = extensionHeader.format({ [PerMessageDeflate.extensionName]: [params] });
        deflate = offer;
      }
    } catch {
      return refusal(400, 'Bad Request: invalid or unacceptable Sec-WebSocket-Extensions');
    }
  }
  return { ok: true, protocol, deflate, headers: answer };
}
