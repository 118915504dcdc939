/**
 * Routing and placement: find the route (404, 405 + Allow, 400, 413 by content-length), then
 * decide where its handler runs.
 *
 *   { pool: true }    always on the pool (503 + Retry-After when the pool and its queues are full)
 *   { pool: false }   always inline (503 + Retry-After past maxInFlight)
 *   unset             inline; past maxInFlight, or while this worker is saturated (too many
 *                     requests in flight, or its event loop lagging), it spills to the pool if
 *                     an isolate has an idle task slot, and is shed with 503 if none has
 */

import { errorResponse, faultResponse, httpFault } from '../app/boundary.ts';
import type { Route } from '../app/table.ts';
import { bodyTooLarge } from '../app/request.ts';
import type { Outgoing } from '../app/response.ts';
import type { Match } from '../router/router.ts';
import type { Exchange, Lifecycle } from './context.ts';
import { err } from '../core/result.ts';
import { reply, replyWith } from './reply.ts';
import { runInline, runPooled } from './run.ts';

export function route(lifecycle: Lifecycle, exchange: Exchange): void {
  const { method } = exchange;
  const match = lifecycle.table.router.find(method, exchange.path);
  if (match.kind !== 'found') {
    reply(lifecycle, exchange, unrouted(match, method));
    return;
  }
  const found: Route = match.value;
  exchange.route = found.id;
  const declared = exchange.incoming.headers['content-length'];
  const bodyLimit = found.bodyLimit ?? lifecycle.bodyLimit;
  if (declared !== undefined && Number(declared) > bodyLimit) {
    reply(lifecycle, exchange, faultResponse(httpFault(bodyTooLarge(bodyLimit))));
    return;
  }
  const { pool } = lifecycle;
  if (pool !== null && found.pool !== false && (found.pool === true || exchange.overAdmitted || saturated(lifecycle))) {
    if (found.pool === true || pool.hasIdleSlot()) runPooled(lifecycle, exchange, pool, found, match.params);
    else replyWith(lifecycle, exchange, err({ kind: 'overloaded' }));
  } else if (exchange.overAdmitted) {
    replyWith(lifecycle, exchange, err({ kind: 'overloaded' }));
  } else {
    runInline(lifecycle, exchange, found, match.params);
  }
}

/** The answer for a request no route takes; OPTIONS on a known path lists its methods. */
function unrouted(match: Exclude<Match<Route>, { kind: 'found' }>, method: string): Outgoing {
  switch (match.kind) {
    case 'not-found':
      return errorResponse(404, 'Not Found');
    case 'bad-request':
      return errorResponse(400, `Bad Request: ${match.reason}`);
    case 'method-not-allowed':
      return method === 'OPTIONS' ? { status: 204, headers: { allow: match.allow }, body: null } : errorResponse(405, 'Method Not Allowed', { headers: { allow: match.allow } });
  }
}

function saturated(lifecycle: Lifecycle): boolean {
  return lifecycle.inFlight > lifecycle.spillInFlight || lifecycle.loopDelay > lifecycle.spillLoopDelay;
}
