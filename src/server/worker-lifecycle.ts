/**
 * What starting and restarting any isolate has in common, pinned or pooled: waiting for its
 * lifecycle messages with a deadline, comparing route tables, and the restart backoff.
 */

import type { Worker } from 'node:worker_threads';
import { routeLabel, type RouteInfo } from '../app/app.ts';
import type { IsolateState } from '../executor/isolate-state.ts';
import { describeThrown } from '../core/describe.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, ok, type Result } from '../core/result.ts';
import type { FromPooled } from '../executor/messages.ts';
import type { FromWorker } from './messages.ts';

/** Any message a supervisor hears from an isolate it started. */
type FromAnyIsolate = FromWorker | FromPooled;

/** Node.js's exit code when a module's top-level await can never finish. */
const UNSETTLED_TOP_LEVEL_AWAIT = 13;

export interface StartError {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * Waits for the worker's next lifecycle message of `type`. A `failed` message, an early exit, an
 * uncaught error or the deadline end the wait with an error instead. `label` names the worker in
 * messages ("pinned worker 1").
 */
export function waitFor<T extends FromAnyIsolate['type']>(
  worker: Worker,
  type: T,
  deadline: number,
  label: string,
): Promise<Result<Extract<FromAnyIsolate, { type: T }>, StartError>> {
  return new Promise((resolve) => {
    let lastError: unknown = null;
    const done = (result: Result<Extract<FromAnyIsolate, { type: T }>, StartError>): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      resolve(result);
    };
    const onMessage = (message: FromAnyIsolate): void => {
      if (message.type === type) done(ok(message as Extract<FromAnyIsolate, { type: T }>));
      else if (message.type === 'failed') done(err({ code: message.code, message: message.message }));
    };
    const onError = (error: unknown): void => {
      lastError = error;
    };
    const onExit = (code: number): void =>
      done(
        err({
          code: ErrorCode.WORKER_START,
          message:
            `${label} exited with code ${code} while starting` +
            (lastError !== null
              ? `: ${describeThrown(lastError)}`
              : code === UNSETTLED_TOP_LEVEL_AWAIT
                ? ': the app module, or one of its onStartup hooks, awaited a promise that can never settle (nothing else was left for its event loop to do)'
                : ''),
        }),
      );
    const timer = setTimeout(
      () =>
        done(
          err({
            code: ErrorCode.WORKER_START,
            message: `${label} did not start within the startup timeout (is the app module waiting on something at load time?)`,
          }),
        ),
      Math.max(0, deadline - Date.now()),
    );
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export function sameRoutes(a: readonly RouteInfo[], b: readonly RouteInfo[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function routeMismatch(label: string, expected: readonly RouteInfo[], got: readonly RouteInfo[]): StartError {
  const show = (routes: readonly RouteInfo[]): string => routes.map((r) => `${routeLabel(r)}#${r.id}`).join(', ') || '(none)';
  return {
    code: ErrorCode.ROUTE_TABLE_MISMATCH,
    message:
      `${label} built a different route table from pinned worker 0; routes must be registered the same way ` +
      `in every isolate (at module level, not depending on timing or randomness).\n  pinned worker 0: ${show(expected)}\n  ${label}: ${show(got)}`,
  };
}

/** How often the watchdogs look for isolates stuck past their handler's timeout, in ms. */
const WATCHDOG_INTERVAL_MS = 100;
/** How far past its timeout an isolate may stay blocked before it is replaced, in ms. */
export const WATCHDOG_GRACE_MS = 50;

/**
 * Why isolate `index` must be replaced, or null: it has been inside one handler's synchronous
 * code past that route's timeout (plus the grace), or its event loop has not stamped its
 * heartbeat for longer than the timeouts of what it runs (CPU-bound code after an `await`, a
 * hook that loops). A route with `timeout: 0` is never cut. Both watchdogs, pinned and pooled,
 * judge by this one rule.
 */
function stuckReason(state: IsolateState, index: number, routes: readonly RouteInfo[]): string | null {
  const overrun = state.overrun(index);
  if (overrun > WATCHDOG_GRACE_MS) {
    const route = routes[state.busyRoute(index)];
    return `was stuck in the synchronous code of ${route === undefined ? 'a handler' : routeLabel(route)} ${overrun} ms past its timeout`;
  }
  const blocked = state.loopOverrun(index);
  if (blocked > WATCHDOG_GRACE_MS) return `had its event loop blocked ${blocked} ms past the timeout of what it was running`;
  return null;
}

/** What a watchdog needs of a supervisor's seat (seat.ts). */
export interface WatchedSeat {
  readonly index: number;
  readonly ready: boolean;
  readonly worker: Worker | null;
  /** Why the watchdog terminated the seat's isolate; null while it has not. */
  killedFor: string | null;
}

/**
 * Starts a watchdog: every `WATCHDOG_INTERVAL_MS`, every serving isolate that `stuckReason` finds
 * stuck is terminated, once, with the reason kept on its seat for the exit log line.
 * `beforeKill` sees the seat first. The timer does not keep the process alive.
 */
export function startWatchdog<S extends WatchedSeat>(
  seats: readonly S[],
  state: IsolateState,
  routes: readonly RouteInfo[],
  beforeKill?: (seat: S) => void,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    for (const seat of seats) {
      if (!seat.ready || seat.worker === null || seat.killedFor !== null) continue;
      const reason = stuckReason(state, seat.index, routes);
      if (reason === null) continue;
      seat.killedFor = reason;
      beforeKill?.(seat);
      void seat.worker.terminate();
    }
  }, WATCHDOG_INTERVAL_MS);
  timer.unref();
  return timer;
}

/** Restart delays that double while an isolate keeps dying young, from 100 ms up to 10 s. */
export class RestartBackoff {
  static readonly FIRST_MS = 100;
  static readonly MAX_MS = 10_000;
  /** An isolate that served at least this long resets the backoff when it dies. */
  static readonly HEALTHY_UPTIME_MS = 5_000;
  #next: number = RestartBackoff.FIRST_MS;

  /** The delay before the next restart attempt; `uptime` is how long the isolate ran (ms). */
  next(uptime: number): number {
    if (uptime >= RestartBackoff.HEALTHY_UPTIME_MS) this.#next = RestartBackoff.FIRST_MS;
    const delay = this.#next;
    this.#next = Math.min(this.#next * 2, RestartBackoff.MAX_MS);
    return delay;
  }
}
