/**
 * The last step of every request: the onResponse hooks (when the app has them), then the wire.
 * Every answer ends here — the handler's, a hook's, a 404, a fault — so the request stops
 * counting as in flight exactly once: at once for a whole body, when the last chunk is taken
 * (or the client leaves) for a streamed one.
 */

import type { Execution } from '../app/invoke.ts';
import { describeThrown, faultResponse, internalFault } from '../app/boundary.ts';
import { disposeBody, isBodyStream, type Outgoing } from '../app/response.ts';
import { runAfter } from '../app/request.ts';
import { ErrorCode } from '../core/errors.ts';
import { M_IN_FLIGHT, M_SHED, M_TIMED_OUT } from '../executor/isolate-metrics.ts';
import { BodyStreamError } from '../protocol/body.ts';
import type { RespondOptions } from '../protocol/incoming.ts';
import type { Exchange, Lifecycle } from './context.ts';
import { runResponseHooks } from './hooks.ts';

/**
 * Answers the request with what its handler came to: its response, or the fault's. Every shed
 * request (503, overloaded) and every handler timeout (504) comes through here, and is counted.
 */
export function replyWith(lifecycle: Lifecycle, exchange: Exchange, execution: Execution): void {
  if (execution.ok) {
    reply(lifecycle, exchange, execution.value);
    return;
  }
  const fault = execution.error;
  if (fault.kind === 'overloaded') lifecycle.metrics.add(M_SHED);
  else if (fault.kind === 'timeout') lifecycle.metrics.add(M_TIMED_OUT);
  reply(lifecycle, exchange, faultResponse(fault));
}

/** Answers the request: onResponse hooks, then `write`. */
export function reply(lifecycle: Lifecycle, exchange: Exchange, outgoing: Outgoing): void {
  const { info } = exchange;
  if (info === null || lifecycle.onResponse.length === 0) write(lifecycle, exchange, outgoing);
  else void runResponseHooks(lifecycle, info, outgoing).then((checked) => write(lifecycle, exchange, checked));
}

/** Writes the answer on the wire; a protocol that refuses it gets a bare 500 instead, never silence. */
function write(lifecycle: Lifecycle, exchange: Exchange, outgoing: Outgoing): void {
  const { incoming } = exchange;
  const body = incoming.body;
  // A body left unread after a 413, or paused mid-way by the body limit, is not drained: the
  // connection (HTTP/1.1) or the stream's request side (HTTP/2) is closed instead.
  const abandonBody = outgoing.status === 413 || (!body.readableEnded && body.isPaused());
  const stop = isEventStream(outgoing) ? new AbortController() : null;
  if (stop !== null && lifecycle.draining) stop.abort();
  const micros = (performance.now() - exchange.began) * 1000;
  lifecycle.metrics.answered(exchange.route, exchange.method, outgoing.status, micros);
  if (lifecycle.accessLog) logAccess(lifecycle, exchange, outgoing.status, micros);
  const headers = outgoing.headers as Record<string, string | readonly string[]>;
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = exchange.id;
  let sending: void | Promise<void> = undefined;
  try {
    sending = incoming.respond(outgoing, stop === null ? PLAIN[+exchange.head | (+abandonBody << 1) | (+lifecycle.draining << 2)]! : {
      head: exchange.head,
      abandonBody,
      draining: lifecycle.draining,
      stop: stop.signal,
    });
  } catch (thrown) {
    disposeBody(outgoing.body);
    notSent(lifecycle, exchange, thrown);
  }
  if (sending === undefined) {
    written(lifecycle, exchange);
    return;
  }
  if (stop !== null) lifecycle.streaming.add(stop);
  sending
    .catch((thrown: unknown) => notSent(lifecycle, exchange, thrown))
    .finally(() => {
      if (stop !== null) lifecycle.streaming.delete(stop);
      written(lifecycle, exchange);
    });
}

/**
 * The options of every response that is not an event stream, made once: index by head (1),
 * abandonBody (2) and draining (4). Nothing is allocated per response for them.
 */
const PLAIN: readonly RespondOptions[] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze({ head: (bits & 1) !== 0, abandonBody: (bits & 2) !== 0, draining: (bits & 4) !== 0, stop: undefined }),
);

/**
 * The response could not be (wholly) sent: logged under an error id like every other fault
 * (the client cannot be told it: a bare 500 if nothing was sent yet, else the response is cut).
 */
function notSent(lifecycle: Lifecycle, exchange: Exchange, thrown: unknown): void {
  const where = `the response to ${exchange.method} ${exchange.path}`;
  // What a streamed body threw may reach here unwrapped (a chunk's getter): anything at all.
  if (isBodyStreamError(thrown)) internalFault(ErrorCode.HANDLER, where, thrown.message, lifecycle, exchange.id);
  else internalFault(ErrorCode.HANDLER, where, `the response could not be sent over ${exchange.incoming.protocol}: ${describeThrown(thrown)}`, lifecycle, exchange.id);
  try {
    exchange.incoming.fail();
  } catch {
    // The client is gone.
  }
}

/**
 * A request's response has been written (or its client left): a plain store, as in `admit`; then
 * the handler's `req.after()` functions, if it added any.
 */
function written(lifecycle: Lifecycle, exchange: Exchange): void {
  lifecycle.state.setLoadRelaxed(lifecycle.isolate.index, --lifecycle.inFlight);
  lifecycle.metrics.set(M_IN_FLIGHT, lifecycle.inFlight);
  if (exchange.req !== null) runAfter(exchange.req, lifecycle.afterWork);
}

/**
 * The access line of an answered request, when the response is handed to the connection (a
 * streamed body is still flowing then): pino's fields in the json format, one readable line in
 * the pretty one.
 */
function logAccess(lifecycle: Lifecycle, exchange: Exchange, status: number, micros: number): void {
  const route = exchange.route === -1 ? null : (lifecycle.table.routes[exchange.route]?.path ?? null);
  const durationMs = Math.round(micros) / 1000;
  // ALPN's names, as the metrics label connections.
  const protocol = PROTOCOL_NAMES[exchange.incoming.protocol];
  const { log } = lifecycle;
  if (log.format === 'pretty') {
    log.info(`${exchange.method} ${exchange.path} ${status} ${durationMs} ms ${protocol} [${exchange.id}]`);
    return;
  }
  log.info('request completed', {
    reqId: exchange.id,
    method: exchange.method,
    path: exchange.path,
    route,
    status,
    durationMs,
    protocol,
  });
}

const PROTOCOL_NAMES = { h1: 'http/1.1', h2: 'h2', memory: 'in-process' } as const;

function isBodyStreamError(thrown: unknown): thrown is BodyStreamError {
  try {
    return thrown instanceof BodyStreamError; // instanceof runs a Proxy's getPrototypeOf trap
  } catch {
    return false;
  }
}

function isEventStream(outgoing: Outgoing): boolean {
  const type = outgoing.headers['content-type'];
  return isBodyStream(outgoing.body) && typeof type === 'string' && /^text\/event-stream\b/i.test(type);
}
