/**
 * A pooled isolate: imports the app like a pinned worker, then runs the tasks pinned workers send
 * it on its request rings, with at most `slots` handlers in flight (async handlers interleave on
 * this one event loop, the N:M model) and at most `queueLimit` more waiting. A task beyond that
 * is answered `overloaded` at once: every queue is bounded.
 *
 * The pump: drain every request ring; if there was work, go round again after one event-loop
 * turn (so async handlers progress and answers go out); if not, poll for `poolPoll` µs (default
 * none), then park on the doorbell (doorbell.ts) until a pinned worker rings. Under load the
 * isolate keeps finding work and never parks, and nobody makes a syscall to wake it.
 *
 * While a handler's synchronous part runs, the isolate publishes when it started and its time
 * limit (isolate-state.ts): if it overruns, the supervisor's watchdog replaces the whole isolate.
 */

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { routeLabel, type Route } from '../app/app.ts';
import { invoke, type Execution, type InvokeContext } from '../app/invoke.ts';
import { endRequest, Request, type IsolateInfo } from '../app/request.ts';
import { disposeBody, isBodyStream, NO_RESPONSE, Response, type BufferedOutgoing } from '../app/response.ts';
import type { Result } from '../core/result.ts';
import type { Fault } from '../app/boundary.ts';
import { describeThrown } from '../core/describe.ts';
import { ErrorCode } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { runShutdownHooks } from '../app/load.ts';
import {
  decodeBodyChunk,
  decodeRequest,
  encodeBodyChunk,
  encodeFault,
  encodeResponse,
  recordFlags,
  recordKind,
  recordTaskId,
  FLAG_MORE,
  NO_ROOM,
  RecordKind,
  TOO_LARGE,
  type DecodedRequest,
  type PooledFault,
} from './codec.ts';
import { Doorbell } from './doorbell.ts';
import { IsolateState, startHeartbeat } from './isolate-state.ts';
import { RingConsumer, RingProducer } from './ring.ts';
import { loadAndReport, type FromPooled, type ToPooled } from './messages.ts';
import type { PooledIsolateData } from './topology.ts';


/** How long to wait before retrying answers that did not fit into a full response ring, in ms. */
const FULL_RING_RETRY_MS = 1;

interface Task {
  readonly pinned: number;
  /** The pinned worker's ring generation the task came in on; answers to an older one are dropped. */
  readonly generation: number;
  readonly request: DecodedRequest;
  readonly route: Route;
  cancelled: boolean;
  /** The handler's request, once the task has started (its `signal` ends with the task). */
  req: Request | null;
}

/** What goes back over the response ring: a body in memory, or a fault. */
type PooledExecution = Result<BufferedOutgoing, Fault>;

type Answer =
  | { readonly kind: 'response'; readonly taskId: number; readonly result: PooledExecution }
  | { readonly kind: 'chunk'; readonly taskId: number; readonly body: Uint8Array; offset: number };

interface Lane {
  consumer: RingConsumer;
  producer: RingProducer;
  generation: number;
  readonly doorbell: Doorbell;
  /** Requests whose body is still arriving in chunk records, by task id. */
  readonly partial: Map<number, DecodedRequest>;
  /** Answers waiting for room in the response ring, in order. */
  readonly pending: Answer[];
}

const port = parentPort;
if (port === null) throw new Error('pooled-isolate.ts runs only as a worker thread');
const data = workerData as PooledIsolateData;
const log = createLogger(data.logLevel);
let reporter: InvokeContext = { log, exposeErrors: data.exposeErrors, onError: [] };
const state = new IsolateState(data.state, data.epoch);
const isolate: IsolateInfo = { kind: 'pooled', index: data.index, threadId };

const table = await loadAndReport(data.appUrl, isolate);
if (table !== null) {
  reporter = { ...reporter, onError: table.hooks.onError };
  run(table.routes);
  port.on('message', (message: ToPooled) => {
    if (message.type !== 'stop') return;
    void runShutdownHooks(table, isolate, log.error).then(() => port!.postMessage({ type: 'stopped' } satisfies FromPooled));
  });
}

function run(routes: readonly Route[]): void {
  const doorbell = new Doorbell(data.doorbells, data.pinnedCount + data.index);
  const lanes: Lane[] = data.rings.map((pair, i) => ({
    consumer: new RingConsumer(pair.request),
    producer: new RingProducer(pair.response),
    generation: 0,
    doorbell: new Doorbell(data.doorbells, i),
    partial: new Map(),
    pending: [],
  }));
  const waiting: Task[] = [];
  const running = new Set<Task>();

  const timeoutOf = (task: Task): number => task.route.timeout ?? data.handlerTimeout;
  const publishLoad = (): void => {
    state.setLoad(data.index, running.size + waiting.length);
    // The loop may stay blocked as long as the most patient running task allows.
    let limit = running.size === 0 ? data.handlerTimeout : 0;
    for (const task of running) {
      const timeout = timeoutOf(task);
      if (timeout === 0) {
        limit = 0;
        break;
      }
      limit = Math.max(limit, timeout);
    }
    state.setLoopLimit(data.index, limit);
  };
  // Proof that this event loop turns; the supervisor's watchdog replaces the isolate if it stops.
  startHeartbeat(state, data.index);
  publishLoad();

  port!.on('message', (message: ToPooled) => {
    if (message.type !== 'pinned-rings') return;
    const lane = lanes[message.pinned];
    if (lane === undefined) return;
    // The old pinned worker is gone: its queued tasks and unsent answers have no one to go to.
    lane.consumer = new RingConsumer(message.rings.request);
    lane.producer = new RingProducer(message.rings.response);
    lane.generation++;
    lane.partial.clear();
    lane.pending.length = 0;
    for (let k = waiting.length - 1; k >= 0; k--) if (waiting[k]!.pinned === message.pinned) waiting.splice(k, 1);
    publishLoad();
    schedule();
  });

  function accept(pinned: number, request: DecodedRequest): void {
    const lane = lanes[pinned] as Lane;
    const route = routes[request.routeId];
    if (route === undefined) {
      // Impossible while route tables agree (the supervisor checks); answered rather than lost.
      answer(pinned, request.taskId, { ok: false, error: { kind: 'internal', code: 'FA_ERR_HANDLER', errorId: 'unknown-route' } });
      return;
    }
    const task: Task = { pinned, generation: lane.generation, request, route, cancelled: false, req: null };
    if (running.size < data.slots) start(task);
    else if (waiting.length < data.queueLimit) waiting.push(task);
    else answerFault(pinned, request.taskId, { kind: 'overloaded' });
    publishLoad();
  }

  /**
   * The pinned worker gave up on a task (it answered 504). A queued task is dropped. A running
   * one gives its slot back now — an async handler that never settles must not hold a slot
   * forever — and its result, if it ever comes, is dropped.
   */
  function cancel(pinned: number, taskId: number): void {
    const queued = waiting.findIndex((t) => t.pinned === pinned && t.request.taskId === taskId);
    if (queued >= 0) {
      waiting.splice(queued, 1);
      publishLoad();
      return;
    }
    for (const task of running) {
      if (task.pinned !== pinned || task.request.taskId !== taskId) continue;
      task.cancelled = true;
      if (task.req !== null) endRequest(task.req);
      release(task);
      return;
    }
  }

  function start(task: Task): void {
    running.add(task);
    const { request, route } = task;
    const req = new Request(
      request.method,
      request.path,
      request.rawQuery,
      request.params,
      request.headers,
      request.body,
      request.body.byteLength,
      isolate,
    );
    task.req = req;
    const res = route.wantsResponse ? new Response() : NO_RESPONSE;
    state.enterHandler(data.index, timeoutOf(task), route.id);
    const result = invoke(route, req, res, reporter);
    state.leaveHandler(data.index);
    if (result instanceof Promise) result.then((settled) => finish(task, settled));
    else finish(task, result);
  }

  function finish(task: Task, result: Execution): void {
    const lane = lanes[task.pinned] as Lane;
    const buffered = refuseStream(task, result);
    if (!task.cancelled && task.generation === lane.generation) answer(task.pinned, task.request.taskId, buffered);
    if (task.req !== null) endRequest(task.req);
    release(task);
  }

  /**
   * A streamed body cannot cross the response ring (the ring has no flow control per response, so
   * one slow client would stall every answer behind it): routes that stream run inline, and the
   * app refuses `{ pool: true, stream: true }` at registration. A handler that returns a stream
   * anyway, on a route that did not say it streams and spilled over here, gets a 500 whose log
   * line says what to change.
   */
  function refuseStream(task: Task, result: Execution): PooledExecution {
    if (!result.ok || !isBodyStream(result.value.body)) return result as PooledExecution;
    disposeBody(result.value.body);
    const errorId = randomUUID();
    log.error(
      `✗ ${ErrorCode.HANDLER} [error id ${errorId}]: ${routeLabel(task.route)} returned a streamed body on the pooled executor, ` +
        'which cannot stream; declare the route with { stream: true } so it always runs inline',
    );
    return { ok: false, error: { kind: 'internal', code: ErrorCode.HANDLER, errorId } };
  }

  /** Frees the task's slot for the next waiting task (once, whichever of finish and cancel comes first). */
  function release(task: Task): void {
    if (!running.delete(task)) return;
    const next = waiting.shift();
    if (next !== undefined) start(next);
    publishLoad();
  }

  function answer(pinned: number, taskId: number, result: PooledExecution): void {
    const lane = lanes[pinned] as Lane;
    const item: Answer = { kind: 'response', taskId, result };
    if (lane.pending.length > 0 || !tryAnswer(lane, item)) lane.pending.push(item);
    // Whatever is left (this answer, or the rest of its body) goes out from the pump.
    if (lane.pending.length > 0) schedule();
    lane.doorbell.ring();
  }

  function answerFault(pinned: number, taskId: number, fault: PooledFault): void {
    answer(pinned, taskId, { ok: false, error: fault });
  }

  /**
   * Tries one answer; false when the ring has no room now. The answer holds what the handler
   * gave (its body's bytes, its headers' values), so writing it may throw: then the request is
   * answered with a 500 instead, under an error id that names what failed.
   */
  function tryAnswer(lane: Lane, item: Answer): boolean {
    try {
      return writeAnswer(lane, item);
    } catch (thrown) {
      const errorId = randomUUID();
      log.error(`✗ ${ErrorCode.HANDLER} [error id ${errorId}]: the answer to pooled task ${item.taskId} could not be written: ${describeThrown(thrown)}`);
      return encodeFault(lane.producer, item.taskId, { kind: 'internal', code: ErrorCode.HANDLER, errorId }) === 0;
    }
  }

  /** Writes one answer; a response whose body did not fit whole leaves a chunk write queued first. */
  function writeAnswer(lane: Lane, item: Answer): boolean {
    if (item.kind === 'chunk') {
      // As many chunks as fit; those written are rung for by the caller even if the rest waits.
      while (item.offset < item.body.byteLength) {
        const next = encodeBodyChunk(lane.producer, RecordKind.RESPONSE_BODY, item.taskId, item.body, item.offset);
        if (next < 0) return false;
        item.offset = next;
        wroteAny = true;
      }
      return true;
    }
    const { result } = item;
    if (!result.ok) {
      const done = encodeFault(lane.producer, item.taskId, result.error as PooledFault);
      if (done !== TOO_LARGE) return done === 0;
      return encodeFault(lane.producer, item.taskId, tooLarge(item.taskId, 'an HttpError whose detail and headers')) === 0;
    }
    const written = encodeResponse(lane.producer, item.taskId, result.value);
    if (written === NO_ROOM) return false;
    if (written === TOO_LARGE) {
      return encodeFault(lane.producer, item.taskId, tooLarge(item.taskId, 'a response whose headers')) === 0;
    }
    if (written.sent < written.rest.byteLength) {
      lane.pending.unshift({ kind: 'chunk', taskId: item.taskId, body: written.rest, offset: written.sent });
    }
    return true;
  }

  /** Set when a record was committed during the current flush. */
  let wroteAny = false;

  /** A 500 for an answer that can never fit a ring record, logged under its error id. */
  function tooLarge(taskId: number, what: string): PooledFault {
    const errorId = randomUUID();
    log.error(
      `✗ ${ErrorCode.HANDLER} [error id ${errorId}]: pooled task ${taskId} returned ${what} are larger than a ring record; raise poolRingSize`,
    );
    return { kind: 'internal', code: ErrorCode.HANDLER, errorId };
  }

  /** Retries queued answers; returns whether some are still blocked on a full ring. */
  function flush(): boolean {
    let blocked = false;
    for (const lane of lanes) {
      wroteAny = false;
      while (lane.pending.length > 0) {
        const item = lane.pending[0] as Answer;
        const before = lane.pending.length;
        if (!tryAnswer(lane, item)) {
          blocked = true;
          break;
        }
        lane.pending.splice(lane.pending.length > before ? 1 : 0, 1);
        wroteAny = true;
      }
      // Whatever was committed is announced, even if the queue is blocked behind it.
      if (wroteAny) lane.doorbell.ring();
    }
    return blocked;
  }

  function drain(): number {
    let read = 0;
    for (let i = 0; i < lanes.length; i++) {
      const lane = lanes[i] as Lane;
      read += lane.consumer.drain((bytes, offset, length) => onRecord(i, lane, bytes, offset, length));
    }
    return read;
  }

  function onRecord(pinned: number, lane: Lane, bytes: Buffer, offset: number, length: number): void {
    switch (recordKind(bytes, offset)) {
      case RecordKind.REQUEST: {
        const request = decodeRequest(bytes, offset, length);
        if (request.more) lane.partial.set(request.taskId, request);
        else accept(pinned, request);
        return;
      }
      case RecordKind.REQUEST_BODY: {
        const taskId = recordTaskId(bytes, offset);
        const request = lane.partial.get(taskId);
        if (request === undefined) return;
        request.received = decodeBodyChunk(bytes, offset, length, request.body, request.received);
        if ((recordFlags(bytes, offset) & FLAG_MORE) === 0) {
          lane.partial.delete(taskId);
          accept(pinned, request);
        }
        return;
      }
      case RecordKind.CANCEL: {
        const taskId = recordTaskId(bytes, offset);
        if (lane.partial.delete(taskId)) return;
        cancel(pinned, taskId);
        return;
      }
    }
  }

  function hasRecords(): boolean {
    for (const lane of lanes) if (lane.consumer.hasRecords()) return true;
    return false;
  }

  let scheduled = false;
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  }
  /** At most one doorbell wait and one retry timer are outstanding at a time. */
  let waitingOnDoorbell = false;
  let retryTimer: NodeJS.Timeout | null = null;
  const onRung = (): void => {
    waitingOnDoorbell = false;
    schedule();
  };
  const onRetry = (): void => {
    retryTimer = null;
    schedule();
  };

  let lastRequest = 0;
  function pump(): void {
    scheduled = false;
    const read = drain();
    const blocked = flush();
    const now = performance.now();
    if (read > 0) lastRequest = now;
    // Optionally keep polling once per event-loop turn after the last request (the `poolPoll`
    // option); polling by turns, not in a tight loop, lets async handlers progress meanwhile.
    if (read > 0 || now - lastRequest < data.pollWindow) {
      schedule();
      return;
    }
    doorbell.park();
    if (hasRecords()) {
      doorbell.unpark();
      schedule();
      return;
    }
    if (!waitingOnDoorbell) {
      waitingOnDoorbell = true;
      void doorbell.wait().then(onRung);
    }
    // Pinned workers do not ring when they free response-ring space, so blocked answers retry on a timer.
    if (blocked && retryTimer === null) retryTimer = setTimeout(onRetry, FULL_RING_RETRY_MS);
  }

  pump();
}
