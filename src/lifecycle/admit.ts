/**
 * The first step of every request: count it, normalise its target, check the limits that need
 * no route, and decide whether it is past `maxInFlight`. Then the onRequest hooks, if the app
 * has any, and routing.
 *
 *   incoming ─► admit ─► 414 / 400 / 503 (no pool) ──────────────────────────► reply
 *                  └───► onRequest hooks ─► a hook answered ─────────────────► reply
 *                                      └──► route (route.ts) ─► run (run.ts) ─► reply
 */

import { errorResponse } from '../app/boundary.ts';
import { headerValue, requestIdOf, type IncomingHeaders } from '../app/request.ts';
import type { RequestInfo } from '../app/hooks.ts';
import type { Incoming } from '../protocol/incoming.ts';
import { normalizePath } from '../router/normalize.ts';
import type { Exchange, Lifecycle } from './context.ts';
import { runRequestHooks } from './hooks.ts';
import { err } from '../core/result.ts';
import { M_IN_FLIGHT } from '../executor/isolate-metrics.ts';
import { reply, replyWith } from './reply.ts';
import { route } from './route.ts';

/** Takes one request from a protocol engine through its whole lifecycle. */
export function admit(lifecycle: Lifecycle, incoming: Incoming): void {
  // Admission control, decided on arrival: with `maxInFlight` requests already in flight this
  // one is past the bound. It may still spill to the pool (see route.ts); else it is shed.
  const overAdmitted = lifecycle.inFlight >= lifecycle.maxInFlight;
  lifecycle.received++;
  // Published for the watchdog's log line (how many requests a replacement cut), with a plain
  // store: no fence on the per-request path. `write` in reply.ts takes it back.
  lifecycle.state.setLoadRelaxed(lifecycle.isolate.index, ++lifecycle.inFlight);
  lifecycle.metrics.set(M_IN_FLIGHT, lifecycle.inFlight);

  const { method, target } = incoming;
  const q = target.indexOf('?');
  const rawQuery = q === -1 ? '' : target.slice(q + 1);
  const rawPath = q === -1 ? target : target.slice(0, q);
  const path = normalizePath(rawPath);
  const id = requestIdOf(incoming.headers);
  const exchange: Exchange = {
    id,
    incoming,
    method,
    path: path ?? rawPath,
    rawQuery,
    head: method === 'HEAD',
    info: lifecycle.hasHooks ? requestInfo(id, method, path ?? rawPath, rawQuery, incoming.headers) : null,
    overAdmitted,
    began: performance.now(),
    route: -1,
    req: null,
  };
  if (target.length > lifecycle.maxUrlLength) {
    reply(lifecycle, exchange, errorResponse(414, `URI Too Long: the limit is ${lifecycle.maxUrlLength} bytes`));
  } else if (path === null) {
    reply(lifecycle, exchange, errorResponse(400, 'Bad Request: the path has an encoded separator or climbs above the root'));
  } else if (overAdmitted && lifecycle.pool === null) {
    // Without a pool nothing can spill: a request past the bound is shed before any onRequest
    // hook runs, so expensive hooks (an authentication lookup) are bounded too. onResponse
    // hooks still see the 503 (CORS headers on it, say).
    replyWith(lifecycle, exchange, err({ kind: 'overloaded' }));
  } else if (exchange.info === null || lifecycle.onRequest.length === 0) {
    route(lifecycle, exchange);
  } else {
    void runRequestHooks(lifecycle, exchange.info).then((answer) => {
      if (answer === null) route(lifecycle, exchange);
      else reply(lifecycle, exchange, answer);
    });
  }
}

/** What hooks see of a request: built only when the app has hooks. */
function requestInfo(id: string, method: string, path: string, rawQuery: string, headers: IncomingHeaders): RequestInfo {
  return {
    id,
    method,
    path,
    rawQuery,
    header: (name) => headerValue(headers, name),
  };
}
