/**
 * The boundary between the server and user code. Everything user code can do wrong — throw or
 * reject any value at all, return something that cannot be sent — arrives here and becomes a
 * `Fault`, and a fault becomes the answer the client gets. Handlers, every kind of hook,
 * validators, response serialisation, lifespan hooks and streamed bodies all go through it,
 * inline and on the pool, so one rule holds everywhere: a 500 carries an error id, the
 * description is logged under that id, and the isolate lives on.
 *
 * The contract of this module: **nothing in it throws**. What user code threw may be anything —
 * `undefined`, a symbol, an object whose `message` or `stack` getter throws, a frozen or
 * null-prototype object, an error from another realm, a revoked Proxy — so it is never read
 * with a plain property access outside a `try`, never converted with `String()` or a template
 * literal (a null-prototype object or a symbol makes those throw), and Proxies are never
 * touched at all (every access would run the app's traps).
 */

import { randomUUID } from 'node:crypto';
import { types } from 'node:util';
import { describeThrown, inspectSafely } from '../core/describe.ts';
import { ErrorCode, isHttpError, type ErrorCode as Code, type HttpError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { JSON_TYPE, copyHeaders, type Outgoing } from './response.ts';
import type { ValidationIssue } from './schema.ts';

export { describeThrown } from '../core/describe.ts';

/** Why a request did not produce the handler's response. */
export type Fault =
  /** An `HttpError` thrown on purpose (by the handler, or by `req.json()` / `req.bytes()`). */
  | {
      readonly kind: 'http';
      readonly status: number;
      /** A message, or (422) the list of validation problems. */
      readonly detail: string | readonly ValidationIssue[];
      readonly code: Code;
      readonly headers: Readonly<Record<string, string | readonly string[]>> | undefined;
    }
  /** A bug: user code threw, or returned what cannot be sent. Logged with `errorId`. */
  | {
      readonly kind: 'internal';
      readonly code: Code;
      readonly errorId: string;
      /** The message and stack, only with `exposeErrors`. */
      readonly debug?: string;
    }
  /** The handler ran past its timeout (504). */
  | { readonly kind: 'timeout'; readonly timeoutMs: number }
  /** No capacity: the worker, the pool and their queues are full (503 + Retry-After). */
  | { readonly kind: 'overloaded' }
  /** The pooled isolate running the task died or was replaced before answering (503). */
  | { readonly kind: 'unavailable' };

/** Where a bug is reported: the log, and with `exposeErrors` the response too (development only). */
export interface Reporter {
  readonly log: Logger;
  readonly exposeErrors: boolean;
}

/**
 * `holder[key]` as text for a log line, when the app may have replaced it with anything (a
 * symbol, a getter that throws): a string as it is, anything else described. Never throws.
 */
export function textOf(holder: object, key: string): string {
  try {
    const value: unknown = (holder as Record<string, unknown>)[key];
    return typeof value === 'string' ? value : inspectSafely(value);
  } catch {
    return `(${key} unreadable)`;
  }
}

/** Whether user code gave back something to await. Reads `then`, which may throw: call it inside a `try`. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Whether `thrown` is an `HttpError` (of any copy of the package); false for anything odd. */
function isHttpErrorSafely(thrown: unknown): thrown is HttpError {
  if (typeof thrown !== 'object' || thrown === null || types.isProxy(thrown)) return false;
  try {
    return isHttpError(thrown);
  } catch {
    return false;
  }
}

/**
 * A bug, logged under an error id — the request's id when the fault belongs to a request, else a
 * fresh one; the client sees only the id (and, with `exposeErrors`, the description). `where` names what failed: "GET /items (GET /items/7)", "an onRequest hook
 * for GET /x".
 */
export function internalFault(code: Code, where: string, description: string, reporter: Reporter, requestId?: string): Extract<Fault, { kind: 'internal' }> {
  const errorId = requestId ?? randomUUID();
  reporter.log.error(`✗ ${code} in ${where} [error id ${errorId}]: ${description}`, { reqId: requestId, errorId, code });
  return reporter.exposeErrors ? { kind: 'internal', code, errorId, debug: description } : { kind: 'internal', code, errorId };
}

/** The fault an `HttpError` stands for (headers as given: validate them where they come from user code). */
export function httpFault(error: HttpError): Extract<Fault, { kind: 'http' }> {
  return { kind: 'http', status: error.status, detail: error.message, code: error.code, headers: error.headers };
}

/**
 * Maps anything user code threw or rejected with to a fault: an `HttpError` answers with its own
 * status; anything else is a bug, logged with its description. `what` says who threw ("the
 * handler threw", "an onResponse hook threw"). Never throws.
 */
export function faultFromThrown(thrown: unknown, where: string, what: string, reporter: Reporter, requestId?: string): Fault {
  if (isHttpErrorSafely(thrown)) {
    // An HttpError's fields are its own data properties, but a subclass may define getters.
    try {
      const { status, message, code } = thrown;
      const given = thrown.headers;
      // Its fields may have been written over since it was made: only a status HttpError itself
      // would accept (an integer 400-599) is answered as given.
      if (Number.isInteger(status) && status >= 400 && status <= 599 && typeof message === 'string' && typeof code === 'string') {
        if (given === undefined) return { kind: 'http', status, detail: message, code, headers: undefined };
        const headers = copyHeaders(given, {});
        if (headers.ok) return { kind: 'http', status, detail: message, code, headers: headers.value };
        return internalFault(headers.error.code, where, `HttpError with an ${headers.error.message}`, reporter, requestId);
      }
    } catch {
      // Falls through: described as the odd value it is.
    }
  }
  return internalFault(ErrorCode.HANDLER, where, `${what}\n${describeThrown(thrown)}`, reporter, requestId);
}

/** A JSON error response in FastAPI's shape: `{"detail": "..."}`, plus `errorId` for 500s. */
export function errorResponse(
  status: number,
  detail: string | readonly ValidationIssue[],
  extra?: { readonly errorId?: string; readonly debug?: string; readonly headers?: Readonly<Record<string, string | readonly string[]>> },
): Outgoing {
  const body = extra?.errorId === undefined ? { detail } : { detail, errorId: extra.errorId, ...(extra.debug === undefined ? {} : { debug: extra.debug }) };
  return { status, headers: { ...extra?.headers, 'content-type': JSON_TYPE }, body: JSON.stringify(body) };
}

/** Seconds a client is asked to wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 1;

/** The response a fault is answered with. Internal faults never reveal more than their id. */
export function faultResponse(fault: Fault): Outgoing {
  switch (fault.kind) {
    case 'http':
      return errorResponse(fault.status, fault.detail, fault.headers === undefined ? undefined : { headers: fault.headers });
    case 'internal':
      return errorResponse(500, 'Internal Server Error', { errorId: fault.errorId, ...(fault.debug === undefined ? {} : { debug: fault.debug }) });
    case 'timeout':
      return errorResponse(504, `The handler did not answer within ${fault.timeoutMs} ms`);
    case 'overloaded':
      return errorResponse(503, 'The server is overloaded; retry later', {
        headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      });
    case 'unavailable':
      return errorResponse(503, 'The isolate running this request stopped; retry later', {
        headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      });
  }
}
