/**
 * WebSocket routes: what `app.ws(path, handlers, options)` registers, and the checks made when it
 * does. A WebSocket lives on the pinned isolate whose connection carries it, so these routes never
 * run on the pool (a callback may still run pooled work).
 */

import { ErrorCode, FasterApiError } from '../../core/errors.ts';
import type { Request } from '../request.ts';
import type { ServerWebSocket } from './socket.ts';

/** What a WebSocket route does at each step of a socket's life. Each may be async. */
export interface WebSocketHandlers<Data = unknown> {
  /**
   * Before the handshake is answered, with the handshake request: authenticate, check it.
   * Throw an `HttpError` (or return `false`, a 403) to refuse; the client gets that HTTP status.
   */
  upgrade?(req: Request): unknown;
  /**
   * The socket opens (its handshake is answered once this returns). Subscribe, set `ws.data`,
   * send a greeting. What it throws refuses the handshake: an `HttpError`'s status, or a 500.
   */
  open?(ws: ServerWebSocket<Data>, req: Request): unknown;
  /** A whole message: a string for text, a Buffer for binary. What it throws closes the socket with 1011. */
  message?(ws: ServerWebSocket<Data>, data: string | Buffer, isBinary: boolean): unknown;
  /** The socket has closed (`code` 1006 when the connection just ended). */
  close?(ws: ServerWebSocket<Data>, code: number, reason: string): unknown;
  /** The send buffer, which had gone over `sendBufferLimit`, is back under it. */
  drain?(ws: ServerWebSocket<Data>): unknown;
}

export interface WebSocketOptions {
  /** The largest message a client may send, in bytes; a larger one closes the socket with 1009. @default 1 MiB */
  readonly maxPayload?: number;
  /**
   * Silence, in ms, after which the socket is cut: pinged after half of it, cut (1006) if the
   * client has not answered or sent anything by the end. 0 for never. @default 120_000
   */
  readonly idleTimeout?: number;
  /** Negotiate permessage-deflate (RFC 7692) with clients that offer it. @default false */
  readonly compression?: boolean;
  /** Subprotocols this route speaks, preferred first; the first the client offers is chosen. @default [] */
  readonly subprotocols?: readonly string[];
  /**
   * Origins (`https://app.example.com`) allowed to open the socket; others get 403. A handshake
   * without an Origin (a client that is not a browser) is not refused. @default any origin
   */
  readonly origins?: readonly string[];
  /**
   * Bytes queued to a socket past which `send` returns false and `drain` will follow; a send
   * past twice this closes the socket with 1008. @default 1 MiB
   */
  readonly sendBufferLimit?: number;
  /** Refused: WebSocket routes always run on the pinned isolate that holds the connection. */
  readonly pool?: never;
}

export interface ResolvedSocketOptions {
  readonly maxPayload: number;
  readonly idleTimeout: number;
  readonly compression: boolean;
  readonly subprotocols: readonly string[];
  readonly origins: ReadonlySet<string> | null;
  readonly sendBufferLimit: number;
}

export interface SocketRoute {
  readonly id: number;
  readonly path: string;
  readonly handlers: WebSocketHandlers;
  readonly options: ResolvedSocketOptions;
}

const MIB = 1024 * 1024;
/** The most a timer can wait, in ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** RFC 6455 §4.1: a subprotocol is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HANDLERS = ['upgrade', 'open', 'message', 'close', 'drain'] as const;

function invalid(where: string, message: string): FasterApiError {
  return new FasterApiError(ErrorCode.ROUTE_DEFINITION, `${where}: ${message}`);
}

/** Checks a registration and fills in the defaults; throws a FasterApiError naming what is wrong. */
export function resolveSocketRoute(path: string, handlers: unknown, options: unknown): { handlers: WebSocketHandlers; options: ResolvedSocketOptions } {
  const where = `WS ${String(path)}`;
  if (typeof handlers !== 'object' || handlers === null) throw invalid(where, 'the handlers must be an object such as { open, message, close }');
  for (const name of Object.keys(handlers)) {
    if (!(HANDLERS as readonly string[]).includes(name)) throw invalid(where, `unknown handler "${name}" (expected ${HANDLERS.join(', ')})`);
    if (typeof (handlers as Record<string, unknown>)[name] !== 'function') throw invalid(where, `the ${name} handler must be a function`);
  }
  const given = (options ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object') throw invalid(where, 'the options must be an object');
  if ('pool' in given && given['pool'] !== undefined) {
    throw invalid(
      where,
      'a WebSocket route cannot run on the pool: its socket lives on the pinned isolate that holds the connection. ' +
        'Remove pool; a callback may still hand CPU-bound work to a { pool: true } route or task',
    );
  }
  const known = ['maxPayload', 'idleTimeout', 'compression', 'subprotocols', 'origins', 'sendBufferLimit', 'pool'];
  for (const name of Object.keys(given)) if (!known.includes(name)) throw invalid(where, `unknown option "${name}"`);
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const value = given[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid(where, `${name} must be a whole number from ${min} to ${max}`);
    return value;
  };
  const list = (name: string, check: (item: string) => boolean, what: string): string[] => {
    const value = given[name] ?? [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && check(item))) throw invalid(where, `${name} must be a list of ${what}`);
    return [...(value as string[])];
  };
  const compression = given['compression'] ?? false;
  if (typeof compression !== 'boolean') throw invalid(where, 'compression must be true or false');
  const origins = given['origins'] === undefined ? null : new Set(list('origins', (o) => URL.canParse(o) && new URL(o).origin === o, 'origins such as https://app.example.com'));
  return {
    handlers: handlers as WebSocketHandlers,
    options: {
      maxPayload: whole('maxPayload', MIB, 1, 2 ** 31 - 1),
      idleTimeout: whole('idleTimeout', 120_000, 0, MAX_TIMER_MS),
      compression,
      subprotocols: list('subprotocols', (p) => TOKEN.test(p), 'subprotocol tokens'),
      origins,
      sendBufferLimit: whole('sendBufferLimit', MIB, 1, 2 ** 31 - 1),
    },
  };
}
