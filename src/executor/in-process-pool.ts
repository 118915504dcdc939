/**
 * The pooled executor on the calling thread, for `app.request()` (server/in-process.ts): a
 * `{ pool: true }` route runs in-process, but its request and its answer still cross a real ring
 * pair through the codec the pool uses, so what would not survive the trip to a pooled isolate
 * fails here too — a header block larger than a ring record (431), a response whose headers do
 * not fit (500), a streamed body (500), a header value the codec cannot carry.
 *
 *   submit(request) ─► encodeRequest ─► request ring ─► decodeRequest ─┐   (body chunk records
 *                                                                      │    when it is larger
 *   PoolResult ◄─ decodeResponse ◄─ response ring ◄─ writeAnswer ◄─ run ┘    than one record)
 *
 * Everything happens on one thread: a record is read back as soon as it is written, so each
 * ring holds at most one record at a time and never fills; nothing waits with `Atomics.wait`
 * and nothing needs a doorbell. The handler runs with `req.isolate.kind === 'pooled'`, and its
 * timeout (the route's, else `handlerTimeout`) answers 504 as the pool client does, ending the
 * request's `signal`.
 *
 * `run(request, timeoutMs)` is the seam for whatever else runs pooled work in-process: it takes
 * a request already decoded from the request ring and answers as a pooled isolate would.
 */

import { AfterWork } from '../app/after.ts';
import type { AppTable, Route } from '../app/app.ts';
import type { TaskDefinition, TaskOutcome } from '../app/task.ts';
import { describeThrown, internalFault, type Fault } from '../app/boundary.ts';
import type { Execution } from '../app/invoke.ts';
import { endRequest, runAfter } from '../app/request.ts';
import { disposeBody } from '../app/response.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, ok } from '../core/result.ts';
import {
  BodyRest,
  decodeBodyChunk,
  decodeFault,
  decodeRequest,
  decodeResponse,
  decodeTask,
  encodeBodyChunk,
  encodeRequest,
  encodeTask,
  recordKind,
  NO_ROOM,
  RecordKind,
  TOO_LARGE,
  type DecodedRequest,
  type DecodedResponse,
  type DecodedTask,
  type PoolRequest,
} from './codec.ts';
import type { Pool, PoolResult } from './pool.ts';
import { HEAD_TOO_LARGE, taskOutcome } from './pool-client.ts';
import { refuseStream, startJob, startTask, writeAnswer, type TaskSite } from './pooled-task.ts';
import { RingConsumer, RingProducer } from './ring.ts';
import { createRingPair } from './topology.ts';

export interface InProcessPoolSettings {
  /** The app's routes and pooled tasks. */
  readonly table: AppTable;
  /** Where tasks run: `isolate.kind` is 'pooled'. */
  readonly site: TaskSite;
  /** Bytes of each ring, as `poolRingSize`: it decides what is too large to cross. */
  readonly ringSize: number;
}

/** One ring as both of its ends, on this thread. */
interface Loop {
  readonly out: RingProducer;
  readonly in: RingConsumer;
}

export class InProcessPool implements Pool {
  readonly #table: AppTable;
  readonly #routes: readonly Route[];
  readonly #site: TaskSite;
  readonly #requests: Loop;
  readonly #responses: Loop;
  #nextTaskId = 1;
  /** `req.after()` work of pooled handlers: it runs once the answer has crossed back, as on a pooled isolate. */
  readonly afterWork: AfterWork;

  constructor(settings: InProcessPoolSettings) {
    this.#table = settings.table;
    this.#routes = settings.table.routes;
    this.#site = settings.site;
    this.afterWork = new AfterWork(settings.site.context);
    const pair = createRingPair(settings.ringSize);
    this.#requests = { out: new RingProducer(pair.request), in: new RingConsumer(pair.request) };
    this.#responses = { out: new RingProducer(pair.response), in: new RingConsumer(pair.response) };
  }

  /** The next task id, as the pool client numbers its tasks (never 0). */
  #takeTaskId(): number {
    const id = this.#nextTaskId;
    this.#nextTaskId = id === 0xffff_ffff ? 1 : id + 1;
    return id;
  }

  /** Always: in-process there is no other isolate to be busy, and spill-over does not happen. */
  hasIdleSlot(): boolean {
    return true;
  }

  submit(request: PoolRequest, timeoutMs: number): Promise<PoolResult> {
    request.taskId = this.#takeTaskId();
    const decoded = this.#carryRequest(request);
    if (!decoded.ok) return Promise.resolve(decoded);
    return this.run(decoded.value, timeoutMs);
  }

  /**
   * Runs a request decoded from the request ring as a pooled isolate would, within `timeoutMs`
   * (0: no limit), and carries its answer back over the response ring. Never rejects.
   */
  run(request: DecodedRequest, timeoutMs: number): Promise<PoolResult> {
    const route = this.#routes[request.routeId];
    if (route === undefined) {
      const fault = internalFault(ErrorCode.HANDLER, `pooled task ${request.taskId}`, `no route has ID ${request.routeId}`, this.#site.context);
      return Promise.resolve(err(fault));
    }
    const { req, result } = startTask(this.#site, route, request, timeoutMs);
    const answer = (settled: Execution): PoolResult => {
      const buffered = refuseStream(this.#site.context, route, settled, req.id);
      endRequest(req);
      const carried = this.#carryAnswer(request.taskId, buffered, () => req.id);
      runAfter(req, this.afterWork);
      return carried;
    };
    return within(result, timeoutMs, answer, {
      // As the pool client gives up on a task: the client gets 504, the handler's signal ends.
      timedOut: () => {
        endRequest(req);
        return err({ kind: 'timeout', timeoutMs });
      },
      late: (settled) => {
        if (settled.ok) disposeBody(settled.value.body);
        runAfter(req, this.afterWork);
      },
    });
  }

  /**
   * Runs a pooled task (`app.run`) as a pooled isolate would: its TASK record (input in chunk
   * records past one record) crosses the request ring, its answer the response ring. `timeoutMs`
   * 0: no limit; past it the caller gets a timeout and the late answer is dropped. Never rejects.
   */
  runTask(task: TaskDefinition, input: Uint8Array, timeoutMs: number): Promise<TaskOutcome> {
    const taskId = this.#takeTaskId();
    const decoded = this.#carryTask(taskId, task, input, timeoutMs);
    if (decoded === null) return Promise.resolve(taskOutcome(err(this.#stuck(taskId, 'task'))));
    const result = startJob(this.#site, this.#table, task, decoded.body, timeoutMs);
    const answer = (settled: Execution): TaskOutcome => {
      try {
        return taskOutcome(this.#carryAnswer(taskId, settled as Parameters<typeof writeAnswer>[2], () => undefined));
      } catch (thrown) {
        // A record that does not decode: the task's caller is told, as the pool client tells it.
        return { kind: 'failed', reason: describeThrown(thrown) };
      }
    };
    // Too late, the answer is dropped: its caller has its timeout.
    return within(result, timeoutMs, answer, { timedOut: () => ({ kind: 'timeout', timeoutMs }), late: () => {} });
  }

  /** Writes a TASK record (head, then input chunks) on the request ring and reads it back; null if it did not go round. */
  #carryTask(taskId: number, task: TaskDefinition, input: Uint8Array, timeoutMs: number): DecodedTask | null {
    const ring = this.#requests;
    const inline = encodeTask(ring.out, { taskId, taskIndex: task.index, timeoutMs, body: input });
    if (inline === NO_ROOM) return null;
    let decoded: DecodedTask | null = null;
    flush(ring, (bytes, offset, length) => {
      decoded = decodeTask(bytes, offset, length);
    });
    const whole = decoded as DecodedTask | null;
    if (whole === null) return null;
    for (let at = inline; at < input.byteLength; ) {
      at = encodeBodyChunk(ring.out, RecordKind.REQUEST_BODY, taskId, input, at);
      if (at === NO_ROOM) return null;
      flush(ring, (bytes, offset, length) => {
        whole.received = decodeBodyChunk(bytes, offset, length, whole.body, whole.received);
      });
    }
    return whole;
  }

  /** Writes the request on the request ring (head, then body chunks) and reads it back. */
  #carryRequest(request: PoolRequest): { ok: true; value: DecodedRequest } | { ok: false; error: Fault } {
    const ring = this.#requests;
    const inline = encodeRequest(ring.out, request);
    if (inline === TOO_LARGE) return err(HEAD_TOO_LARGE);
    if (inline === NO_ROOM) return err(this.#stuck(request.taskId, 'request'));
    let decoded: DecodedRequest | null = null;
    flush(ring, (bytes, offset, length) => {
      decoded = decodeRequest(bytes, offset, length);
    });
    const whole = decoded as DecodedRequest | null;
    if (whole === null) return err(this.#stuck(request.taskId, 'request'));
    const body = request.body;
    for (let at = inline; at < body.byteLength; ) {
      at = encodeBodyChunk(ring.out, RecordKind.REQUEST_BODY, request.taskId, body, at);
      if (at === NO_ROOM) return err(this.#stuck(request.taskId, 'request body'));
      flush(ring, (bytes, offset, length) => {
        whole.received = decodeBodyChunk(bytes, offset, length, whole.body, whole.received);
      });
    }
    return ok(whole);
  }

  /** Writes the answer on the response ring (head, then body chunks) and reads it back, as the pool client does. */
  #carryAnswer(taskId: number, result: Parameters<typeof writeAnswer>[2], requestId: () => string | undefined): PoolResult {
    const ring = this.#responses;
    const written = writeAnswer(ring.out, taskId, result, this.#site.context, requestId);
    if (written === false) return err(this.#stuck(taskId, 'answer'));
    let answer: PoolResult | null = null;
    let partial: DecodedResponse | null = null;
    const read = (bytes: Buffer, offset: number, length: number): void => {
      switch (recordKind(bytes, offset)) {
        case RecordKind.RESPONSE: {
          const response = decodeResponse(bytes, offset, length);
          if (response.more) partial = response;
          else answer = ok(response);
          return;
        }
        case RecordKind.RESPONSE_BODY: {
          const whole = partial as DecodedResponse | null;
          if (whole === null || !(whole.body instanceof Buffer)) return;
          whole.received = decodeBodyChunk(bytes, offset, length, whole.body, whole.received);
          if (whole.received === whole.body.byteLength) answer = ok(whole);
          return;
        }
        case RecordKind.FAULT:
          answer = err(decodeFault(bytes, offset, length));
          return;
      }
    };
    flush(ring, read);
    if (written instanceof BodyRest) {
      while (written.offset < written.body.byteLength) {
        const at = encodeBodyChunk(ring.out, RecordKind.RESPONSE_BODY, taskId, written.body, written.offset);
        if (at === NO_ROOM) return err(this.#stuck(taskId, 'answer body'));
        written.offset = at;
        flush(ring, read);
      }
    }
    return answer ?? err(this.#stuck(taskId, 'answer'));
  }

  /** A record that did not go round: impossible while each ring holds one record at a time; answered 500 rather than lost. */
  #stuck(taskId: number, what: string): Fault {
    return internalFault(ErrorCode.HANDLER, `pooled task ${taskId}`, `its ${what} could not cross the in-process ring`, this.#site.context);
  }
}

/**
 * What a handler or task came to, answered within `timeoutMs` (0: no limit): `answer` when it
 * settles in time, else `timedOut`'s answer at the deadline, and `late` with what it came to
 * afterwards. Never rejects.
 */
function within<A>(
  result: Execution | Promise<Execution>,
  timeoutMs: number,
  answer: (settled: Execution) => A,
  past: { readonly timedOut: () => A; readonly late: (settled: Execution) => void },
): Promise<A> {
  if (!(result instanceof Promise)) return Promise.resolve(answer(result));
  if (timeoutMs === 0) return result.then(answer);
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      resolve(past.timedOut());
    }, timeoutMs);
    void result.then((settled) => {
      if (timedOut) {
        past.late(settled);
        return;
      }
      clearTimeout(timer);
      resolve(answer(settled));
    });
  });
}

/** Publishes what was written on `ring` and reads it back at once. */
function flush(ring: Loop, visit: (bytes: Buffer, offset: number, length: number) => void): void {
  ring.out.publish();
  ring.in.take(visit);
}
