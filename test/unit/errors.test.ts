import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import vm from 'node:vm';
import {
  ErrorCode,
  FasterApiError,
  HttpError,
  isFasterApiError,
  isHttpError,
} from '../../src/core/errors.ts';

const HTTP_BRAND = Symbol.for('fasterapi.http-error');
const BRAND = Symbol.for('fasterapi.error');

describe('ErrorCode', () => {
  test('codes are distinct, FA_ERR_-prefixed strings', () => {
    const codes = Object.values(ErrorCode);
    assert.ok(codes.length > 0);
    assert.equal(new Set(codes).size, codes.length);
    for (const code of codes) assert.match(code, /^FA_ERR_[A-Z_]+$/);
    assert.equal(ErrorCode.HTTP, 'FA_ERR_HTTP');
    assert.equal(ErrorCode.HANDLER, 'FA_ERR_HANDLER');
    assert.equal(ErrorCode.INVALID_RESPONSE_HEADER, 'FA_ERR_INVALID_RESPONSE_HEADER');
  });
});

describe('HttpError', () => {
  test('carries status, detail, default code and no headers', () => {
    const error = new HttpError(404, 'Item not found');
    assert.ok(error instanceof Error);
    assert.equal(error.status, 404);
    assert.equal(error.message, 'Item not found');
    assert.equal(error.name, 'HttpError');
    assert.equal(error.code, 'FA_ERR_HTTP');
    assert.equal(error.headers, undefined);
    assert.equal(error.cause, undefined);
    assert.equal(Object.hasOwn(error, 'cause'), false);
    assert.equal((error as unknown as Record<symbol, unknown>)[HTTP_BRAND], true);
  });

  test('takes headers, a code and a cause', () => {
    const cause = new Error('root');
    const error = new HttpError(401, 'login', {
      headers: { 'www-authenticate': 'Bearer' },
      code: ErrorCode.BAD_REQUEST,
      cause,
    });
    assert.deepEqual(error.headers, { 'www-authenticate': 'Bearer' });
    assert.equal(error.code, 'FA_ERR_BAD_REQUEST');
    assert.equal(error.cause, cause);
  });

  test('accepts every status from 400 to 599', () => {
    for (const status of [400, 401, 404, 418, 422, 499, 500, 503, 599]) {
      assert.equal(new HttpError(status, 'x').status, status);
    }
  });

  test('rejects statuses outside 400-599 and non-integers with a RangeError', () => {
    for (const status of [399, 200, 302, 600, 999, 0, -404, 404.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new HttpError(status, 'x'), {
        name: 'RangeError',
        message: `HttpError status must be an integer from 400 to 599, got ${status}`,
      });
    }
    assert.throws(() => new HttpError('404' as unknown as number, 'x'), RangeError);
  });
});

describe('FasterApiError', () => {
  test('carries code, message, name and cause', () => {
    const cause = new Error('inner');
    const error = new FasterApiError(ErrorCode.PORT_IN_USE, 'port 80 is in use', { cause });
    assert.ok(error instanceof Error);
    assert.equal(error.code, 'FA_ERR_PORT_IN_USE');
    assert.equal(error.message, 'port 80 is in use');
    assert.equal(error.name, 'FasterApiError');
    assert.equal(error.cause, cause);
  });
});

describe('isHttpError', () => {
  test('recognises an HttpError', () => {
    assert.equal(isHttpError(new HttpError(400, 'bad')), true);
  });

  test('recognises a plain object with the brand (as if from another realm)', () => {
    assert.equal(isHttpError({ [HTTP_BRAND]: true }), true);
    assert.equal(isHttpError({ [HTTP_BRAND]: true, status: 404, message: 'x' }), true);
  });

  test('recognises an HttpError-like object built in another V8 context', () => {
    const foreign: unknown = vm.runInNewContext(
      `const e = new Error('from elsewhere'); e.status = 409; e[Symbol.for('fasterapi.http-error')] = true; e`,
    );
    assert.equal(foreign instanceof Error, false, 'really from another realm');
    assert.equal(isHttpError(foreign), true);
  });

  test('rejects lookalikes', () => {
    const lookalikes: unknown[] = [
      new Error('plain'),
      { name: 'HttpError', status: 404, message: 'Not found', code: 'FA_ERR_HTTP' },
      { [HTTP_BRAND]: 'true' },
      { [HTTP_BRAND]: 1 },
      { [Symbol('fasterapi.http-error')]: true },
      { 'fasterapi.http-error': true },
      { [BRAND]: true },
      new FasterApiError(ErrorCode.HTTP, 'not an http error'),
      Object.assign(() => undefined, { [HTTP_BRAND]: true }),
      null,
      undefined,
      404,
      'HttpError',
      HTTP_BRAND,
    ];
    for (const value of lookalikes) assert.equal(isHttpError(value), false, String(value));
  });

  test('an inherited brand counts (prototype chain)', () => {
    const child = Object.create(new HttpError(400, 'x')) as unknown;
    assert.equal(isHttpError(child), true);
  });
});

describe('isFasterApiError', () => {
  test('recognises a FasterApiError', () => {
    assert.equal(isFasterApiError(new FasterApiError(ErrorCode.TLS, 'bad cert')), true);
  });

  test('recognises a plain object with the brand (as if from another realm)', () => {
    assert.equal(isFasterApiError({ [BRAND]: true }), true);
    const foreign: unknown = vm.runInNewContext(
      `const e = new Error('x'); e.code = 'FA_ERR_TLS'; e[Symbol.for('fasterapi.error')] = true; e`,
    );
    assert.equal(isFasterApiError(foreign), true);
  });

  test('rejects lookalikes, including an HttpError', () => {
    const lookalikes: unknown[] = [
      new Error('x'),
      { name: 'FasterApiError', code: 'FA_ERR_TLS', message: 'x' },
      { [BRAND]: 'yes' },
      { [Symbol('fasterapi.error')]: true },
      { [HTTP_BRAND]: true },
      new HttpError(500, 'not a FasterApiError'),
      null,
      undefined,
      'FA_ERR_TLS',
      0,
    ];
    for (const value of lookalikes) assert.equal(isFasterApiError(value), false, String(value));
  });
});

