/**
 * Running one pooled task and writing its answer, as a pooled isolate does it: shared by the
 * pooled executor (pooled-executor.ts, on a pooled isolate) and the in-process pool
 * (in-process-pool.ts, on the calling thread for `app.request()`), so a request run in-process
 * meets the same checks as on the real pool: a streamed body is refused, and an answer the codec
 * cannot write becomes a 500.
 */

import { routeLabel, taskRouteId, type AppTable, type Route } from '../app/app.ts';
import { executeTask, type TaskDefinition, type TaskResult } from '../app/task.ts';
import { describeThrown, internalFault, type Fault } from '../app/boundary.ts';
import { invoke, type Execution, type InvokeContext } from '../app/invoke.ts';
import { Request, type IsolateInfo } from '../app/request.ts';
import { disposeBody, isBodyStream, NO_RESPONSE, Response, type BufferedOutgoing } from '../app/response.ts';
import { ErrorCode } from '../core/errors.ts';
import type { Result } from '../core/result.ts';
import { encodeFault, encodeResponse, NO_ROOM, TOO_LARGE, type DecodedRequest, type PooledFault } from './codec.ts';
import type { IsolateState } from './isolate-state.ts';
import type { RingProducer } from './ring.ts';
import type { Written } from './ring-endpoint.ts';

/** What goes back over the response ring: a body in memory, or a fault. */
export type PooledExecution = Result<BufferedOutgoing, Fault>;

/** Where a pooled task runs: the isolate, its words in the shared state, where faults are reported. */
export interface TaskSite {
  readonly isolate: IsolateInfo;
  readonly state: IsolateState;
  /** The isolate's index in `state`. */
  readonly index: number;
  readonly context: InvokeContext;
}

/** A started task: the handler's request (its `signal` ends with the task) and what the handler came to. */
export interface StartedTask {
  readonly req: Request;
  readonly result: Execution | Promise<Execution>;
}

/**
 * Runs `route`'s handler for a decoded request. The handler gets a request of its own (headers
 * decoded from the record's copy, the body copied out of the ring), and its synchronous part is
 * published in the isolate state for the watchdog, with `timeout`.
 */
export function startTask(site: TaskSite, route: Route, request: DecodedRequest, timeout: number): StartedTask {
  const req = new Request(request.method, request.path, request.rawQuery, request.params, request, request.body, request.body.byteLength, site.isolate);
  const res = route.wantsResponse ? new Response() : NO_RESPONSE;
  site.state.enterHandler(site.index, timeout, route.id);
  const result = invoke(route, req, res, site.context);
  site.state.leaveHandler(site.index);
  return { req, result };
}

/**
 * Runs a pooled task (`app.run`) from its serialized input. Its answer is a response with no
 * headers: 200 and the result's bytes, or 500 and what it threw (app/task.ts makes both, and
 * never throws; see the TASK record in codec.ts). The watchdog names it by its ID among the
 * reported routes (`TASK:name`).
 */
export function startJob(site: TaskSite, table: AppTable, task: TaskDefinition, input: Uint8Array, timeout: number): Execution | Promise<Execution> {
  site.state.enterHandler(site.index, timeout, taskRouteId(table, task));
  const result = executeTask(task, input);
  site.state.leaveHandler(site.index);
  return result instanceof Promise ? result.then(jobAnswer) : jobAnswer(result);
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

function jobAnswer(result: TaskResult): Execution {
  return { ok: true, value: { status: result.kind === 'value' ? 200 : 500, headers: NO_HEADERS, body: result.bytes } };
}

/**
 * A streamed body cannot cross the response ring (the ring has no flow control per response, so
 * one slow client would stall every answer behind it): routes that stream run inline, and the
 * app refuses `{ pool: true, stream: true }` at registration. A handler that returns a stream
 * anyway, on a route that did not say it streams and spilled over here, gets a 500 whose log
 * line says what to change.
 */
export function refuseStream(context: InvokeContext, route: Route, result: Execution, requestId: string | undefined): PooledExecution {
  if (!result.ok || !isBodyStream(result.value.body)) return result as PooledExecution;
  disposeBody(result.value.body);
  const description = 'it returned a streamed body on the pooled executor, which cannot stream; declare the route with { stream: true } so it always runs inline';
  return { ok: false, error: internalFault(ErrorCode.HANDLER, routeLabel(route), description, context, requestId) };
}

/**
 * Writes one answer on a response ring. The answer holds what the handler gave (its body's
 * bytes, its headers' values), so writing it may throw: then the request is answered with a 500
 * instead, under an error id that names what failed. `requestId` is read only then (reading it
 * decodes the request's headers). A response whose body does not fit whole leaves the rest to
 * follow (a `BodyRest`); false: the ring has no room now.
 */
export function writeAnswer(ring: RingProducer, taskId: number, result: PooledExecution, context: InvokeContext, requestId: () => string | undefined): Written {
  try {
    return encodeAnswer(ring, taskId, result, context, requestId);
  } catch (thrown) {
    const fault = internalFault(ErrorCode.HANDLER, `pooled task ${taskId}`, `its answer could not be written: ${describeThrown(thrown)}`, context, requestId());
    return encodeFault(ring, taskId, fault) === 0;
  }
}

function encodeAnswer(ring: RingProducer, taskId: number, result: PooledExecution, context: InvokeContext, requestId: () => string | undefined): Written {
  if (!result.ok) {
    const done = encodeFault(ring, taskId, result.error as PooledFault);
    if (done !== TOO_LARGE) return done === 0;
    return encodeFault(ring, taskId, tooLarge(context, taskId, 'an HttpError whose detail and headers', requestId())) === 0;
  }
  const written = encodeResponse(ring, taskId, result.value);
  if (written === NO_ROOM) return false;
  if (written === TOO_LARGE) return encodeFault(ring, taskId, tooLarge(context, taskId, 'a response whose headers', requestId())) === 0;
  return typeof written === 'number' ? true : written;
}

/** A 500 for an answer that can never fit a ring record, logged under its error id. */
function tooLarge(context: InvokeContext, taskId: number, what: string, requestId: string | undefined): PooledFault {
  return internalFault(ErrorCode.HANDLER, `pooled task ${taskId}`, `it returned ${what} are larger than a ring record; raise poolRingSize`, context, requestId);
}
