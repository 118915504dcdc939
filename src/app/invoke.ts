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

import { ErrorCode } from '../core/errors.ts';
import { err, type Result } from '../core/result.ts';
import { routeLabel, type Route } from './table.ts';
import { faultFromThrown, internalFault, isThenable, textOf, type Fault, type Reporter } from './boundary.ts';
import type { OnErrorHook } from './hooks.ts';
import { applyValidated, bodyAtHand, useRouteForm, type Request, type ValidatedParts } from './request.ts';
import { answerOf, disposeBody, fromAnswer, isBodyStream, isReply, type Answer, type Outgoing, type Response } from './response.ts';
import { validatePart, type Checked, type ValidationIssue } from './schema.ts';

export type Execution = Result<Outgoing, Fault>;

/** What `invoke` needs besides the route and request: where to report, and the app's onError hooks. */
export interface InvokeContext extends Reporter {
  readonly onError: readonly OnErrorHook[];
}

type AnyRequest = Request<unknown, unknown, unknown, unknown>;

/**
 * Runs `route`'s handler. Returns synchronously for a synchronous handler; never throws or
 * rejects. Every step below touches values user code made (a returned object may be a revoked
 * Proxy, a getter may throw), so each one that runs later, in a promise callback, is wrapped
 * by `guard` as the synchronous steps are by the `try` here.
 */
export function invoke(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  try {
    if (route.form !== null) useRouteForm(req, route.form);
    return route.schema !== undefined ? validateThenRun(route, req, res, ctx) : callHandler(route, req, res, ctx);
  } catch (thrown) {
    return err(fromThrown(thrown, 'the handler threw', route, req, ctx));
  }
}

/** `where` for the boundary: the route and the request. */
function whereOf(route: Route, req: AnyRequest): string {
  // The app may have written over `req.method` or `req.path` (a symbol, a getter that throws).
  return `${routeLabel(route)} (${textOf(req, 'method')} ${textOf(req, 'path')})`;
}

function fromThrown(thrown: unknown, what: string, route: Route, req: AnyRequest, ctx: Reporter): Fault {
  return faultFromThrown(thrown, whereOf(route, req), what, ctx, req.id);
}

/** A continuation that runs in a promise callback, with what it throws turned into a fault. */
function guard<A>(
  step: (value: A) => Execution | Promise<Execution>,
  what: string,
  route: Route,
  req: AnyRequest,
  ctx: InvokeContext,
): (value: A) => Execution | Promise<Execution> {
  return (value) => {
    try {
      return step(value);
    } catch (thrown) {
      return err(fromThrown(thrown, what, route, req, ctx));
    }
  };
}

const PARTS = ['params', 'query', 'headers', 'body'] as const;
const utf8 = new TextDecoder();

/**
 * Validates the request's parts against the route's schemas, then runs the handler. Without a
 * promise when the body is in memory already (pooled requests carry theirs) or there is no body
 * schema, and the schemas answer synchronously. On a route that takes a form, the body schema
 * validates the form's fields (a form is always parsed with a promise).
 */
function validateThenRun(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  if (route.schema?.body === undefined) return checkParts(route, req, res, ctx, undefined);
  if (route.form !== null) {
    // A form past a limit, malformed or of the wrong type (its HttpError), or a client that left.
    return req.form().then(guard((form) => checkParts(route, req, res, ctx, { ...form.fields }), 'a validator threw', route, req, ctx), (thrown: unknown) =>
      err(fromThrown(thrown, 'reading the form failed', route, req, ctx)),
    );
  }
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
  return req.bytes().then(guard(withBody, 'a validator threw', route, req, ctx), (thrown: unknown) => err(fromThrown(thrown, 'reading the body failed', route, req, ctx)));
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
    return err(fromThrown(thrown, 'a validator threw instead of reporting issues', route, req, ctx));
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
    return callHandler(route, req, res, ctx);
  };
  if (!waiting) return conclude(results as ReadonlyArray<Checked | undefined>);
  return Promise.all(results).then(guard(conclude, 'the handler threw', route, req, ctx), (thrown: unknown) =>
    err(fromThrown(thrown, 'a validator rejected instead of reporting issues', route, req, ctx)),
  );
}

function callHandler(route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  let returned: unknown;
  try {
    returned = route.handler(req as Request, res);
  } catch (thrown) {
    return handleThrown(thrown, route, req, res, ctx);
  }
  if (isThenable(returned)) {
    // Adopted by a promise of ours, not `Promise.resolve(returned)`: for a native promise that
    // gives back the handler's own object, whose `then` the app may have replaced.
    return new Promise<unknown>((resolve) => resolve(returned)).then(
      guard((value: unknown) => checkAnswer(value, res, route, req, ctx), 'the handler returned what cannot be sent', route, req, ctx),
      (thrown: unknown) => handleThrown(thrown, route, req, res, ctx),
    );
  }
  return checkAnswer(returned, res, route, req, ctx);
}

/** What the handler threw: the app's onError hooks may answer it; else the default mapping. */
function handleThrown(thrown: unknown, route: Route, req: AnyRequest, res: Response, ctx: InvokeContext): Execution | Promise<Execution> {
  if (ctx.onError.length === 0) return err(fromThrown(thrown, 'the handler threw', route, req, ctx));
  return (async (): Promise<Execution> => {
    for (const hook of ctx.onError) {
      let answer: unknown;
      try {
        answer = await hook(thrown, req);
        // Only a reply answers; nothing (or null, or a boolean from `cond && reply(...)`) passes on.
        if (answer === undefined || answer === null || typeof answer === 'boolean') continue;
        if (isReply(answer)) return await checkAnswer(answer, res, route, req, ctx, false);
      } catch (hookError) {
        return err(fromThrown(hookError, 'an onError hook threw or rejected', route, req, ctx));
      }
      return err(internalFault(ErrorCode.HANDLER, whereOf(route, req), 'an onError hook returned something other than reply(...) or nothing', ctx, req.id));
    }
    return err(fromThrown(thrown, 'the handler threw', route, req, ctx));
  })();
}

/**
 * The handler's answer, through the route's response schema when it has one: a successful (2xx)
 * whole body is validated and replaced by what the schema makes of it, so fields the schema does
 * not name are never sent (FastAPI's response_model). Error replies and streams pass as they are.
 */
function checkAnswer(returned: unknown, res: Response, route: Route, req: AnyRequest, ctx: InvokeContext, checkSchema = true): Execution | Promise<Execution> {
  // Read once: what the schema checks is what is sent.
  const answer = answerOf(returned, res);
  const responseSchema = checkSchema ? route.schema?.response : undefined;
  const { status, body } = answer;
  const success = typeof status === 'number' && status >= 200 && status <= 299;
  if (responseSchema === undefined || !success || isBodyStream(body) || body instanceof Uint8Array) {
    return outgoingOf(answer, route, req, ctx);
  }
  const conclude = (result: Checked): Execution => {
    // The same answer with the schema's output as its body.
    if (result.ok) return outgoingOf({ ...answer, body: result.value }, route, req, ctx);
    const problems = result.issues.map((i) => `${i.loc.slice(1).join('.') || '(body)'}: ${i.msg}`).join('; ');
    return err(internalFault(ErrorCode.HANDLER, whereOf(route, req), `the response does not match the route's response schema: ${problems}`, ctx, req.id));
  };
  let checked: Checked | Promise<Checked>;
  try {
    checked = validatePart(responseSchema, body, 'body');
  } catch (thrown) {
    return err(fromThrown(thrown, 'the response schema threw', route, req, ctx));
  }
  if (!(checked instanceof Promise)) return conclude(checked);
  return checked.then(guard(conclude, 'the response could not be sent', route, req, ctx), (thrown: unknown) =>
    err(fromThrown(thrown, 'the response schema rejected', route, req, ctx)),
  );
}

/** Routes that returned a stream without saying they stream, warned about once each. */
const warnedStreams = new WeakSet<Route>();

function outgoingOf(answer: Answer, route: Route, req: AnyRequest, ctx: InvokeContext): Execution {
  const outgoing = fromAnswer(answer);
  if (outgoing.ok) {
    // (On the pool the stream is refused outright, with its own message: see pooled-executor.ts.)
    if (!route.stream && req.isolate.kind === 'pinned' && isBodyStream(outgoing.value.body) && !warnedStreams.has(route)) {
      warnedStreams.add(route);
      ctx.log.warn(
        `${routeLabel(route)} returned a streamed body but is not declared { stream: true }: under load it may spill to ` +
          'the pool, which cannot stream, and answer 500. Declare it (async generator and sse() handlers need not).',
      );
    }
    return outgoing;
  }
  disposeBody(answer.body);
  return err(internalFault(outgoing.error.code, whereOf(route, req), outgoing.error.message, ctx, req.id));
}
