/**
 * The boundary between the server and user code: run a handler, and turn whatever it does —
 * return, throw, reject, return something unsendable — into a `Result`. Nothing escapes it, so a
 * handler can never take its worker down.
 *
 * Hot path: a synchronous handler is run and answered without creating a promise.
 */

import { randomUUID } from 'node:crypto';
import { ErrorCode, isHttpError, type ErrorCode as Code, type HttpError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { err, type Result } from '../core/result.ts';
import { routeLabel, type Route } from './app.ts';
import type { Request } from './request.ts';
import { copyHeaders, JSON_TYPE, toOutgoing, type Outgoing, type Response } from './response.ts';

/** Why a request did not produce the handler's response. */
export type Fault =
  /** An `HttpError` thrown on purpose (by the handler, or by `req.json()` / `req.bytes()`). */
  | {
      readonly kind: 'http';
      readonly status: number;
      readonly detail: string;
      readonly code: Code;
      readonly headers: Readonly<Record<string, string | readonly string[]>> | undefined;
    }
  /** A bug: the handler threw, or returned what cannot be sent. Logged with `errorId`. */
  | {
      readonly kind: 'internal';
      readonly code: Code;
      readonly errorId: string;
      /** The message and stack, only with `exposeErrors`. */
      readonly debug?: string;
    }
  /** The handler ran past its timeout (504). */
  | { readonly kind: 'timeout'; readonly timeoutMs: number }
  /** No capacity: the pool and its queues are full (503 + Retry-After). */
  | { readonly kind: 'overloaded' }
  /** The pooled isolate running the task died or was replaced before answering (503). */
  | { readonly kind: 'unavailable' };

export type Execution = Result<Outgoing, Fault>;

/** Where a bug is reported: the log, and with `exposeErrors` the response too (development only). */
export interface Reporter {
  readonly log: Logger;
  readonly exposeErrors: boolean;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Runs `route`'s handler. Returns synchronously for a synchronous handler; never throws or rejects. */
export function invoke(route: Route, req: Request, res: Response, log: Reporter): Execution | Promise<Execution> {
  let returned: unknown;
  try {
    returned = route.handler(req, res);
  } catch (thrown) {
    return err(faultFromThrown(thrown, route, req, log));
  }
  if (isThenable(returned)) {
    return Promise.resolve(returned).then(
      (value) => settle(value, res, route, req, log),
      (thrown: unknown) => err(faultFromThrown(thrown, route, req, log)),
    );
  }
  return settle(returned, res, route, req, log);
}

function settle(returned: unknown, res: Response, route: Route, req: Request, log: Reporter): Execution {
  const outgoing = toOutgoing(returned, res);
  if (outgoing.ok) return outgoing;
  return err(internalFault(outgoing.error.code, outgoing.error.message, route, req, log));
}

/** A bug, logged under a fresh error id; the client sees only the id (and, in development, the message). */
function internalFault(code: Code, message: string, route: Route, req: Request, reporter: Reporter): Fault {
  const errorId = randomUUID();
  reporter.log.error(`✗ ${code} in ${routeLabel(route)} (${req.method} ${req.path}) [error id ${errorId}]: ${message}`);
  return reporter.exposeErrors ? { kind: 'internal', code, errorId, debug: message } : { kind: 'internal', code, errorId };
}

/** The fault an `HttpError` stands for (headers as given: validate them where they come from user code). */
export function httpFault(error: HttpError): Extract<Fault, { kind: 'http' }> {
  return { kind: 'http', status: error.status, detail: error.message, code: error.code, headers: error.headers };
}

/** Maps something a handler threw to a fault, logging bugs with their stack. */
export function faultFromThrown(thrown: unknown, route: Route, req: Request, log: Reporter): Fault {
  if (isHttpError(thrown)) {
    if (thrown.headers === undefined) return httpFault(thrown);
    const headers = copyHeaders(thrown.headers, {});
    if (headers.ok) {
      return { kind: 'http', status: thrown.status, detail: thrown.message, code: thrown.code, headers: headers.value };
    }
    return internalFault(headers.error.code, `HttpError with an ${headers.error.message}`, route, req, log);
  }
  const stack = thrown instanceof Error ? (thrown.stack ?? thrown.message) : `non-error thrown: ${String(thrown)}`;
  return internalFault(ErrorCode.HANDLER, `the handler threw\n${stack}`, route, req, log);
}

/** A JSON error response in FastAPI's shape: `{"detail": "..."}`, plus `errorId` for 500s. */
export function errorResponse(
  status: number,
  detail: string,
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
