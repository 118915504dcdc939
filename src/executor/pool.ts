/**
 * What the request lifecycle needs from a pooled executor (lifecycle/route.ts and run.ts): to
 * know whether a request may spill there, and to run a request there. Two implement it:
 * `PoolClient` (pool-client.ts), which sends requests to pooled isolates over the rings, and
 * `InProcessPool` (in-process-pool.ts), which carries them through the same codec and rings on
 * the calling thread for `app.request()`.
 */

import type { Fault } from '../app/boundary.ts';
import type { Outgoing } from '../app/response.ts';
import type { Result } from '../core/result.ts';
import type { PoolRequest } from './codec.ts';

/** The handler's response, or the fault that stands for it (overloaded, timeout, unavailable, the handler's own). */
export type PoolResult = Result<Outgoing, Fault>;

export interface Pool {
  /** Whether a request may spill to the pool now (an isolate has an idle task slot). */
  hasIdleSlot(): boolean;
  /**
   * Runs `request` on the pool within `timeoutMs` (0: no limit). Never rejects. The request
   * belongs to the pool from now on (it sets `taskId`).
   */
  submit(request: PoolRequest, timeoutMs: number): Promise<PoolResult>;
}
