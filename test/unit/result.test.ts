import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  andThen,
  err,
  fromPromise,
  fromThrowable,
  isErr,
  isOk,
  map,
  ok,
  unwrapOr,
  type Result,
} from '../../src/core/result.ts';

/** Widens a result to `Result<T, E>`, so that control-flow narrowing does not pin it to Ok or Err. */
const widen = <T, E>(result: Result<T, E>): Result<T, E> => result;

const describeError = (thrown: unknown): string => (thrown instanceof Error ? `Error: ${thrown.message}` : `value: ${String(thrown)}`);

describe('ok / err', () => {
  test('ok() builds a tagged plain object with exactly ok and value', () => {
    const value = { n: 1 };
    const result = ok(value);
    assert.deepEqual(result, { ok: true, value });
    assert.equal(result.value, value);
    assert.deepEqual(Object.keys(result), ['ok', 'value']);
    assert.equal(Object.getPrototypeOf(result), Object.prototype);
  });

  test('err() builds a tagged plain object with exactly ok and error', () => {
    const error = new Error('boom');
    const result = err(error);
    assert.deepEqual(result, { ok: false, error });
    assert.equal(result.error, error);
    assert.deepEqual(Object.keys(result), ['ok', 'error']);
  });

  test('falsy values are carried as they are', () => {
    assert.deepEqual(ok(undefined), { ok: true, value: undefined });
    assert.deepEqual(ok(0), { ok: true, value: 0 });
    assert.deepEqual(ok(null), { ok: true, value: null });
    assert.deepEqual(err(''), { ok: false, error: '' });
    assert.deepEqual(err(undefined), { ok: false, error: undefined });
  });
});

describe('isOk / isErr', () => {
  test('tell the two shapes apart', () => {
    const good: Result<number, string> = ok(1);
    const bad: Result<number, string> = err('no');
    assert.equal(isOk(good), true);
    assert.equal(isErr(good), false);
    assert.equal(isOk(bad), false);
    assert.equal(isErr(bad), true);
  });

  test('narrow the type', () => {
    const result: Result<number, string> = Math.random() < 2 ? ok(5) : err('never');
    if (isOk(result)) {
      const n: number = result.value;
      assert.equal(n, 5);
    } else {
      assert.fail('expected ok');
    }
  });
});

describe('map', () => {
  test('transforms an Ok', () => {
    assert.deepEqual(
      map(ok(2), (n) => n * 10),
      { ok: true, value: 20 },
    );
    assert.deepEqual(
      map(ok('a'), (s) => [s, s]),
      { ok: true, value: ['a', 'a'] },
    );
  });

  test('passes an Err through untouched (the same object) without calling fn', () => {
    const bad = widen<number, string>(err('nope'));
    let calls = 0;
    const mapped = map(bad, (n) => {
      calls++;
      return n + 1;
    });
    assert.equal(mapped, bad);
    assert.equal(calls, 0);
  });

  test('does not catch what fn throws', () => {
    assert.throws(
      () =>
        map(ok(1), () => {
          throw new TypeError('from fn');
        }),
      { name: 'TypeError', message: 'from fn' },
    );
  });
});

describe('andThen', () => {
  const half = (n: number): Result<number, string> => (n % 2 === 0 ? ok(n / 2) : err(`${n} is odd`));

  test('chains a step that succeeds', () => {
    assert.deepEqual(andThen(ok(8), half), { ok: true, value: 4 });
    assert.deepEqual(andThen(andThen(ok(8), half), half), { ok: true, value: 2 });
  });

  test('returns the Err of a step that fails', () => {
    assert.deepEqual(andThen(ok(3), half), { ok: false, error: '3 is odd' });
    assert.deepEqual(andThen(andThen(ok(6), half), half), { ok: false, error: '3 is odd' });
  });

  test('returns the step result itself, not a copy', () => {
    const next = ok('next');
    assert.equal(
      andThen(ok(1), () => next),
      next,
    );
  });

  test('short-circuits an Err without calling fn', () => {
    const first = widen<number, string>(err('first'));
    let calls = 0;
    const chained = andThen(first, (n) => {
      calls++;
      return half(n);
    });
    assert.equal(chained, first);
    assert.equal(calls, 0);
  });
});

describe('unwrapOr', () => {
  test('gives the value of an Ok, even a falsy one', () => {
    assert.equal(unwrapOr(ok(7), 0), 7);
    assert.equal(unwrapOr(ok(0), 99), 0);
    assert.equal(unwrapOr<string | null, string>(ok(null), 'fallback'), null);
  });

  test('gives the fallback for an Err', () => {
    const bad: Result<number, string> = err('x');
    assert.equal(unwrapOr(bad, 42), 42);
  });
});

describe('fromThrowable', () => {
  test('wraps a return value in Ok and passes the arguments through', () => {
    const safeAdd = fromThrowable((a: number, b: number) => a + b, describeError);
    assert.deepEqual(safeAdd(2, 3), { ok: true, value: 5 });
  });

  test('turns a thrown Error into an Err via toError', () => {
    const safeParse = fromThrowable((text: string) => JSON.parse(text) as unknown, describeError);
    assert.deepEqual(safeParse('{"a":1}'), { ok: true, value: { a: 1 } });
    const bad = safeParse('{');
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.error, /^Error: /);
  });

  test('turns thrown non-Error values into an Err too', () => {
    const thrower = (value: unknown) =>
      fromThrowable(() => {
        throw value;
      }, (thrown) => thrown);
    assert.deepEqual(thrower('a string')(), { ok: false, error: 'a string' });
    assert.deepEqual(thrower(42)(), { ok: false, error: 42 });
    assert.deepEqual(thrower(undefined)(), { ok: false, error: undefined });
    assert.deepEqual(thrower(null)(), { ok: false, error: null });
    const object = { reason: 'custom' };
    const result = thrower(object)();
    assert.equal(result.ok, false);
    if (!result.ok) assert.equal(result.error, object);
  });

  test('toError receives exactly what was thrown', () => {
    const seen: unknown[] = [];
    const symbol = Symbol('thrown');
    const wrapped = fromThrowable(
      () => {
        throw symbol;
      },
      (thrown) => {
        seen.push(thrown);
        return 'mapped';
      },
    );
    assert.deepEqual(wrapped(), { ok: false, error: 'mapped' });
    assert.deepEqual(seen, [symbol]);
  });

  test('does not call fn until the wrapper is called, and calls it each time', () => {
    let calls = 0;
    const wrapped = fromThrowable(() => ++calls, describeError);
    assert.equal(calls, 0);
    assert.deepEqual(wrapped(), { ok: true, value: 1 });
    assert.deepEqual(wrapped(), { ok: true, value: 2 });
  });

  test('does not await: a returned promise is the Ok value', () => {
    const promise = Promise.resolve(1);
    const wrapped = fromThrowable(() => promise, describeError);
    const result = wrapped();
    assert.equal(result.ok, true);
    if (result.ok) assert.equal(result.value, promise);
  });
});

describe('fromPromise', () => {
  test('resolves a fulfilled promise to Ok', async () => {
    assert.deepEqual(await fromPromise(Promise.resolve('done'), describeError), { ok: true, value: 'done' });
  });

  test('resolves a rejected promise to Err (with an Error and with a non-Error)', async () => {
    assert.deepEqual(await fromPromise(Promise.reject(new Error('nope')), describeError), {
      ok: false,
      error: 'Error: nope',
    });
    assert.deepEqual(await fromPromise(Promise.reject('plain string'), (thrown) => thrown), {
      ok: false,
      error: 'plain string',
    });
    assert.deepEqual(await fromPromise(Promise.reject(undefined), (thrown) => ({ thrown })), {
      ok: false,
      error: { thrown: undefined },
    });
  });

  test('accepts a function returning a promise, and calls it once', async () => {
    let calls = 0;
    const result = await fromPromise(async () => {
      calls++;
      return 7;
    }, describeError);
    assert.deepEqual(result, { ok: true, value: 7 });
    assert.equal(calls, 1);
  });

  test('a function that rejects asynchronously becomes Err', async () => {
    const result = await fromPromise(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new RangeError('late');
    }, describeError);
    assert.deepEqual(result, { ok: false, error: 'Error: late' });
  });

  test('a function that throws synchronously becomes Err, not a rejection', async () => {
    const result = await fromPromise((): Promise<number> => {
      throw new Error('sync throw');
    }, describeError);
    assert.deepEqual(result, { ok: false, error: 'Error: sync throw' });
  });

  test('works with a bare thenable', async () => {
    const resolving: PromiseLike<string> = { then: (onFulfilled) => Promise.resolve(onFulfilled?.('thenable')) } as PromiseLike<string>;
    assert.deepEqual(await fromPromise(resolving, describeError), { ok: true, value: 'thenable' });
    const rejecting = {
      then(_onFulfilled: unknown, onRejected?: (reason: unknown) => unknown) {
        return Promise.resolve(onRejected?.('thenable failed'));
      },
    } as PromiseLike<string>;
    assert.deepEqual(await fromPromise(rejecting, (thrown) => thrown), { ok: false, error: 'thenable failed' });
  });

  test('never rejects, whatever the input does', async () => {
    const inputs: Array<PromiseLike<unknown> | (() => PromiseLike<unknown>)> = [
      Promise.reject(new Error('a')),
      Promise.reject(null),
      () => Promise.reject(Symbol('s')),
      () => {
        throw 'thrown string';
      },
      async () => {
        throw { not: 'an error' };
      },
    ];
    const results = await Promise.allSettled(inputs.map((input) => fromPromise(input, () => 'caught')));
    for (const settled of results) {
      assert.deepEqual(settled, { status: 'fulfilled', value: { ok: false, error: 'caught' } });
    }
  });

  test('returns a real Promise', async () => {
    const pending = fromPromise(Promise.resolve(1), describeError);
    assert.ok(pending instanceof Promise);
    assert.deepEqual(await pending, { ok: true, value: 1 });
  });
});
