/**
 * A pooled isolate's executor: runs the tasks pinned workers send on its request rings, with at
 * most `slots` handlers in flight (async handlers interleave on this one event loop, the N:M
 * model) and at most `queueLimit` more waiting. A task beyond that is answered `overloaded` at
 * once: every queue is bounded. The pinned side of the same rings is PoolClient (pool-client.ts).
 *
 * The rings, the answers waiting for room and the loop are a `RingEndpoint` (ring-endpoint.ts):
 * read every request ring; if there was work, go round again after one event-loop turn (so async
 * handlers progress and answers go out); if not, and no task is running or queued, spin for the
 * spin window (spin.ts; only where cores outnumber isolates), then block on the doorbell 1 ms at
 * a time while requests came recently, and park with `Atomics.waitAsync` after that. Under load
 * the isolate keeps finding work and never parks, and nobody makes a syscall to wake it.
 *
 * What a handler gets is its own: `req`, its params, headers (decoded from the record's own
 * string on first read), body (copied out of the ring) and the response are made for the task,
 * so a handler may keep any of them after it returns. Nothing it can reach refers to ring memory.
 *
 * While a handler's synchronous part runs, the isolate publishes when it started and its time
 * limit (isolate-state.ts): if it overruns, the supervisor's watchdog replaces the whole isolate.
 */

import type { AppTable, Route } from '../app/app.ts';
import type { TaskDefinition } from '../app/task.ts';
import type { Execution, InvokeContext } from '../app/invoke.ts';
import { endRequest, runAfter, type IsolateInfo, type Request } from '../app/request.ts';
import { AfterWork } from '../app/after.ts';
import { internalFault } from '../app/boundary.ts';
import { ErrorCode } from '../core/errors.ts';
import {
  decodeBodyChunk,
  decodeRequest,
  decodeTask,
  recordFlags,
  recordKind,
  recordTaskId,
  FLAG_MORE,
  RecordKind,
  type DecodedRequest,
  type DecodedTask,
} from './codec.ts';
import { Doorbell } from './doorbell.ts';
import type { IsolateState } from './isolate-state.ts';
import type { RingProducer } from './ring.ts';
import { RingEndpoint, type Written } from './ring-endpoint.ts';
import { refuseStream, startJob, startTask, writeAnswer, type PooledExecution, type TaskSite } from './pooled-task.ts';
import type { PooledIsolateData, RingPair } from './topology.ts';

/**
 * A task this isolate has accepted: queued for a task slot, or running in one. It is a route's
 * request (`route` set), or a pooled task (`app.run`; `job` set).
 */
interface PooledTask {
  readonly pinned: number;
  /** The pinned worker's ring generation the task came in on; answers to an older one are dropped. */
  readonly generation: number;
  readonly taskId: number;
  readonly request: DecodedRequest | null;
  readonly route: Route | null;
  readonly job: { readonly definition: TaskDefinition; readonly input: DecodedTask } | null;
  cancelled: boolean;
  /** The handler's request, once the task has started (its `signal` ends with the task). */
  req: Request | null;
}

/** An answer to one task (a body that does not fit one record follows as chunks). */
interface Answer {
  readonly taskId: number;
  readonly result: PooledExecution;
  /** The request, whose id (read only then: it decodes the headers) names a 500 made while writing the answer. */
  readonly req: { readonly id: string } | null;
}

export class PooledExecutor {
  readonly #index: number;
  readonly #table: AppTable;
  readonly #routes: readonly Route[];
  readonly #context: InvokeContext;
  readonly #state: IsolateState;
  /** The isolate, its state words and its reporter, as the shared task steps take them (pooled-task.ts). */
  readonly #site: TaskSite;
  readonly #slots: number;
  readonly #queueLimit: number;
  readonly #handlerTimeout: number;
  /** The rings from every pinned worker (by pinned index), the answers waiting for room, and the loop. */
  readonly #endpoint: RingEndpoint<Answer>;
  /** Each pinned worker's ring generation here: it goes up when that worker is replaced. */
  readonly #generations: number[];
  /** Per pinned worker, requests and pooled tasks whose body is still arriving in chunk records, by task id. */
  readonly #partial: Array<Map<number, DecodedRequest | DecodedTask>>;
  /** Tasks waiting for a task slot, oldest first; at most `queueLimit`. */
  readonly #waiting: PooledTask[] = [];
  /** Tasks holding a task slot; at most `slots`. */
  readonly #running = new Set<PooledTask>();
  /** `req.after()` work under way: it runs once a task's answer is handed to the ring's endpoint. */
  readonly afterWork: AfterWork;

  constructor(data: PooledIsolateData, state: IsolateState, table: AppTable, context: InvokeContext, isolate: IsolateInfo) {
    this.#index = data.index;
    this.#table = table;
    this.#routes = table.routes;
    this.#context = context;
    this.#state = state;
    this.#slots = data.slots;
    this.#queueLimit = data.queueLimit;
    this.#handlerTimeout = data.handlerTimeout;
    this.afterWork = new AfterWork(context);
    this.#site = { isolate, state, index: data.index, context };
    this.#generations = data.rings.map(() => 0);
    this.#partial = data.rings.map(() => new Map());
    this.#endpoint = new RingEndpoint<Answer>(
      {
        doorbell: new Doorbell(data.doorbells, data.pinnedCount + data.index),
        peerDoorbells: data.rings.map((_, i) => new Doorbell(data.doorbells, i)),
        bodyKind: RecordKind.RESPONSE_BODY,
        spinCapUs: data.spinCapUs,
        waitBy: 'idle',
        // Requests come in bursts: look again next turn before paying for a park and a wake-up.
        rescanAfterRead: true,
        ringOncePerTurn: false,
      },
      {
        write: (ring, answer) => this.#write(ring, answer),
        read: (pinned, bytes, offset, length) => this.#onRecord(pinned, bytes, offset, length),
        wantsBody: () => true,
        // Requests may come at any time: the loop never stops.
        expectsRecords: () => true,
        // No handler running or waiting: nothing but the rings needs this thread.
        idle: () => this.#running.size === 0 && this.#waiting.length === 0,
      },
    );
    data.rings.forEach((pair, i) => this.#endpoint.connect(i, pair.response, pair.request));
  }

  /** Publishes the (empty) load and starts reading the request rings. */
  start(): void {
    this.#publishLoad();
    this.#endpoint.start();
  }

  /** Pinned worker `pinned` was replaced: these fresh rings are its from now on. */
  renewPinned(pinned: number, rings: RingPair): void {
    if (pinned < 0 || pinned >= this.#generations.length) return;
    // The old pinned worker is gone: its queued tasks and unsent answers have no one to go to.
    this.#endpoint.connect(pinned, rings.response, rings.request);
    this.#generations[pinned]!++;
    this.#partial[pinned]!.clear();
    const waiting = this.#waiting;
    for (let k = waiting.length - 1; k >= 0; k--) if (waiting[k]!.pinned === pinned) waiting.splice(k, 1);
    this.#publishLoad();
    this.#endpoint.schedule();
  }

  #timeoutOf(task: PooledTask): number {
    return task.job !== null ? task.job.input.timeoutMs : (task.route?.timeout ?? this.#handlerTimeout);
  }

  #publishLoad(): void {
    this.#state.setLoad(this.#index, this.#running.size + this.#waiting.length);
    // The loop may stay blocked as long as the most patient running task allows.
    let limit = this.#running.size === 0 ? this.#handlerTimeout : 0;
    for (const task of this.#running) {
      const timeout = this.#timeoutOf(task);
      if (timeout === 0) {
        limit = 0;
        break;
      }
      limit = Math.max(limit, timeout);
    }
    this.#state.setLoopLimit(this.#index, limit);
  }

  /** One record from pinned worker `pinned`'s request ring. */
  #onRecord(pinned: number, bytes: Buffer, offset: number, length: number): void {
    const partial = this.#partial[pinned] as Map<number, DecodedRequest | DecodedTask>;
    switch (recordKind(bytes, offset)) {
      case RecordKind.REQUEST: {
        const request = decodeRequest(bytes, offset, length);
        if (request.more) partial.set(request.taskId, request);
        else this.#accept(pinned, request);
        return;
      }
      case RecordKind.TASK: {
        const input = decodeTask(bytes, offset, length);
        if (input.more) partial.set(input.taskId, input);
        else this.#accept(pinned, input);
        return;
      }
      case RecordKind.REQUEST_BODY: {
        const taskId = recordTaskId(bytes, offset);
        const request = partial.get(taskId);
        if (request === undefined) return;
        request.received = decodeBodyChunk(bytes, offset, length, request.body, request.received);
        if ((recordFlags(bytes, offset) & FLAG_MORE) === 0) {
          partial.delete(taskId);
          this.#accept(pinned, request);
        }
        return;
      }
      case RecordKind.CANCEL: {
        const taskId = recordTaskId(bytes, offset);
        if (partial.delete(taskId)) return;
        this.#cancel(pinned, taskId);
        return;
      }
    }
  }

  /**
   * A whole request or pooled task arrived: it runs now if a task slot is free, waits if the
   * queue has room, or is shed.
   */
  #accept(pinned: number, decoded: DecodedRequest | DecodedTask): void {
    const generation = this.#generations[pinned] as number;
    let task: PooledTask;
    if ('routeId' in decoded) {
      const route = this.#routes[decoded.routeId];
      if (route === undefined) return this.#unknown(pinned, decoded.taskId, `no route has ID ${decoded.routeId}`);
      task = { pinned, generation, taskId: decoded.taskId, request: decoded, route, job: null, cancelled: false, req: null };
    } else {
      const definition = this.#table.tasks[decoded.taskIndex];
      if (definition === undefined) return this.#unknown(pinned, decoded.taskId, `no pooled task has index ${decoded.taskIndex}`);
      task = { pinned, generation, taskId: decoded.taskId, request: null, route: null, job: { definition, input: decoded }, cancelled: false, req: null };
    }
    if (this.#running.size < this.#slots) this.#start(task);
    else if (this.#waiting.length < this.#queueLimit) this.#waiting.push(task);
    else this.#answer(pinned, decoded.taskId, { ok: false, error: { kind: 'overloaded' } });
    this.#publishLoad();
  }

  /** Impossible while route tables agree (the supervisor checks); answered rather than lost. */
  #unknown(pinned: number, taskId: number, what: string): void {
    const fault = internalFault(ErrorCode.HANDLER, `pooled task ${taskId}`, `${what} in this isolate`, this.#context);
    this.#answer(pinned, taskId, { ok: false, error: fault });
  }

  /**
   * The pinned worker gave up on a task (it answered 504). A queued task is dropped. A running
   * one gives its task slot back now — an async handler that never settles must not hold a slot
   * forever — and its result, if it ever comes, is dropped.
   */
  #cancel(pinned: number, taskId: number): void {
    const queued = this.#waiting.findIndex((t) => t.pinned === pinned && t.taskId === taskId);
    if (queued >= 0) {
      this.#waiting.splice(queued, 1);
      this.#publishLoad();
      return;
    }
    for (const task of this.#running) {
      if (task.pinned !== pinned || task.taskId !== taskId) continue;
      task.cancelled = true;
      if (task.req !== null) endRequest(task.req);
      this.#release(task);
      return;
    }
  }

  /** Runs the task's handler (or the pooled task) in a task slot; its synchronous part is published for the watchdog. */
  #start(task: PooledTask): void {
    this.#running.add(task);
    let result: Execution | Promise<Execution>;
    if (task.job !== null) {
      result = startJob(this.#site, this.#table, task.job.definition, task.job.input.body, task.job.input.timeoutMs);
    } else {
      const started = startTask(this.#site, task.route as Route, task.request as DecodedRequest, this.#timeoutOf(task));
      task.req = started.req;
      result = started.result;
    }
    if (result instanceof Promise) result.then((settled) => this.#complete(task, settled));
    else this.#complete(task, result);
  }

  /** The handler settled: answer, unless the task was cancelled or its pinned worker replaced, and free the slot. */
  #complete(task: PooledTask, result: Execution): void {
    const buffered = task.route === null ? (result as PooledExecution) : refuseStream(this.#context, task.route, result, task.req?.id);
    if (!task.cancelled && task.generation === this.#generations[task.pinned]) this.#answer(task.pinned, task.taskId, buffered, task.req);
    if (task.req !== null) {
      endRequest(task.req);
      runAfter(task.req, this.afterWork);
    }
    this.#release(task);
  }

  /** Frees the task's slot for the next waiting task (once, whichever of completion and cancel comes first). */
  #release(task: PooledTask): void {
    if (!this.#running.delete(task)) return;
    const next = this.#waiting.shift();
    if (next !== undefined) this.#start(next);
    this.#publishLoad();
  }

  #answer(pinned: number, taskId: number, result: PooledExecution, req: { readonly id: string } | null = null): void {
    this.#endpoint.send(pinned, { taskId, result, req });
  }

  /** Writes one answer for the endpoint (see `writeAnswer`). */
  #write(ring: RingProducer, answer: Answer): Written {
    return writeAnswer(ring, answer.taskId, answer.result, this.#context, () => answer.req?.id);
  }
}
