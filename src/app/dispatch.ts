/**
 * The boundary between the server and user code: run a handler, and turn whatever it does —
 * return, throw, reject, return something unsendable — into a `Result`. Nothing escapes it, so a
 * handler can never take its worker down.
 *
 * Before the handler, the route's schemas validate the request (422 with FastAPI's `detail`
 * list when they fail); what the handler throws goes to the app's onError hooks first; what it
 * returns is checked against the route's response schema.
 *
 * Hot path: a synchronous handler is run and answered without creating a promise, also on a
 * route with schemas when the schemas answer synchronously and the body needs no reading (a
 * pooled request carries its body; a route may have no body schema).
 */

import { randomUUID } from 'node:crypto';
import { ErrorCode, isHttpError, type ErrorCode as Code, type HttpError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { err, type Result } from '../core/result.ts';
import { routeLabel, type Route } from './app.ts';
import type { OnErrorHook } from './hooks.ts';
import { applyValidated, bodyAtHand, type Request, type ValidatedParts } from './request.ts';
import { copyHeaders, disposeBody, isBodyStream, isReply, JSON_TYPE, toOutgoing, type Outgoing, type Response } from './response.ts';
import { validatePart, type Checked, type ValidationIssue } from './schema.ts';

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

/** What `invoke` needs besides the route and request: where to report, and the app's onError hooks. */
export interface InvokeContext extends Reporter {
  readonly onError: readonly OnErrorHook[];
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

type AnyRequest = Request<unknown, unknown, unknown, unknown>;

/** Runs `route`'s handler. Returns synchronously for a synchronous handler; never throws or rejects. */
export function invoke(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  if (route.schema !== undefined) return validateThenRun(route, req, res, ctx);
  return run(route, req, res, ctx);
}

const PARTS = ['params', 'query', 'headers', 'body'] as const;
const utf8 = new TextDecoder();

/**
 * Validates the request's parts against the route's schemas, then runs the handler. Without a
 * promise when the body is in memory already (pooled requests carry theirs) or there is no body
 * schema, and the schemas answer synchronously.
 */
function validateThenRun(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  if (route.schema?.body === undefined) return checkParts(route, req, res, ctx, undefined);
  const withBody = (bytes: Uint8Array): Execution | Promise<Execution> => {
    let body: unknown;
    if (bytes.byteLength > 0) {
      try {
        body = JSON.parse(utf8.decode(bytes));
      } catch {
        return err({ kind: 'http', status: 400, detail: [JSON_INVALID], code: ErrorCode.INVALID_JSON, headers: undefined });
      }
    }
    return checkParts(route, req, res, ctx, body);
  };
  const atHand = bodyAtHand(req);
  if (atHand !== undefined) return withBody(atHand);
  // A body past the limit, or a client that left while sending it.
  return req.bytes().then(withBody, (thrown: unknown) => err(faultFromThrown(thrown, route, req, ctx)));
}

const JSON_INVALID: ValidationIssue = { loc: ['body'], msg: 'the body is not valid JSON', type: 'json_invalid' };

function checkParts(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext, body: unknown): Execution | Promise<Execution> {
  const schema = route.schema!;
  const results: Array<Checked | Promise<Checked> | undefined> = [];
  let waiting = false;
  try {
    for (const part of PARTS) {
      const partSchema = schema[part];
      if (partSchema === undefined) {
        results.push(undefined);
        continue;
      }
      const checked = validatePart(partSchema, part === 'body' ? body : req[part], part);
      if (checked instanceof Promise) waiting = true;
      results.push(checked);
    }
  } catch (thrown) {
    return err(faultFromThrown(thrown, route, req, ctx)); // a schema that threw instead of reporting issues
  }
  const conclude = (checked: ReadonlyArray<Checked | undefined>): Execution | Promise<Execution> => {
    const parts: ValidatedParts = {};
    const issues: ValidationIssue[] = [];
    checked.forEach((result, i) => {
      if (result === undefined) return;
      if (result.ok) parts[PARTS[i] as (typeof PARTS)[number]] = result.value;
      else issues.push(...result.issues);
    });
    if (issues.length > 0) return err({ kind: 'http', status: 422, detail: issues, code: ErrorCode.VALIDATION, headers: undefined });
    applyValidated(req, parts);
    return run(route, req, res, ctx);
  };
  if (!waiting) return conclude(results as ReadonlyArray<Checked | undefined>);
  return Promise.all(results).then(conclude, (thrown: unknown) => err(faultFromThrown(thrown, route, req, ctx)));
}

function run(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  let returned: unknown;
  try {
    returned = route.handler(req as Request, res);
  } catch (thrown) {
    return handleThrown(thrown, route, req, res, ctx);
  }
  if (isThenable(returned)) {
    return Promise.resolve(returned).then(
      (value) => settle(value, res, route, req, ctx),
      (thrown: unknown) => handleThrown(thrown, route, req, res, ctx),
    );
  }
  return settle(returned, res, route, req, ctx);
}

/** What the handler threw: the app's onError hooks may answer it; else the default mapping. */
function handleThrown(thrown: unknown, route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  if (ctx.onError.length === 0) return err(faultFromThrown(thrown, route, req, ctx));
  return (async (): Promise<Execution> => {
    for (const hook of ctx.onError) {
      let answer: unknown;
      try {
        answer = await hook(thrown, req);
      } catch (hookError) {
        return err(faultFromThrown(hookError, route, req, ctx));
      }
      // Only a reply answers; nothing (or null, or a boolean from `cond && reply(...)`) passes on.
      if (answer === undefined || answer === null || typeof answer === 'boolean') continue;
      if (isReply(answer)) return settle(answer, res, route, req, ctx, false);
      return err(internalFault(ErrorCode.HANDLER, 'an onError hook returned something other than reply(...) or nothing', route, req, ctx));
    }
    return err(faultFromThrown(thrown, route, req, ctx));
  })();
}

/**
 * The handler's answer, through the route's response schema when it has one: a successful (2xx)
 * whole body is validated and replaced by what the schema makes of it, so fields the schema does
 * not name are never sent (FastAPI's response_model). Error replies and streams pass as they are.
 */
function settle(returned: unknown, res: Response, route: Route, req: AnyRequest, ctx: InvokeContext, checkSchema = true): Execution | Promise<Execution> {
  const responseSchema = checkSchema ? route.schema?.response : undefined;
  const reply = isReply(returned) ? returned : null;
  const body = reply !== null ? reply.body : returned === undefined ? res.body : returned;
  const status = reply !== null ? (reply.status ?? 200) : returned === undefined ? res.status : 200;
  if (responseSchema === undefined || status < 200 || status > 299 || isBodyStream(body) || body instanceof Uint8Array) {
    return outgoingOf(returned, res, route, req, ctx);
  }
  const conclude = (result: Checked): Execution => {
    if (result.ok) {
      // The same answer with the schema's output as its body.
      if (reply !== null) return outgoingOf({ ...reply, body: result.value }, res, route, req, ctx);
      if (returned !== undefined) return outgoingOf(result.value, res, route, req, ctx);
      res.body = result.value;
      return outgoingOf(undefined, res, route, req, ctx);
    }
    const problems = result.issues.map((i) => `${i.loc.slice(1).join('.') || '(body)'}: ${i.msg}`).join('; ');
    return err(internalFault(ErrorCode.HANDLER, `the response does not match the route's response schema: ${problems}`, route, req, ctx));
  };
  let checked: Checked | Promise<Checked>;
  try {
    checked = validatePart(responseSchema, body, 'body');
  } catch (thrown) {
    return err(faultFromThrown(thrown, route, req, ctx));
  }
  if (!(checked instanceof Promise)) return conclude(checked);
  return checked.then(conclude, (thrown: unknown) => err(faultFromThrown(thrown, route, req, ctx)));
}

/** Routes that returned a stream without saying they stream, warned about once each. */
const warnedStreams = new WeakSet<Route>();

function outgoingOf(returned: unknown, res: Response, route: Route, req: AnyRequest, ctx: InvokeContext): Execution {
  const outgoing = toOutgoing(returned, res);
  if (outgoing.ok) {
    // (On the pool the stream is refused outright, with its own message: see pooled-isolate.ts.)
    if (!route.stream && req.isolate.kind === 'pinned' && isBodyStream(outgoing.value.body) && !warnedStreams.has(route)) {
      warnedStreams.add(route);
      ctx.log.warn(
        `${routeLabel(route)} returned a streamed body but is not declared { stream: true }: under load it may spill to ` +
          'the pool, which cannot stream, and answer 500. Declare it (async generator and sse() handlers need not).',
      );
    }
    return outgoing;
  }
  disposeBody(isReply(returned) ? returned.body : returned === undefined ? res.body : returned);
  return err(internalFault(outgoing.error.code, outgoing.error.message, route, req, ctx));
}

/** A bug, logged under a fresh error id; the client sees only the id (and, in development, the message). */
function internalFault(code: Code, message: string, route: Route, req: AnyRequest, reporter: Reporter): Fault {
  const errorId = randomUUID();
  reporter.log.error(`✗ ${code} in ${routeLabel(route)} (${req.method} ${req.path}) [error id ${errorId}]: ${message}`);
  return reporter.exposeErrors ? { kind: 'internal', code, errorId, debug: message } : { kind: 'internal', code, errorId };
}

/** The fault an `HttpError` stands for (headers as given: validate them where they come from user code). */
export function httpFault(error: HttpError): Extract<Fault, { kind: 'http' }> {
  return { kind: 'http', status: error.status, detail: error.message, code: error.code, headers: error.headers };
}

/** Maps something a handler threw to a fault, logging bugs with their stack. */
export function faultFromThrown(thrown: unknown, route: Route, req: AnyRequest, log: Reporter): Fault {
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
