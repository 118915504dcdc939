/**
 * The supervisor ↔ worker control protocol, over `postMessage`. It carries lifecycle events and
 * accepted sockets (acceptor mode), never requests: the per-request path stays inside a worker.
 */

import type net from 'node:net';
import type { RouteInfo } from '../app/app.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { LogLevel } from '../core/log.ts';

/** Protocol limits a worker applies to its connections, in bytes and milliseconds. */
export interface ConnectionLimits {
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly sessionIdleTimeout: number;
  readonly handshakeTimeout: number;
  readonly maxConcurrentStreams: number;
}

/** Everything a pinned worker needs, passed as `workerData`. */
export interface PinnedWorkerData {
  readonly index: number;
  readonly appUrl: string;
  readonly logLevel: LogLevel;
  readonly bodyLimit: number;
  readonly tls: { readonly cert: string; readonly key: string } | null;
  readonly limits: ConnectionLimits;
}

export type ListenMode = 'reuseport' | 'acceptor';

export type ToWorker =
  /** Start serving: bind `host:port` with reusePort, or wait for sockets from the acceptor. */
  | { readonly type: 'listen'; readonly mode: ListenMode; readonly host: string; readonly port: number }
  /** A freshly accepted socket (acceptor mode), transferred to this worker's thread. */
  | { readonly type: 'connection'; readonly socket: net.Socket }
  /** Stop accepting, finish in-flight requests within `graceMs`, then exit. */
  | { readonly type: 'shutdown'; readonly graceMs: number };

export type FromWorker =
  /** The app loaded; its route table, for the supervisor to compare across isolates. */
  | { readonly type: 'routes'; readonly routes: readonly RouteInfo[] }
  /** Serving; `port` is the bound port (meaningful for reusePort). */
  | { readonly type: 'listening'; readonly port: number }
  /** The worker cannot serve; it waits to be terminated. */
  | { readonly type: 'failed'; readonly code: ErrorCode; readonly message: string }
  /** Shutdown finished; `forced` connections had to be cut at the end of the grace period. */
  | { readonly type: 'drained'; readonly forced: number };
