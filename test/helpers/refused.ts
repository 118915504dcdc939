/** Asserting that App registration refuses something, with ROUTE_DEFINITION and a message naming what. */

import assert from 'node:assert/strict';
import { ErrorCode, isFasterApiError } from '../../src/index.ts';

export function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (thrown: unknown) => {
    assert.ok(isFasterApiError(thrown));
    assert.equal(thrown.code, ErrorCode.ROUTE_DEFINITION);
    assert.match(thrown.message, message);
    return true;
  });
}
