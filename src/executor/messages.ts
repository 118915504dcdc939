/**
 * The supervisor ↔ isolate control protocol that both kinds of isolate share, over
 * `postMessage`, and the pooled isolates' own part of it. It carries lifecycle events, never
 * requests. The pinned workers' own messages (listening, draining) are in server/messages.ts.
 */

import { parentPort } from 'node:worker_threads';
import { reportedRoutes, type AppTable, type RouteInfo } from '../app/app.ts';
import { startApp } from '../app/load.ts';
import type { IsolateInfo } from '../app/request.ts';
import type { ErrorCode } from '../core/errors.ts';
import { IsolateMetrics } from './isolate-metrics.ts';
import type { TopicPeerUpdate } from './topic-topology.ts';
import type { RingPair } from './topology.ts';

/** What any isolate, pinned or pooled, tells the supervisor while it starts. */
export type FromIsolate =
  /**
   * The app loaded; its route table, for the supervisor to compare across isolates, and the
   * shared memory where this isolate keeps its metrics (isolate-metrics.ts).
   */
  | { readonly type: 'routes'; readonly routes: readonly RouteInfo[]; readonly metrics: SharedArrayBuffer }
  /** The isolate cannot serve; it waits to be terminated. */
  | { readonly type: 'failed'; readonly code: ErrorCode; readonly message: string };

export type ToPooled =
  /** Pinned worker `pinned` was replaced: use these fresh rings for it. */
  | { readonly type: 'pinned-rings'; readonly pinned: number; readonly rings: RingPair }
  /** Another isolate was replaced: publish to it on this fresh topic ring. */
  | { readonly type: 'topic-peer'; readonly update: TopicPeerUpdate }
  /**
   * The server is shutting down and every request has finished: let `req.after()` work finish
   * (at most `graceMs`), then run the onShutdown hooks.
   */
  | { readonly type: 'stop'; readonly graceMs: number };

export type FromPooled =
  | FromIsolate
  /** The isolate ran the app's onShutdown hooks and may be stopped. */
  | { readonly type: 'stopped' };

/**
 * The first step of every isolate, pinned or pooled: import the app, run its onStartup hooks and
 * report its route table and metrics memory to the supervisor, or report why it cannot. Returns
 * the table and the metrics, or null after a failure (the supervisor then terminates the
 * isolate; the port stays open until then, so the report arrives).
 */
export async function loadAndReport(appUrl: string, isolate: IsolateInfo): Promise<{ table: AppTable; metrics: IsolateMetrics } | null> {
  const started = await startApp(appUrl, isolate);
  const port = parentPort;
  if (port === null) throw new Error('loadAndReport() runs only in a worker thread');
  if (!started.ok) {
    port.postMessage({ type: 'failed', code: started.error.code, message: started.error.message } satisfies FromIsolate);
    return null;
  }
  const metrics = IsolateMetrics.create(started.value.routes.length);
  port.postMessage({ type: 'routes', routes: reportedRoutes(started.value), metrics: metrics.buffer } satisfies FromIsolate);
  return { table: started.value, metrics };
}
