import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { createIsolateState, IsolateState } from '../../src/executor/isolate-state.ts';

test('load, busy time and heartbeat are published per isolate', async () => {
  const state = new IsolateState(createIsolateState(2), Date.now());
  state.setLoad(1, 7);
  assert.equal(state.load(0), 0);
  assert.equal(state.load(1), 7);
  assert.equal(state.overrun(0), 0, 'not inside a handler');
  state.enterHandler(0, 10);
  await delay(40);
  assert.ok(state.overrun(0) >= 25, `overrun ${state.overrun(0)}`);
  state.leaveHandler(0);
  assert.equal(state.overrun(0), 0);
  state.enterHandler(0, 0);
  await delay(20);
  assert.equal(state.overrun(0), 0, 'a limit of 0 never overruns');
  state.setLoopLimit(1, 10);
  assert.equal(state.loopOverrun(1), 0, 'no heartbeat yet');
  state.heartbeat(1);
  await delay(40);
  assert.ok(state.loopOverrun(1) >= 20, `loop overrun ${state.loopOverrun(1)}`);
  state.enterHandler(1, 1_000);
  assert.equal(state.loopOverrun(1), 0, 'inside a handler the per-route limit judges, not the loop limit');
  state.leaveHandler(1);
  state.setLoopLimit(1, 0);
  assert.equal(state.loopOverrun(1), 0, 'a limit of 0 never overruns');
  state.reset(1);
  assert.equal(state.load(1), 0);
  assert.equal(state.loopOverrun(1), 0);
});

test('times stay right across the Int32 wrap of the clock (a pool up for 24.8 days)', async () => {
  // The pool's clock is 10 ms before it wraps from 2^31 - 1 to -2^31.
  const state = new IsolateState(createIsolateState(1), Date.now() - (2 ** 31 - 10));
  state.enterHandler(0, 5);
  state.heartbeat(0);
  state.setLoopLimit(0, 5);
  await delay(40);
  const overrun = state.overrun(0);
  assert.ok(overrun >= 25 && overrun < 1_000, `overrun ${overrun}`);
  state.leaveHandler(0);
  const blocked = state.loopOverrun(0);
  assert.ok(blocked >= 25 && blocked < 1_000, `loop overrun ${blocked}`);
});

test('a handler entered with another limit or route publishes them, though repeated ones are not stored again', async () => {
  const buffer = createIsolateState(1);
  const writer = new IsolateState(buffer, Date.now());
  const watchdog = new IsolateState(buffer, Date.now()); // another thread's view of the same words
  writer.enterHandler(0, 10_000, 3);
  writer.leaveHandler(0);
  writer.enterHandler(0, 10_000, 3);
  assert.equal(watchdog.busyRoute(0), 3);
  writer.leaveHandler(0);
  assert.equal(watchdog.busyRoute(0), 3, 'the route stays until another one is entered');
  writer.enterHandler(0, 10, 5);
  assert.equal(watchdog.busyRoute(0), 5, 'the new route');
  await delay(40);
  assert.ok(watchdog.overrun(0) >= 25, `judged by the new limit of 10 ms: overrun ${watchdog.overrun(0)}`);
  writer.leaveHandler(0);
  assert.equal(watchdog.overrun(0), 0);
});
