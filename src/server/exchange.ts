/**
 * One request, from either protocol engine to a response: route, check limits, decide where the
 * handler runs (inline here, or on the pooled executor), run it, send. This is the per-request
 * hot path of a pinned worker. Fast path: an inline route with a synchronous handler allocates
 * the `Request` and the response it produces, and nothing else: no promise, no timer, and no
 * `Response` unless the handler declares `(req, res)`.
 *
 * Where a route runs:
 *   { pool: true }    always on the pool (503 + Retry-After when the pool and its queues are full)
 *   { pool: false }   always inline
 *   unset             inline; while this worker is saturated (too many requests in flight, or
 *                     its event loop lagging) it spills to the pool if an isolate has an idle
 *                     slot, and is shed with 503 if none has
 */

import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { AppTable, Route } from '../app/app.ts';
import type { OnErrorHook, RequestInfo, ResponseDraft } from '../app/hooks.ts';
import { describeThrown, errorResponse, faultFromThrown, faultResponse, httpFault, internalFault, isThenable, textOf } from '../app/boundary.ts';
import { invoke, type Execution } from '../app/invoke.ts';
import { bodyTooLarge, readBody, Request, type Closable, type IncomingHeaders, type IsolateInfo } from '../app/request.ts';
import { checkDraft, disposeBody, isBodyStream, isReply, NO_RESPONSE, Response, toOutgoing, type Outgoing } from '../app/response.ts';
import { ErrorCode, isHttpError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { err } from '../core/result.ts';
import type { IsolateState } from '../executor/isolate-state.ts';
import type { PoolClient } from '../executor/pool-client.ts';
import { BodyStreamError, type ProtocolAdapter } from '../protocol/adapter.ts';
import { http1Adapter } from '../protocol/http1.ts';
import { http2Adapter } from '../protocol/http2.ts';
import { normalizePath } from '../router/normalize.ts';

export interface ExchangeContext {
  readonly table: AppTable;
  readonly bodyLimit: number;
  readonly isolate: IsolateInfo;
  readonly log: Logger;
  /** Put handler errors' messages and stacks in 500 responses (development only). */
  readonly exposeErrors: boolean;
  /** The app's onError hooks. */
  readonly onError: readonly OnErrorHook[];
  /** Protocol limits checked here: URL length and header count. */
  readonly maxUrlLength: number;
  readonly maxHeaderCount: number;
  /** Default handler timeout in ms (0: none); a route's own `timeout` wins. */
  readonly handlerTimeout: number;
  /** The pooled executor, or null when there is no pool. */
  readonly pool: PoolClient | null;
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
   * request of a route with `timeout: 0` runs, the limit is lifted (see `exempt`).
   */
  readonly loopLimit: number;
  /** Recent event-loop delay in ms, kept up to date by the worker. */
  loopDelay: number;
  /** Requests whose response has not been sent yet. */
  inFlight: number;
  /** Requests received since the worker started (all of them answered, or still in flight). */
  received: number;
  /** Set during shutdown: HTTP/1.1 responses then close their connection. */
  draining: boolean;
}

const EMPTY_BODY = new Uint8Array(0);
/** What `bounded` gives for a hook that did not settle in time. */
const HOOK_TIMED_OUT = Symbol('hook timed out');

/** What hooks see of a request: built only when the app has hooks. */
function requestInfo(method: string, path: string, rawQuery: string, headers: IncomingHeaders): RequestInfo {
  return {
    method,
    path,
    rawQuery,
    header(name) {
      const value = headers[name.toLowerCase()];
      return value === undefined || typeof value === 'string' ? value : value.join(', ');
    },
  };
}

export function createExchange(ctx: ExchangeContext): {
  endStreams: () => void;
  onHttp1Request: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  onHttp2Stream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
} {
  const { onRequest, onResponse } = ctx.table.hooks;
  const hasHooks = onRequest.length > 0 || onResponse.length > 0;
  const { state } = ctx;
  const self = ctx.isolate.index;

  /**
   * A request arrives (its response is not written yet). The count is published for the
   * watchdog's log line (how many requests a replacement cut), with a plain store: no fence on
   * the per-request path.
   */
  function admit(): void {
    ctx.received++;
    state.setLoadRelaxed(self, ++ctx.inFlight);
  }
  /** A request's response has been written (or its client left). */
  function release(): void {
    state.setLoadRelaxed(self, --ctx.inFlight);
  }

  /**
   * Requests in flight on routes with `timeout: 0`, which opt out of the watchdog: while any
   * runs, the event loop may stay blocked as long as it takes.
   */
  let exempt = 0;
  function exemptBegin(): void {
    if (exempt++ === 0) state.setLoopLimit(self, 0);
  }
  function exemptEnd(): void {
    if (--exempt === 0) state.setLoopLimit(self, ctx.loopLimit);
  }

  /**
   * Event streams being written, ended cleanly when the server shuts down: an event stream has
   * no natural end, and its client reconnects. Other streamed bodies (a download) are not ended
   * early, which would pass a truncated body off as whole: they get the grace period, like any
   * request in flight, and are cut after it.
   */
  const streaming = new Set<AbortController>();

  /**
   * Writes the answer; a protocol that refuses it gets a bare 500 instead, never silence. The
   * request stops counting as in flight once its response is written: at once for a whole body,
   * when the last chunk is taken (or the client leaves) for a streamed one.
   */
  function send<N>(adapter: ProtocolAdapter<N>, native: N, outgoing: Outgoing, head: boolean, body: Readable): void {
    // A body left unread after a 413, or paused mid-way by the body limit, is not drained:
    // the connection (HTTP/1.1) or the stream's request side (HTTP/2) is closed instead.
    const abandon = outgoing.status === 413 || (!body.readableEnded && body.isPaused());
    const failed = (thrown: unknown): void => {
      // What a streamed body threw may reach here unwrapped (a chunk's getter): anything at all.
      if (isBodyStreamError(thrown)) ctx.log.error(`✗ ${ErrorCode.HANDLER}: ${thrown.message}`);
      else ctx.log.error(`✗ response could not be sent over ${adapter.name}: ${describeThrown(thrown)}`);
      try {
        adapter.fail(native);
      } catch {
        // The client is gone.
      }
    };
    const stop = isEventStream(outgoing) ? new AbortController() : null;
    if (stop !== null && ctx.draining) stop.abort();
    let sending: void | Promise<void> = undefined;
    try {
      sending = adapter.send(native, outgoing, head, abandon, ctx.draining, stop?.signal);
    } catch (thrown) {
      disposeBody(outgoing.body);
      failed(thrown);
    }
    if (sending === undefined) {
      release();
      return;
    }
    if (stop !== null) streaming.add(stop);
    sending.catch(failed).finally(() => {
      if (stop !== null) streaming.delete(stop);
      release();
    });
  }

  /** Every answer ends here: onResponse hooks (when the app has them), then the wire. */
  function finish<N>(adapter: ProtocolAdapter<N>, native: N, outgoing: Outgoing, head: boolean, body: Readable, info: RequestInfo | null): void {
    if (info === null || onResponse.length === 0) {
      send(adapter, native, outgoing, head, body);
      return;
    }
    void (async () => {
      const draft = outgoing as ResponseDraft;
      let checked: Outgoing;
      try {
        checked = (await runResponseHooks(info, draft)) ? sendableDraft(draft, info) : hookTimedOut('onResponse', info);
      } catch (thrown) {
        checked = faultResponse(faultFromThrown(thrown, hookSite('onResponse', info), 'an onResponse hook threw or rejected', ctx));
      }
      // A stream the hooks left but that will not be sent is released. The draft is the app's to
      // change, so even reading its body may throw (a getter).
      try {
        if (checked.body !== draft.body) disposeBody(draft.body);
      } catch {
        // Nothing readable to release.
      }
      send(adapter, native, checked, head, body);
    })();
  }

  /** Runs the onResponse hooks in order; false when one did not settle in time. May throw. */
  async function runResponseHooks(info: RequestInfo, draft: ResponseDraft): Promise<boolean> {
    for (const hook of onResponse) if ((await bounded(hook(info, draft))) === HOOK_TIMED_OUT) return false;
    return true;
  }

  /** What the hooks left, checked as a handler's answer is; a 500 with an error id if it cannot be sent. */
  function sendableDraft(draft: ResponseDraft, info: RequestInfo): Outgoing {
    const sendable = checkDraft(draft);
    if (sendable.ok) return sendable.value;
    return faultResponse(
      internalFault(sendable.error.code, hookSite('onResponse', info), `an onResponse hook left a response that cannot be sent: ${sendable.error.message}`, ctx),
    );
  }

  /** Ends every event stream cleanly (see `pipeBody`); the server is shutting down. */
  function endStreams(): void {
    for (const stop of streaming) stop.abort();
  }

  function settle<N>(adapter: ProtocolAdapter<N>, native: N, result: Execution, head: boolean, body: Readable, info: RequestInfo | null): void {
    finish(adapter, native, result.ok ? result.value : faultResponse(result.error), head, body, info);
  }

  function handle<N>(
    adapter: ProtocolAdapter<N>,
    native: N,
    method: string,
    target: string,
    headers: IncomingHeaders,
    headerCount: number,
    hasPseudoHeaders: boolean,
    body: Readable,
  ): void {
    // Admission control, decided on arrival: with `maxInFlight` requests already in flight this
    // one is past the bound. It may still spill to the pool (see `dispatch`); else it is shed.
    const overAdmitted = ctx.inFlight >= ctx.maxInFlight;
    admit();
    const head = method === 'HEAD';
    const q = target.indexOf('?');
    const rawQuery = q === -1 ? '' : target.slice(q + 1);
    const rawPath = q === -1 ? target : target.slice(0, q);
    const path = normalizePath(rawPath);
    const info = hasHooks ? requestInfo(method, path ?? rawPath, rawQuery, headers) : null;
    if (target.length > ctx.maxUrlLength) {
      finish(adapter, native, errorResponse(414, `URI Too Long: the limit is ${ctx.maxUrlLength} bytes`), head, body, info);
      return;
    }
    if (headerCount > ctx.maxHeaderCount) {
      finish(adapter, native, errorResponse(431, `Request Header Fields Too Large: the limit is ${ctx.maxHeaderCount} headers`), head, body, info);
      return;
    }
    if (path === null) {
      finish(adapter, native, errorResponse(400, 'Bad Request: the path has an encoded separator or climbs above the root'), head, body, info);
      return;
    }
    // Without a pool nothing can spill: a request past the bound is shed before any onRequest
    // hook runs, so expensive hooks (an authentication lookup) are bounded too. onResponse hooks
    // still see the 503 (CORS headers on it, say).
    if (overAdmitted && ctx.pool === null) {
      finish(adapter, native, faultResponse({ kind: 'overloaded' }), head, body, info);
      return;
    }
    if (info === null || onRequest.length === 0) {
      dispatch(adapter, native, method, path, rawQuery, headers, hasPseudoHeaders, body, head, info, overAdmitted);
      return;
    }
    void (async () => {
      for (const hook of onRequest) {
        let outgoing: Outgoing | null;
        try {
          const answer = await bounded(hook(info));
          outgoing = answer === HOOK_TIMED_OUT ? hookTimedOut('onRequest', info) : hookAnswer(answer, info);
        } catch (thrown) {
          outgoing = faultResponse(faultFromThrown(thrown, hookSite('onRequest', info), 'an onRequest hook threw or rejected', ctx));
        }
        if (outgoing === null) continue;
        finish(adapter, native, outgoing, head, body, info);
        return;
      }
      dispatch(adapter, native, method, path, rawQuery, headers, hasPseudoHeaders, body, head, info, overAdmitted);
    })();
  }

  /**
   * What a hook gave back, awaited for at most `handlerTimeout` ms when it is a promise: a hook
   * that never settles would otherwise hold its request, and one of the worker's `maxInFlight`,
   * forever. A synchronous hook costs no timer. May throw (a `then` getter): call it in a `try`.
   */
  function bounded(value: unknown): unknown {
    const limit = ctx.handlerTimeout;
    if (limit === 0 || !isThenable(value)) return value;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(HOOK_TIMED_OUT), limit);
      Promise.resolve(value).then(
        (settled) => {
          clearTimeout(timer);
          resolve(settled);
        },
        (thrown: unknown) => {
          clearTimeout(timer);
          reject(thrown);
        },
      );
    });
  }

  /** The answer when a hook did not settle within `handlerTimeout`: 504, and the log says which. */
  function hookTimedOut(kind: 'onRequest' | 'onResponse', info: RequestInfo): Outgoing {
    ctx.log.error(`✗ ${hookSite(kind, info)} did not settle within ${ctx.handlerTimeout} ms (handlerTimeout): answered 504`);
    return errorResponse(504, `An ${kind} hook did not answer within ${ctx.handlerTimeout} ms`);
  }

  /**
   * What an onRequest hook's answer means: null passes on (nothing, null or a boolean), a reply
   * answers, anything else is a bug answered 500.
   */
  function hookAnswer(answer: unknown, info: RequestInfo): Outgoing | null {
    if (answer === undefined || answer === null || typeof answer === 'boolean') return null;
    if (!isReply(answer)) {
      return faultResponse(internalFault(ErrorCode.HANDLER, hookSite('onRequest', info), 'an onRequest hook returned something other than reply(...) or nothing', ctx));
    }
    const outgoing = toOutgoing(answer, NO_RESPONSE);
    if (outgoing.ok) return outgoing.value;
    disposeBody(answer.body);
    return faultResponse(internalFault(outgoing.error.code, hookSite('onRequest', info), `an onRequest hook answered what cannot be sent: ${outgoing.error.message}`, ctx));
  }

  /** Routes the request and runs its handler, inline or on the pool. */
  function dispatch<N>(
    adapter: ProtocolAdapter<N>,
    native: N,
    method: string,
    path: string,
    rawQuery: string,
    headers: IncomingHeaders,
    hasPseudoHeaders: boolean,
    body: Readable,
    head: boolean,
    info: RequestInfo | null,
    overAdmitted: boolean,
  ): void {
    const match = ctx.table.router.find(method, path);
    if (match.kind !== 'found') {
      const outgoing =
        match.kind === 'not-found'
          ? errorResponse(404, 'Not Found')
          : match.kind === 'bad-request'
            ? errorResponse(400, `Bad Request: ${match.reason}`)
            : method === 'OPTIONS'
              ? { status: 204, headers: { allow: match.allow }, body: null }
              : errorResponse(405, 'Method Not Allowed', { headers: { allow: match.allow } });
      finish(adapter, native, outgoing, head, body, info);
      return;
    }

    const declared = headers['content-length'];
    if (declared !== undefined && Number(declared) > ctx.bodyLimit) {
      finish(adapter, native, faultResponse(httpFault(bodyTooLarge(ctx.bodyLimit))), head, body, info);
      return;
    }

    const route: Route = match.value;
    const timeout = route.timeout ?? ctx.handlerTimeout;
    const pool = ctx.pool;
    if (pool !== null && route.pool !== false && (route.pool === true || overAdmitted || saturated())) {
      if (route.pool !== true && !pool.hasIdleSlot()) {
        finish(adapter, native, faultResponse({ kind: 'overloaded' }), head, body, info);
        return;
      }
      const submit = (bytes: Uint8Array): void => {
        void pool
          .submit({ taskId: 0, routeId: route.id, method, path, rawQuery, params: match.params, headers, body: bytes }, timeout)
          .then((result) => settle(adapter, native, result, head, body, info));
      };
      if (hasNoBody(headers, hasPseudoHeaders, body)) {
        submit(EMPTY_BODY);
      } else {
        readBody(body, ctx.bodyLimit).then(submit, (thrown: unknown) =>
          settle(adapter, native, err(isHttpError(thrown) ? httpFault(thrown) : { kind: 'unavailable' }), head, body, info),
        );
      }
      return;
    }
    if (overAdmitted) {
      finish(adapter, native, faultResponse({ kind: 'overloaded' }), head, body, info);
      return;
    }

    const req = new Request(method, path, rawQuery, match.params, headers, body, ctx.bodyLimit, ctx.isolate, native as Closable);
    // The watchdog sees how long the handler's synchronous part runs (route timeout 0: never cut).
    state.enterHandler(self, timeout, route.id);
    const result = invoke(route, req, route.wantsResponse ? new Response() : NO_RESPONSE, ctx);
    state.leaveHandler(self);
    if (!(result instanceof Promise)) {
      settle(adapter, native, result, head, body, info);
    } else if (timeout === 0) {
      exemptBegin();
      void result.then((settled) => {
        exemptEnd();
        settle(adapter, native, settled, head, body, info);
      });
    } else {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        settle(adapter, native, err({ kind: 'timeout', timeoutMs: timeout }), head, body, info);
      }, timeout);
      void result.then((settled) => {
        if (timedOut) {
          if (settled.ok) disposeBody(settled.value.body); // too late: the client got its 504
          return;
        }
        clearTimeout(timer);
        settle(adapter, native, settled, head, body, info);
      });
    }
  }

  function saturated(): boolean {
    return ctx.inFlight > ctx.spillInFlight || ctx.loopDelay > ctx.spillLoopDelay;
  }

  return {
    endStreams,
    onHttp1Request(req, res) {
      const target = requestTarget(req.url ?? '/');
      // llhttp checks names and values; what it lets through that RFC 9112 does not: HTTP/0.9,
      // a broken absolute-form target, and a Host that is not a host.
      if (target === null || req.httpVersionMajor < 1 || !validHost(req.headers.host)) {
        admit();
        finish(http1Adapter, res, errorResponse(400, 'Bad Request: malformed request line or Host'), false, req, null);
        return;
      }
      handle(http1Adapter, res, req.method ?? 'GET', target, req.headers, req.rawHeaders.length >> 1, false, req);
    },
    onHttp2Stream(stream, headers) {
      const method = (headers[':method'] as string | undefined) ?? 'GET';
      const target = (headers[':path'] as string | undefined) ?? '/';
      for (const name in headers) if (name.charCodeAt(0) === 58 /* ':' */) delete headers[name];
      handle(http2Adapter, stream, method, target, headers, countRegularHeaders(headers), true, stream);
    },
  };
}

function isBodyStreamError(thrown: unknown): thrown is BodyStreamError {
  try {
    return thrown instanceof BodyStreamError; // instanceof runs a Proxy's getPrototypeOf trap
  } catch {
    return false;
  }
}

/** `where` for the boundary when a hook fails: "an onRequest hook for GET /items". */
function hookSite(kind: 'onRequest' | 'onResponse', info: RequestInfo): string {
  // `info` is handed to the app's hooks, which may have written over its fields.
  return `an ${kind} hook for ${textOf(info, 'method')} ${textOf(info, 'path')}`;
}

function isEventStream(outgoing: Outgoing): boolean {
  const type = outgoing.headers['content-type'];
  return isBodyStream(outgoing.body) && typeof type === 'string' && /^text\/event-stream\b/i.test(type);
}

/** Whether the request certainly has no body, so none needs reading before it goes to the pool. */
function hasNoBody(headers: IncomingHeaders, http2: boolean, body: Readable): boolean {
  if (body.readableEnded) return true;
  if (http2) return (body as http2.ServerHttp2Stream).endAfterHeaders;
  // HTTP/1.1 framing (RFC 9112 §6.3): no Transfer-Encoding and no (or a zero) Content-Length.
  return headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0');
}

/**
 * HTTP/2 fields other than pseudo-headers; counted, not copied. Fields with an invalid name or
 * value (spaces, uppercase, CR, LF, NUL, whitespace at either end) never get this far: nghttp2
 * drops them from the request.
 */
function countRegularHeaders(headers: http2.IncomingHttpHeaders): number {
  let count = 0;
  for (const name in headers) if (name.charCodeAt(0) !== 58 /* ':' */) count++;
  return count;
}

/** A Host value: a host name or address and an optional port (RFC 3986 §3.2.2), or absent. */
const HOST = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]*$/;

function validHost(host: string | undefined): boolean {
  return host === undefined || HOST.test(host);
}

/**
 * The origin-form target of a request; an absolute-form one (`GET http://host/path`) is routed
 * by its path, and `*` (OPTIONS) is kept. `null` when the target cannot be parsed.
 */
function requestTarget(url: string): string | null {
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  if (url === '*') return url;
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}
