/**
 * The supervisor ↔ worker control protocol, over `postMessage`. It carries lifecycle events and
 * accepted sockets (acceptor mode), never requests: the per-request path stays inside a worker.
 */

import type net from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import type { ResolvedOptions } from '../config/options.ts';
import type { LogFormat, LogLevel } from '../core/log.ts';
import type { FromIsolate } from '../executor/messages.ts';
import type { PoolLinkData, RingPair } from '../executor/topology.ts';
import type { TopicBusData, TopicPeerUpdate } from '../executor/topic-topology.ts';

/** Protocol limits a worker applies to its connections (bytes, counts, milliseconds, MB). */
export type ConnectionLimits = Pick<
  ResolvedOptions,
  | 'keepAliveTimeout'
  | 'headersTimeout'
  | 'requestTimeout'
  | 'sessionIdleTimeout'
  | 'maxConcurrentStreams'
  | 'maxHeaderSize'
  | 'maxHeaderCount'
  | 'maxUrlLength'
  | 'maxSessionMemory'
>;

/** Everything a pinned worker needs, passed as `workerData`. */
export interface PinnedWorkerData {
  readonly index: number;
  readonly appUrl: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** Log one line per answered request. */
  readonly accessLog: boolean;
  readonly bodyLimit: number;
  readonly tls: { readonly cert: string; readonly key: string } | null;
  readonly limits: ConnectionLimits;
  readonly handlerTimeout: number;
  readonly spillInFlight: number;
  readonly spillLoopDelay: number;
  /** Requests in flight on this worker past which those that cannot go to the pool answer 503. */
  readonly maxInFlight: number;
  readonly exposeErrors: boolean;
  /** Where this worker publishes its heartbeat and the handler it is in, for the watchdog (isolate-state.ts). */
  readonly state: { readonly buffer: SharedArrayBuffer; readonly epoch: number };
  /** The pooled executor's shared memory, or null when there is no pool. */
  readonly pool: PoolLinkData | null;
  /** This worker's place on the topic bus (WebSocket publish/subscribe across isolates). */
  readonly topics: TopicBusData;
}

export type ListenMode = 'reuseport' | 'acceptor';

export type ToWorker =
  /**
   * Start serving: bind `host:port` with reusePort, or wait for sockets from the acceptor. With
   * `from` (a reload), first take the listening socket that the previous generation's worker in
   * this seat sends on that port, and bind a fresh one only if it sends none.
   */
  | { readonly type: 'listen'; readonly mode: ListenMode; readonly host: string; readonly port: number; readonly from?: MessagePort }
  /** A reload: send this worker's listening socket on `port` (or null without one) and stop accepting; then drain as asked. */
  | { readonly type: 'give-listener'; readonly port: MessagePort }
  /** A freshly accepted socket (acceptor mode), transferred to this worker's thread. */
  | { readonly type: 'connection'; readonly socket: net.Socket }
  /** Stop accepting, finish in-flight requests within `graceMs`, then exit. */
  | { readonly type: 'shutdown'; readonly graceMs: number }
  /** Generation `generation` of pooled isolate `index` stopped: answer its tasks with 503, send it nothing. */
  | { readonly type: 'pool-isolate-down'; readonly index: number; readonly generation: number }
  /** Pooled isolate `index` serves again as `generation`, on these fresh rings. */
  | { readonly type: 'pool-isolate-up'; readonly index: number; readonly generation: number; readonly rings: RingPair }
  /** Another isolate was replaced: reach it, and hear from it, on these fresh topic rings. */
  | { readonly type: 'topic-peer'; readonly update: TopicPeerUpdate };

/** What a pinned worker tells the supervisor: what every isolate says while it starts, and its own news. */
export type FromWorker =
  | FromIsolate
  /** Serving; `port` is the bound port (meaningful for reusePort). */
  | { readonly type: 'listening'; readonly port: number }
  /**
   * Shutdown finished: `forced` connections had to be cut at the end of the grace period,
   * `received` requests came in since the worker started, `unanswered` of them had no response.
   */
  | { readonly type: 'drained'; readonly forced: number; readonly received: number; readonly unanswered: number };
