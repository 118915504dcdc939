/**
 * What the request lifecycle works with: `Lifecycle`, one per pinned worker (its settings and
 * its counters), and `Exchange`, one per request (what admission learnt about it), which every
 * step after admission takes instead of a list of loose parameters.
 */

import type { AppTable } from '../app/table.ts';
import type { OnErrorHook, OnRequestHook, OnResponseHook, RequestInfo } from '../app/hooks.ts';
import type { IsolateInfo, Request } from '../app/request.ts';
import { AfterWork } from '../app/after.ts';
import type { Logger } from '../core/log.ts';
import type { IsolateMetrics } from '../executor/isolate-metrics.ts';
import type { IsolateState } from '../executor/isolate-state.ts';
import type { Pool } from '../executor/pool.ts';
import type { Incoming } from '../protocol/incoming.ts';

/** How a pinned worker's lifecycle is set up (see `createLifecycle`). */
export interface LifecycleSettings {
  readonly table: AppTable;
  readonly bodyLimit: number;
  readonly isolate: IsolateInfo;
  readonly log: Logger;
  /** Put handler errors' messages and stacks in 500 responses (development only). */
  readonly exposeErrors: boolean;
  /** Past this many bytes of request target, 414. */
  readonly maxUrlLength: number;
  /** Default handler timeout in ms (0: none); a route's own `timeout` wins. Bounds async hooks too. */
  readonly handlerTimeout: number;
  /** The pooled executor, or null when there is no pool. */
  readonly pool: Pool | null;
  /** Saturation: more requests in flight than this spill eligible routes to the pool. */
  readonly spillInFlight: number;
  /** Saturation: an event-loop delay above this (ms) spills eligible routes to the pool. */
  readonly spillLoopDelay: number;
  /** Admission control: past this many requests in flight, what cannot go to the pool answers 503. */
  readonly maxInFlight: number;
  /**
   * This worker's words in the shared isolate state (isolate-state.ts): the handler whose
   * synchronous part runs, for the supervisor's watchdog.
   */
  readonly state: IsolateState;
  /**
   * How long this worker's event loop may stay blocked outside a handler's synchronous part
   * before the watchdog replaces it: the longest timeout of any route (0: no limit). While a
   * request of a route with `timeout: 0` runs, the limit is lifted (see `Lifecycle.exempt`).
   */
  readonly loopLimit: number;
  /** This worker's counters and histograms in shared memory, read by the supervisor (isolate-metrics.ts). */
  readonly metrics: IsolateMetrics;
  /** Log one line per answered request. */
  readonly accessLog: boolean;
}

/** A pinned worker's request lifecycle: its settings, and the state its requests share. */
export interface Lifecycle extends LifecycleSettings {
  /** The app's hooks, by kind. */
  readonly onRequest: readonly OnRequestHook[];
  readonly onResponse: readonly OnResponseHook[];
  readonly onError: readonly OnErrorHook[];
  /** Whether any onRequest or onResponse hook exists (they need a `RequestInfo`). */
  readonly hasHooks: boolean;
  /** Recent event-loop delay in ms, kept up to date by the worker. */
  loopDelay: number;
  /** Requests whose response has not been written yet. */
  inFlight: number;
  /** Requests received since the worker started (all of them answered, or still in flight). */
  received: number;
  /** Set during shutdown: HTTP/1.1 responses then close their connection. */
  draining: boolean;
  /**
   * Requests in flight on routes with `timeout: 0`, which opt out of the watchdog: while any
   * runs, the event loop may stay blocked as long as it takes.
   */
  exempt: number;
  /**
   * Event streams being written, ended cleanly when the server shuts down: an event stream has
   * no natural end, and its client reconnects. Other streamed bodies (a download) are not ended
   * early, which would pass a truncated body off as whole: they get the grace period, like any
   * request in flight, and are cut after it.
   */
  readonly streaming: Set<AbortController>;
  /** `req.after()` work under way on this worker: a graceful shutdown waits for it. */
  readonly afterWork: AfterWork;
}

/** One request, from admission to its reply. */
export interface Exchange {
  /** The request's id (request.ts, `requestIdOf`). */
  readonly id: string;
  readonly incoming: Incoming;
  readonly method: string;
  /** The normalised path (the path as sent when it cannot be normalised and is answered 400). */
  readonly path: string;
  readonly rawQuery: string;
  readonly head: boolean;
  /** What hooks see of the request; null when the app has no onRequest or onResponse hook. */
  readonly info: RequestInfo | null;
  /** Arrived with `maxInFlight` requests already in flight: it may spill to the pool, or is shed. */
  readonly overAdmitted: boolean;
  /** `performance.now()` when it arrived. */
  readonly began: number;
  /** The ID of the route that took it; -1 until routing finds one (and for good if none does). */
  route: number;
  /** The handler's request, when it ran inline (its `after` functions run once the response is sent). */
  req: Request<unknown, unknown, unknown, unknown> | null;
}

export function createLifecycle(settings: LifecycleSettings): Lifecycle {
  const { onRequest, onResponse, onError } = settings.table.hooks;
  return {
    ...settings,
    onRequest,
    onResponse,
    onError,
    hasHooks: onRequest.length > 0 || onResponse.length > 0,
    loopDelay: 0,
    inFlight: 0,
    received: 0,
    draining: false,
    exempt: 0,
    streaming: new Set(),
    afterWork: new AfterWork(settings),
  };
}

/** Ends every event stream cleanly (see `pipeBody`); the server is shutting down. */
export function endStreams(lifecycle: Lifecycle): void {
  for (const stop of lifecycle.streaming) stop.abort();
}
