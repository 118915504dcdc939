/**
 * Pooled tasks: module-level functions registered with `app.task(name, fn)` and run with
 * `await app.run(name, input)` from any handler, hook or WebSocket callback. They are FasterAPI's
 * `run_in_threadpool`: CPU-bound work leaves the pinned worker's event loop for a pooled isolate
 * and the caller awaits its result.
 *
 * Like routes, tasks are identified by their index in registration order: every isolate imports
 * the app module and registers the same tasks, so an index means the same function everywhere
 * (a closure cannot cross isolates). The input and the result cross as bytes, in the structured
 * clone format (`node:v8` serialize), on the pool's rings like any pooled request: the pool's
 * bounded queues, its refusal when full, timeouts and isolate replacement apply unchanged.
 *
 * What this module owns is the value format on both sides and what the caller gets back; where
 * the bytes travel is the server's business (`TaskRunner`, installed per isolate).
 */

import { deserialize, serialize } from 'node:v8';
import { describeThrown } from '../core/describe.ts';
import { ErrorCode, FasterApiError, HttpError, isHttpError } from '../core/errors.ts';

/** A task: takes one structured-clone-able value, returns one (or a promise of one). */
export type TaskFunction<In = never, Out = unknown> = (input: In) => Out | Promise<Out>;

export interface TaskDefinition {
  /** Index in registration order: what travels on the rings. */
  readonly index: number;
  readonly name: string;
  readonly fn: TaskFunction<unknown, unknown>;
  /** The task's own time limit in ms (0: none), or undefined for the server's `handlerTimeout`. */
  readonly timeout: number | undefined;
}

export interface TaskOptions {
  /**
   * How long `app.run` waits for this task, in ms (0: no limit). Past it, `run` rejects with a
   * 504 HttpError (`FA_ERR_TASK_TIMEOUT`), the task gives its slot back, and a task stuck in
   * synchronous code that long gets its isolate replaced. Default: the server's `handlerTimeout`.
   */
  readonly timeout?: number;
}

/** Per call: `app.run(name, input, { timeout })` overrides the task's own timeout. */
export type RunOptions = TaskOptions;

/** A task that ran to its end: its value, or what it threw, serialized. */
export interface TaskResult {
  readonly kind: 'value' | 'thrown';
  readonly bytes: Uint8Array;
}

/**
 * How one run ended, as the server reports it to `app.run`: the task's value or what it threw
 * (both as serialized bytes), or why it did not run to the end.
 */
export type TaskOutcome =
  | TaskResult
  /** Every pooled isolate and its queue is full. */
  | { readonly kind: 'overloaded' }
  | { readonly kind: 'timeout'; readonly timeoutMs: number }
  /** The isolate running it died or was replaced before it answered. */
  | { readonly kind: 'unavailable' }
  /** The answer could not be carried back: why, with the error id it was logged under. */
  | { readonly kind: 'failed'; readonly reason: string };

/**
 * Runs task `task` with serialized `input` somewhere (a pooled isolate, or this one), within
 * `timeoutMs` (0: none; -1: the server's `handlerTimeout`).
 */
export type TaskRunner = (task: TaskDefinition, input: Uint8Array, timeoutMs: number) => Promise<TaskOutcome>;

/** The input of a task as bytes; a value that cannot be cloned is a TypeError naming the task. */
export function encodeTaskInput(task: TaskDefinition, input: unknown): Uint8Array {
  try {
    return serialize(input);
  } catch (thrown) {
    throw new TypeError(`the input of task "${task.name}" cannot be sent to the pool (structured clone): ${describeThrown(thrown)}`, { cause: thrown });
  }
}

/**
 * What a task gave back, settled into `app.run`'s answer: its value, or a rejection. What the task
 * threw is rethrown as an Error with the task's name, message, stack and own enumerable fields
 * (such as `code`); an HttpError stays an HttpError, so a handler that does not catch it answers
 * with its status, as if it had thrown it itself.
 */
export function settleTask(task: TaskDefinition, outcome: TaskOutcome): unknown {
  switch (outcome.kind) {
    case 'value':
      return deserialize(outcome.bytes);
    case 'thrown':
      throw reviveThrown(deserialize(outcome.bytes));
    case 'overloaded':
      throw new HttpError(503, `The pool is full: task "${task.name}" was not run; retry later`, {
        code: ErrorCode.POOL_OVERLOADED,
        headers: { 'retry-after': '1' },
      });
    case 'timeout':
      throw new HttpError(504, `Task "${task.name}" did not finish within ${outcome.timeoutMs} ms`, { code: ErrorCode.TASK_TIMEOUT });
    case 'unavailable':
      throw new HttpError(503, `The isolate running task "${task.name}" stopped before it finished; retry later`, {
        code: ErrorCode.POOL_UNAVAILABLE,
        headers: { 'retry-after': '1' },
      });
    case 'failed':
      throw new FasterApiError(ErrorCode.HANDLER, `task "${task.name}" ran, but its answer could not be carried back: ${outcome.reason}`);
  }
}

/**
 * Runs `task` here, on this isolate, from serialized input to a serialized outcome: what a pooled
 * isolate does with a TASK record, and what `app.run` does where there is no pool. Never throws
 * and never rejects: whatever the task throws, or returns that cannot be cloned, is its outcome.
 */
export function executeTask(task: TaskDefinition, input: Uint8Array): TaskResult | Promise<TaskResult> {
  let value: unknown;
  try {
    value = task.fn(deserialize(input));
  } catch (thrown) {
    return thrownOutcome(thrown);
  }
  if (value instanceof Promise) return value.then(valueOutcome, thrownOutcome);
  return valueOutcome(value);
}

function valueOutcome(value: unknown): TaskResult {
  try {
    return { kind: 'value', bytes: serialize(value) };
  } catch (thrown) {
    return thrownOutcome(new TypeError(`the result cannot be sent back from the pool (structured clone): ${describeThrown(thrown)}`));
  }
}

/**
 * What the task threw, as bytes: an Error's name, message, stack and own enumerable fields (an
 * HttpError's status and headers among them); any other value as itself when it can be cloned,
 * else described.
 */
function thrownOutcome(thrown: unknown): TaskResult {
  let carried: unknown;
  try {
    carried = thrown instanceof Error ? { [ERROR_MARK]: true, ...errorFields(thrown) } : thrown;
    return { kind: 'thrown', bytes: serialize(carried) };
  } catch {
    return { kind: 'thrown', bytes: serialize({ [ERROR_MARK]: true, name: 'Error', message: describeThrown(thrown) }) };
  }
}

/** Marks a thrown Error carried as a plain object (structured clone would drop its class and fields). */
const ERROR_MARK = '__fasterapiTaskError';

function errorFields(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack };
  for (const key of Object.keys(error)) {
    const value = (error as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'function' && typeof value !== 'symbol') fields[key] = value;
  }
  // Revived as an HttpError only with a status HttpError itself accepts: one overwritten since
  // it was made travels as a plain field.
  if (isHttpError(error) && Number.isInteger(error.status) && error.status >= 400 && error.status <= 599) fields['__httpStatus'] = error.status;
  if (error.cause !== undefined) fields['cause'] = describeThrown(error.cause);
  return fields;
}

function reviveThrown(carried: unknown): unknown {
  if (typeof carried !== 'object' || carried === null || (carried as Record<string, unknown>)[ERROR_MARK] !== true) return carried;
  const { [ERROR_MARK]: _mark, name, message, stack, __httpStatus, ...fields } = carried as Record<string, unknown>;
  const text = typeof message === 'string' ? message : '';
  let error: Error;
  let rest = fields;
  if (typeof __httpStatus === 'number') {
    // An HttpError's code and headers go to its constructor (its status is __httpStatus); any
    // other Error keeps fields of those names as they were, with the rest of its own fields.
    const { code, headers, status: _status, ...others } = fields;
    error = new HttpError(__httpStatus, text, {
      ...(typeof code === 'string' ? { code: code as ErrorCode } : {}),
      ...(isStringRecord(headers) ? { headers } : {}),
    });
    rest = others;
  } else {
    error = new Error(text);
  }
  if (typeof name === 'string') error.name = name;
  if (typeof stack === 'string') error.stack = stack;
  return Object.assign(error, rest);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}

/**
 * Runs tasks on the calling isolate (a pooled isolate, or a server without a pool), with the same
 * value format and timeout as on the pool. A task's synchronous code holds this isolate's event
 * loop meanwhile: only an async task can be timed out here.
 */
export function localTaskRunner(handlerTimeout: number): TaskRunner {
  return (task, input, timeoutMs) => {
    const limit = timeoutMs === -1 ? handlerTimeout : timeoutMs;
    // Started on a later turn, as on the pool: the caller's synchronous code finishes first.
    const running = new Promise<TaskResult>((resolve) => setImmediate(() => resolve(executeTask(task, input))));
    if (limit === 0) return running;
    return new Promise<TaskOutcome>((resolve) => {
      const timer = setTimeout(() => resolve({ kind: 'timeout', timeoutMs: limit }), limit);
      void running.then((result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
  };
}

/**
 * A runner that sends tasks somewhere else (the pool's rings), with the server's `handlerTimeout`
 * standing in for "the task's default" (-1).
 */
export function remoteTaskRunner(run: (task: TaskDefinition, input: Uint8Array, timeoutMs: number) => Promise<TaskOutcome>, handlerTimeout: number): TaskRunner {
  return (task, input, timeoutMs) => run(task, input, timeoutMs === -1 ? handlerTimeout : timeoutMs);
}
