import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestartBackoff } from '../../src/server/worker-lifecycle.ts';

test('restart delays double while an isolate keeps dying young, up to the cap', () => {
  const backoff = new RestartBackoff();
  const delays = Array.from({ length: 10 }, () => backoff.next(0));
  assert.deepEqual(delays, [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000, 10_000]);
});

test('an isolate that served for HEALTHY_UPTIME_MS starts the backoff again; one just short of it does not', () => {
  const backoff = new RestartBackoff();
  backoff.next(0);
  backoff.next(0);
  assert.equal(backoff.next(RestartBackoff.HEALTHY_UPTIME_MS - 1), 400, 'young: the doubling goes on');
  assert.equal(backoff.next(RestartBackoff.HEALTHY_UPTIME_MS), 100, 'healthy: back to the first delay');
  assert.equal(backoff.next(0), 200);
});
