/**
 * Errors as values for the core.
 *
 * A `Result` is a tagged plain object: `{ ok: true, value }` or `{ ok: false, error }`.
 * V8 gives both shapes a stable hidden class, so returning one costs no more than returning a
 * tuple, and nothing is thrown across the hot path. User code may throw; the boundaries that
 * call it (`fromThrowable`, `fromPromise`) turn what it throws into an `Err`.
 */

export interface Ok<T> {
  readonly ok: true;
  readonly value: T;
}

export interface Err<E> {
  readonly ok: false;
  readonly error: E;
}

export type Result<T, E> = Ok<T> | Err<E>;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function err<E>(error: E): Err<E> {
  return { ok: false, error };
}

export function isOk<T, E>(result: Result<T, E>): result is Ok<T> {
  return result.ok;
}

export function isErr<T, E>(result: Result<T, E>): result is Err<E> {
  return !result.ok;
}

/** Transforms the value of an `Ok`, passing an `Err` through untouched. */
export function map<T, U, E>(result: Result<T, E>, fn: (value: T) => U): Result<U, E> {
  return result.ok ? ok(fn(result.value)) : result;
}

/** Chains a step that can itself fail. */
export function andThen<T, U, E, F>(
  result: Result<T, E>,
  fn: (value: T) => Result<U, F>,
): Result<U, E | F> {
  return result.ok ? fn(result.value) : result;
}

/** The value of an `Ok`, or `fallback` for an `Err`. */
export function unwrapOr<T, E>(result: Result<T, E>, fallback: T): T {
  return result.ok ? result.value : fallback;
}

/**
 * Wraps a function that may throw into one that returns a `Result`.
 * `toError` maps whatever was thrown (it need not be an `Error`) to the error type.
 */
export function fromThrowable<A extends unknown[], T, E>(
  fn: (...args: A) => T,
  toError: (thrown: unknown) => E,
): (...args: A) => Result<T, E> {
  return (...args) => {
    try {
      return ok(fn(...args));
    } catch (thrown) {
      return err(toError(thrown));
    }
  };
}

/** Awaits a promise (or a function returning one) and never rejects. */
export async function fromPromise<T, E>(
  promise: PromiseLike<T> | (() => PromiseLike<T>),
  toError: (thrown: unknown) => E,
): Promise<Result<T, E>> {
  try {
    return ok(await (typeof promise === 'function' ? promise() : promise));
  } catch (thrown) {
    return err(toError(thrown));
  }
}
