/**
 * The pinned worker's side of the pooled executor: submits tasks on its request rings, reads
 * answers from its response rings, and enforces each task's timeout.
 *
 * `submit()` returns a promise that always resolves — to the handler's response, or to a fault:
 * `overloaded` (no isolate has room: shed with 503), `timeout` (504), `unavailable` (the isolate
 * died or was replaced: 503), or the handler's own fault. It never rejects. While every isolate
 * is being replaced at once, requests wait for the first to come back (at most as many as the
 * pool could hold, each within its timeout) rather than being shed.
 *
 * Waiting for answers: while tasks are outstanding, the worker reads its response rings each
 * time it submits and once per event-loop turn for about twice the recent answer time (at most
 * ANSWER_LOOK_CAP_US), so that answers reach it without a wake-up; after that it parks on its
 * doorbell (doorbell.ts) until an isolate rings it. The rings, their outboxes and that loop are a
 * `RingEndpoint` (ring-endpoint.ts), the same as the isolate's. The event loop stays free
 * meanwhile: nothing spins in a tight loop on this thread.
 */

import { describeThrown, internalFault, type Fault, type Reporter } from '../app/boundary.ts';
import type { TaskDefinition, TaskOutcome } from '../app/task.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, ok } from '../core/result.ts';
import {
  BodyRest,
  decodeBodyChunk,
  decodeFault,
  decodeResponse,
  encodeCancel,
  encodeRequest,
  encodeTask,
  recordFlags,
  recordKind,
  recordTaskId,
  FLAG_MORE,
  NO_ROOM,
  RecordKind,
  TOO_LARGE,
  type DecodedResponse,
  type PoolRequest,
  type PoolTaskRequest,
} from './codec.ts';
import { Doorbell } from './doorbell.ts';
import { IsolateState } from './isolate-state.ts';
import type { RingProducer } from './ring.ts';
import { RingEndpoint, type Written } from './ring-endpoint.ts';
import type { PoolLinkData, RingPair } from './topology.ts';

import type { Pool, PoolResult } from './pool.ts';

export type { PoolResult } from './pool.ts';

/**
 * What a pooled task's answer means to `app.run`: a TASK is answered with a response with no
 * headers, 200 and the result's bytes or 500 and what the task threw (pooled-executor.ts), or
 * with the faults every pooled request can get.
 */
export function taskOutcome(result: PoolResult): TaskOutcome {
  if (result.ok) {
    const { status, body } = result.value;
    const bytes = typeof body === 'string' ? Buffer.from(body) : (body as Uint8Array);
    return { kind: status === 200 ? 'value' : 'thrown', bytes };
  }
  const fault = result.error;
  switch (fault.kind) {
    case 'overloaded':
    case 'unavailable':
      return { kind: fault.kind };
    case 'timeout':
      return { kind: 'timeout', timeoutMs: fault.timeoutMs };
    case 'internal':
      return { kind: 'failed', reason: `error id ${fault.errorId}` };
    case 'http':
      return { kind: 'failed', reason: typeof fault.detail === 'string' ? fault.detail : `HTTP ${fault.status}` };
  }
}

/**
 * The longest a pinned worker keeps looking for answers by event-loop turns after a submit, in
 * µs, when answers have recently come that fast (spin.ts: the window is twice the recent wait).
 * Looking by turns never holds up the worker's connections, which are served in the same turns;
 * while it looks, an isolate answering needs no `Atomics.notify` to reach it, which measured
 * as a fifth of a pinned worker's time at 32 requests in flight when it parked after every
 * answer. A route whose answers take longer (CPU-bound work) parks at once and is rung.
 */
const ANSWER_LOOK_CAP_US = 1000;

/** A task sent to a pooled isolate and not yet answered. */
interface PendingTask {
  readonly id: number;
  readonly isolate: number;
  /** The link (generation) the task was sent on. */
  readonly link: Link;
  readonly resolve: (result: PoolResult) => void;
  timer: NodeJS.Timeout | null;
  /** A response whose body is still arriving in chunk records. */
  partial: DecodedResponse | null;
}

/** What runs on a pooled isolate: a route's request, or a pooled task (`app.run`). */
type Job = { readonly kind: 'request'; readonly request: PoolRequest } | { readonly kind: 'task'; readonly request: PoolTaskRequest };

/** A request that arrived while every pooled isolate was being replaced. */
interface AwaitingIsolate {
  readonly job: Job;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly resolve: (result: PoolResult) => void;
  timer: NodeJS.Timeout | null;
}

/** What goes to an isolate on its request ring (a request's body that does not fit follows as chunks). */
type ToIsolate = Job | { readonly kind: 'cancel'; readonly taskId: number };

/** A request whose path, query and headers are larger than a ring record (see `poolRingSize`). */
export const HEAD_TOO_LARGE: Fault = {
  kind: 'http',
  status: 431,
  detail: 'Request headers too large to run this route on the pool',
  code: ErrorCode.BAD_REQUEST,
  headers: undefined,
};

/** One pooled isolate as this worker knows it: made anew with each generation's rings. */
interface Link {
  /** The isolate's generation its rings belong to (see PoolLinkData.generations). */
  readonly generation: number;
  /** This worker's tasks on the isolate that have not been answered. */
  outstanding: number;
}

export class PoolClient implements Pool {
  readonly #links: Array<Link | null>;
  /** The newest generation heard of for each isolate, linked or not. */
  readonly #generations: number[];
  readonly #capacity: readonly number[];
  readonly #slots: readonly number[];
  readonly #state: IsolateState;
  /** The rings to every isolate (by pooled index), their outboxes, and the loop that reads answers. */
  readonly #endpoint: RingEndpoint<ToIsolate>;
  readonly #tasks = new Map<number, PendingTask>();
  /** Requests waiting for an isolate to come back; at most `#maxAwaiting`. */
  readonly #awaitingIsolate: AwaitingIsolate[] = [];
  readonly #maxAwaiting: number;
  #nextTaskId = 1;
  #nextIsolate = 0;

  /** Where faults of the pool's own making are logged (under an error id, as all faults are). */
  readonly #reporter: Reporter;

  constructor(data: PoolLinkData, log: Logger | null = null) {
    this.#reporter = { log: log ?? createLogger('silent'), exposeErrors: false };
    this.#state = new IsolateState(data.state, data.epoch);
    this.#endpoint = new RingEndpoint<ToIsolate>(
      {
        doorbell: new Doorbell(data.doorbells, data.pinnedIndex),
        peerDoorbells: data.rings.map((_, j) => new Doorbell(data.doorbells, data.pinnedCount + j)),
        bodyKind: RecordKind.REQUEST_BODY,
        spinCapUs: ANSWER_LOOK_CAP_US,
        // While tasks are out, look once per turn: the connections are served meanwhile.
        waitBy: 'turns',
        // An answer rarely follows another at once: the spin window decides how long to look.
        rescanAfterRead: false,
        // Requests come several to a turn under load (one read of a connection): ring once.
        ringOncePerTurn: true,
      },
      {
        write: (ring, item) => this.#write(ring, item),
        read: (_isolate, bytes, offset, length) => this.#onRecord(bytes, offset, length),
        wantsBody: (taskId) => this.#tasks.has(taskId),
        expectsRecords: () => this.#tasks.size > 0,
        // A pinned worker is never idle in that sense: it owns connections.
        idle: () => false,
      },
    );
    this.#slots = data.slots;
    this.#capacity = data.slots.map((s) => s + data.queueLimit);
    this.#maxAwaiting = this.#capacity.reduce((sum, c) => sum + c, 0);
    this.#generations = [...data.generations];
    this.#links = data.rings.map((pair, j) => (data.available[j] === true ? this.#link(pair, j, data.generations[j] ?? 0) : null));
  }

  /** Tasks this worker is waiting on. */
  get outstanding(): number {
    return this.#tasks.size;
  }

  /** Whether some isolate has an idle task slot now (used to decide spill-over). */
  hasIdleSlot(): boolean {
    for (let j = 0; j < this.#links.length; j++) {
      const link = this.#links[j];
      if (link !== null && link !== undefined && Math.max(this.#state.load(j), link.outstanding) < (this.#slots[j] as number)) return true;
    }
    return false;
  }

  /**
   * Runs a request on a pooled isolate. `timeoutMs` 0 means no limit. Never rejects.
   * The request belongs to the client from now on (it sets `taskId`, and may send the body
   * later, in chunks).
   */
  submit(request: PoolRequest, timeoutMs: number): Promise<PoolResult> {
    return this.#submit({ kind: 'request', request }, timeoutMs);
  }

  /**
   * Runs a pooled task (`app.run`) on a pooled isolate, with the same queues, refusal, timeout
   * and replacement as a request; `timeoutMs` 0 means no limit. Never rejects.
   */
  runTask(task: TaskDefinition, input: Uint8Array, timeoutMs: number): Promise<TaskOutcome> {
    const request: PoolTaskRequest = { taskId: 0, taskIndex: task.index, timeoutMs, body: input };
    return this.#submit({ kind: 'task', request }, timeoutMs).then(taskOutcome);
  }

  #submit(job: Job, timeoutMs: number): Promise<PoolResult> {
    this.#endpoint.readRecords();
    const j = this.#pickIsolate();
    if (j < 0) {
      // Every isolate is being replaced: wait for one, in a queue as bounded as the pool itself.
      if (this.#links.every((link) => link === null) && this.#awaitingIsolate.length < this.#maxAwaiting) {
        return new Promise((resolve) => this.#awaitIsolate(job, timeoutMs, resolve));
      }
      return Promise.resolve(err({ kind: 'overloaded' }));
    }
    return this.#send(j, job, timeoutMs);
  }

  /** Sends to isolate `j`; the returned promise settles when it answers, times out or dies. */
  #send(j: number, job: Job, timeoutMs: number): Promise<PoolResult> {
    const link = this.#links[j] as Link;
    const id = this.#nextTaskId;
    this.#nextTaskId = this.#nextTaskId === 0xffff_ffff ? 1 : this.#nextTaskId + 1;

    return new Promise<PoolResult>((resolve) => {
      const task: PendingTask = { id, isolate: j, link, resolve, timer: null, partial: null };
      this.#tasks.set(id, task);
      link.outstanding++;
      if (timeoutMs > 0) task.timer = setTimeout(() => this.#timeOut(task, timeoutMs), timeoutMs);
      job.request.taskId = id;
      this.#endpoint.send(j, job);
      this.#endpoint.start();
    });
  }

  /**
   * Generation `generation` of isolate `j` died or failed to start: its tasks answer 503, and it
   * gets no new ones. A message about an older generation than the linked one is ignored.
   */
  isolateDown(j: number, generation: number): void {
    const link = this.#links[j];
    if (link === null || link === undefined || link.generation > generation) return;
    this.#unlink(j);
  }

  /** Generation `generation` of isolate `j` serves, on fresh rings. Old or repeated news is ignored. */
  isolateUp(j: number, generation: number, pair: RingPair): void {
    if (generation <= (this.#generations[j] ?? -1) && this.#links[j] !== null) return;
    this.#generations[j] = generation;
    // Tasks still on an older generation's rings would never be answered.
    this.#unlink(j);
    this.#links[j] = this.#link(pair, j, generation);
    // Requests that arrived while no isolate was up go now, oldest first, as far as there is room.
    while (this.#awaitingIsolate.length > 0) {
      const next = this.#pickIsolate();
      if (next < 0) break;
      const waiter = this.#awaitingIsolate.shift() as AwaitingIsolate;
      if (waiter.timer !== null) clearTimeout(waiter.timer);
      const remaining = waiter.timeoutMs === 0 ? 0 : Math.max(1, waiter.deadline - Date.now());
      void this.#send(next, waiter.job, remaining).then(waiter.resolve);
    }
  }

  #awaitIsolate(job: Job, timeoutMs: number, resolve: (result: PoolResult) => void): void {
    const waiter: AwaitingIsolate = { job, timeoutMs, deadline: Date.now() + timeoutMs, resolve, timer: null };
    if (timeoutMs > 0) {
      waiter.timer = setTimeout(() => {
        const at = this.#awaitingIsolate.indexOf(waiter);
        if (at >= 0) this.#awaitingIsolate.splice(at, 1);
        resolve(err({ kind: 'timeout', timeoutMs }));
      }, timeoutMs);
    }
    this.#awaitingIsolate.push(waiter);
  }

  #unlink(j: number): void {
    if (this.#links[j] === null) return;
    this.#links[j] = null;
    this.#endpoint.disconnect(j);
    for (const task of [...this.#tasks.values()]) {
      if (task.isolate === j) this.#complete(task, err({ kind: 'unavailable' }));
    }
  }

  #link(pair: RingPair, j: number, generation: number): Link {
    this.#endpoint.connect(j, pair.request, pair.response);
    return { generation, outstanding: 0 };
  }

  /**
   * The least-loaded isolate with room, or -1. Load is what the isolate reports (running and
   * queued) or this worker's own unanswered tasks there, whichever is higher: the isolate's
   * count lags behind tasks still in the ring.
   */
  #pickIsolate(): number {
    let best = -1;
    let bestLoad = Infinity;
    const count = this.#links.length;
    for (let k = 0; k < count; k++) {
      const j = (this.#nextIsolate + k) % count;
      const link = this.#links[j];
      if (link === null || link === undefined) continue;
      const load = Math.max(this.#state.load(j), link.outstanding);
      if (load < (this.#capacity[j] as number) && load < bestLoad) {
        best = j;
        bestLoad = load;
      }
    }
    this.#nextIsolate = (this.#nextIsolate + 1) % count;
    return best;
  }

  /** Writes one item for the endpoint; a request whose body does not fit whole leaves the rest to follow. */
  #write(ring: RingProducer, item: ToIsolate): Written {
    if (item.kind === 'cancel') return encodeCancel(ring, item.taskId);
    if (item.kind === 'task') {
      const { request } = item;
      const inline = encodeTask(ring, request);
      if (inline === NO_ROOM) return false;
      return inline < request.body.byteLength ? new BodyRest(request.taskId, request.body, inline) : true;
    }
    const { request } = item;
    const inline = encodeRequest(ring, request);
    if (inline === NO_ROOM) return false;
    if (inline === TOO_LARGE) {
      const task = this.#tasks.get(request.taskId);
      if (task !== undefined) this.#complete(task, err(HEAD_TOO_LARGE));
      return true;
    }
    return inline < request.body.byteLength ? new BodyRest(request.taskId, request.body, inline) : true;
  }

  #timeOut(task: PendingTask, timeoutMs: number): void {
    task.timer = null;
    if (!this.#tasks.has(task.id)) return;
    this.#complete(task, err({ kind: 'timeout', timeoutMs }));
    if (this.#links[task.isolate] !== task.link) return; // that generation is gone
    // Drop the request if it never left this worker; else tell the isolate not to bother.
    const withdrawn = this.#endpoint.withdraw(task.isolate, (item) => item.kind !== 'cancel' && item.request.taskId === task.id);
    if (!withdrawn) this.#endpoint.send(task.isolate, { kind: 'cancel', taskId: task.id });
  }

  #complete(task: PendingTask, result: PoolResult): void {
    if (!this.#tasks.delete(task.id)) return;
    if (task.timer !== null) clearTimeout(task.timer);
    task.link.outstanding--;
    task.resolve(result);
  }

  /** One record from a response ring. */
  #onRecord(bytes: Buffer, offset: number, length: number): void {
    const task = this.#tasks.get(recordTaskId(bytes, offset));
    // An answer for a task that timed out or was cancelled is read and dropped.
    if (task === undefined) return;
    try {
      this.#read(task, bytes, offset, length);
    } catch (thrown) {
      // A record that does not decode (a body chunk past its declared length, say) fails its
      // own request with a 500; this worker and the ring go on.
      this.#complete(task, err(internalFault(ErrorCode.HANDLER, `pooled task ${task.id}`, `its answer could not be read: ${describeThrown(thrown)}`, this.#reporter)));
    }
  }

  #read(task: PendingTask, bytes: Buffer, offset: number, length: number): void {
    switch (recordKind(bytes, offset)) {
      case RecordKind.RESPONSE: {
        const response = decodeResponse(bytes, offset, length);
        if (response.more) task.partial = response;
        else this.#complete(task, ok(response));
        return;
      }
      case RecordKind.RESPONSE_BODY: {
        const partial = task.partial;
        if (partial === null || !(partial.body instanceof Buffer)) return;
        partial.received = decodeBodyChunk(bytes, offset, length, partial.body, partial.received);
        if ((recordFlags(bytes, offset) & FLAG_MORE) === 0) this.#complete(task, ok(partial));
        return;
      }
      case RecordKind.FAULT:
        this.#complete(task, err(decodeFault(bytes, offset, length)));
        return;
    }
  }
}
