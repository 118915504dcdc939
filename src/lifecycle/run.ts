/**
 * Running the handler, where route.ts placed it, and racing it against its timeout.
 *
 * Inline (the fast path): a synchronous handler allocates the `Request` and the response it
 * produces, and nothing else: no promise, no timer, and no `Response` unless the handler
 * declares `(req, res)`. The watchdog sees how long the synchronous part runs.
 *
 * Pooled: the body is read here first (the body limit applies on this side), and the request
 * crosses the rings; the pool client races it against the timeout and answers a fault if the
 * isolate cannot.
 */

import type { Route } from '../app/table.ts';
import { httpFault } from '../app/boundary.ts';
import { invoke } from '../app/invoke.ts';
import { readBody, Request } from '../app/request.ts';
import { disposeBody, NO_RESPONSE, Response } from '../app/response.ts';
import { isHttpError } from '../core/errors.ts';
import { err } from '../core/result.ts';
import type { Pool } from '../executor/pool.ts';
import type { Exchange, Lifecycle } from './context.ts';
import { replyWith } from './reply.ts';

const EMPTY_BODY = new Uint8Array(0);

type Params = Readonly<Record<string, string>>;

export function runInline(lifecycle: Lifecycle, exchange: Exchange, route: Route, params: Params): void {
  const { incoming } = exchange;
  const req = new Request(exchange.method, exchange.path, exchange.rawQuery, params, incoming.headers, incoming.body, route.bodyLimit ?? lifecycle.bodyLimit, lifecycle.isolate, incoming);
  exchange.req = req;
  const timeout = route.timeout ?? lifecycle.handlerTimeout;
  const { state } = lifecycle;
  const self = lifecycle.isolate.index;
  // The watchdog sees how long the handler's synchronous part runs (route timeout 0: never cut).
  state.enterHandler(self, timeout, route.id);
  const result = invoke(route, req, route.wantsResponse ? new Response() : NO_RESPONSE, lifecycle);
  state.leaveHandler(self);
  if (!(result instanceof Promise)) {
    replyWith(lifecycle, exchange, result);
  } else if (timeout === 0) {
    exemptBegin(lifecycle);
    void result.then((settled) => {
      exemptEnd(lifecycle);
      replyWith(lifecycle, exchange, settled);
    });
  } else {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      replyWith(lifecycle, exchange, err({ kind: 'timeout', timeoutMs: timeout }));
    }, timeout);
    void result.then((settled) => {
      if (timedOut) {
        if (settled.ok) disposeBody(settled.value.body); // too late: the client got its 504
        return;
      }
      clearTimeout(timer);
      replyWith(lifecycle, exchange, settled);
    });
  }
}

export function runPooled(lifecycle: Lifecycle, exchange: Exchange, pool: Pool, route: Route, params: Params): void {
  const { incoming } = exchange;
  const timeout = route.timeout ?? lifecycle.handlerTimeout;
  const submit = (body: Uint8Array): void => {
    const request = { taskId: 0, routeId: route.id, method: exchange.method, path: exchange.path, rawQuery: exchange.rawQuery, params, headers: incoming.headers, body };
    void pool.submit(request, timeout).then((result) => replyWith(lifecycle, exchange, result));
  };
  if (incoming.bodyless) {
    submit(EMPTY_BODY);
  } else {
    readBody(incoming.body, route.bodyLimit ?? lifecycle.bodyLimit).then(submit, (thrown: unknown) =>
      replyWith(lifecycle, exchange, err(isHttpError(thrown) ? httpFault(thrown) : { kind: 'unavailable' })),
    );
  }
}

/** A request of a route with `timeout: 0` starts: the watchdog's loop limit is lifted while any runs. */
function exemptBegin(lifecycle: Lifecycle): void {
  if (lifecycle.exempt++ === 0) lifecycle.state.setLoopLimit(lifecycle.isolate.index, 0);
}

function exemptEnd(lifecycle: Lifecycle): void {
  if (--lifecycle.exempt === 0) lifecycle.state.setLoopLimit(lifecycle.isolate.index, lifecycle.loopLimit);
}
