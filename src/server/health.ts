/**
 * Liveness and readiness, as the admin listener reports them (admin.ts), read from what the
 * supervisors already keep: each seat's thread, and each isolate's heartbeat in shared memory
 * (executor/isolate-state.ts), stamped every 50 ms by the isolate's own event loop.
 *
 * - Live (`/healthz`): every isolate that serves stamped its heartbeat within `HEALTH_STALE_MS`,
 *   or is inside the synchronous part of a handler that is still within its route's timeout (a
 *   CPU-bound handler the app allows to take long). A seat whose thread is being replaced is
 *   reported but does not fail the probe: the supervisor is already mending it, and restarting
 *   the whole process would cut the isolates that serve. An event loop blocked where no timeout
 *   covers it (`handlerTimeout: 0`, or code after an `await`) fails it, so an orchestrator
 *   restarts a process its own watchdog cannot mend.
 * - Ready (`/readyz`): every pinned worker listens and the server is not stopping. On SIGTERM the
 *   server turns unready first, then keeps serving for `shutdownDelay` so that load balancers
 *   stop sending, then drains.
 */

import type { IsolateState } from '../executor/isolate-state.ts';
import type { Seat } from './seat.ts';

/** An isolate whose event loop has not stamped its heartbeat for this long, in ms, is not live. */
export const HEALTH_STALE_MS = 2_000;

export interface IsolateHealth {
  readonly kind: 'pinned' | 'pooled';
  readonly index: number;
  /** The seated thread's id; -1 while none is seated. */
  readonly threadId: number;
  /** `serving`, or `starting` while the seat's thread is starting or being replaced. */
  readonly status: 'serving' | 'starting';
  /** ms since the isolate's heartbeat; null while it is not serving. */
  readonly heartbeatAgeMs: number | null;
  /** Whether this isolate passes the liveness check. */
  readonly live: boolean;
}

/** What the supervisor tells the admin listener. */
export interface HealthReport {
  readonly live: boolean;
  readonly ready: boolean;
  /** Why the server is not ready; null when it is. */
  readonly notReady: string | null;
  readonly isolates: readonly IsolateHealth[];
}

/** The health of the isolate in `seat`, whose words in `state` are at the seat's index. */
export function seatHealth(kind: 'pinned' | 'pooled', seat: Seat, state: IsolateState): IsolateHealth {
  const base = { kind, index: seat.index, threadId: seat.ready ? seat.threadId : -1 };
  if (!seat.ready) return { ...base, status: 'starting', heartbeatAgeMs: null, live: true };
  const age = state.heartbeatAge(seat.index);
  const busyWithinLimit = state.inHandler(seat.index) && state.overrun(seat.index) <= 0;
  return { ...base, status: 'serving', heartbeatAgeMs: age, live: age <= HEALTH_STALE_MS || busyWithinLimit };
}
