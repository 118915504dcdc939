/**
 * The pinned worker's pool client against the reading end of its rings, on one thread: queued
 * writes are never forgotten, and generations keep stale news from breaking a link.
 */

import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { decodeRequest, recordKind, recordTaskId, RecordKind, type PoolRequest } from '../../src/executor/codec.ts';
import { createDoorbells } from '../../src/executor/doorbell.ts';
import { RING_DATA, RING_HEAD, RING_TAIL } from '../../src/executor/layout.ts';
import { PoolClient } from '../../src/executor/pool-client.ts';
import { createIsolateState } from '../../src/executor/isolate-state.ts';
import { RingConsumer } from '../../src/executor/ring.ts';
import { createRingPair, type RingPair } from '../../src/executor/topology.ts';

function client(pair: RingPair, generation = 0): PoolClient {
  return new PoolClient({
    pinnedIndex: 0,
    rings: [pair],
    available: [true],
    generations: [generation],
    doorbells: createDoorbells(2),
    pinnedCount: 1,
    state: createIsolateState(1),
    epoch: Date.now(),
    slots: [1],
    queueLimit: 1_000,
    spinCapUs: 0,
  });
}

const request = (path: string, body = new Uint8Array(0)): PoolRequest => ({
  taskId: 0,
  routeId: 0,
  method: 'GET',
  path,
  rawQuery: '',
  params: {},
  headers: {},
  body,
});

test('a request queued behind a full ring is written once the isolate drains, even if nothing is answered', async () => {
  const pair = createRingPair(1024);
  const pool = client(pair);
  const isolate = new RingConsumer(pair.request);
  // The isolate is busy and reads nothing: requests time out and leave REQUEST + CANCEL records.
  const used = (): number => {
    const control = new Int32Array(pair.request, 0, RING_DATA >> 2);
    return ((control[RING_TAIL >> 2] as number) - (control[RING_HEAD >> 2] as number)) >>> 0;
  };
  for (let n = 0; used() + 64 <= 1024; n++) {
    const result = await pool.submit(request(`/t${n}`), 5);
    assert.equal(!result.ok && result.error.kind, 'timeout');
  }
  // A request with no timeout arrives while the ring is full: it waits in the client.
  void pool.submit(request('/final'), 0);
  // The isolate drains everything; every task was cancelled, so it answers nothing, and the
  // client's only chance to notice the room is its own retry.
  isolate.take(() => {});
  const paths: string[] = [];
  for (let i = 0; i < 100 && paths.length === 0; i++) {
    await delay(5);
    isolate.take((bytes, offset, length) => {
      if (recordKind(bytes, offset) === RecordKind.REQUEST) paths.push(decodeRequest(bytes, offset, length).path);
    });
  }
  assert.deepEqual(paths, ['/final']);
});

test('a repeated "up" for the generation already linked changes nothing; a newer one fails the old tasks', async () => {
  const pair = createRingPair(4096);
  const pool = client(pair, 3);
  const isolate = new RingConsumer(pair.request);
  const body = new Uint8Array(6000).fill(7); // more than one record: head now, chunks queued
  const answer = pool.submit(request('/big', body), 0);
  pool.isolateUp(0, 3, pair); // the same generation again: must not drop the queued chunks
  const kinds: number[] = [];
  for (let i = 0; i < 100 && !kinds.includes(RecordKind.REQUEST_BODY); i++) {
    isolate.take((bytes, offset) => {
      kinds.push(recordKind(bytes, offset));
      assert.equal(recordTaskId(bytes, offset), 1);
    });
    await delay(5);
  }
  assert.equal(kinds[0], RecordKind.REQUEST);
  assert.ok(kinds.includes(RecordKind.REQUEST_BODY), 'the body chunks still went out');
  assert.equal(pool.outstanding, 1);

  pool.isolateUp(0, 4, createRingPair(4096)); // a replacement: the task on generation 3 is lost
  const result = await answer;
  assert.equal(!result.ok && result.error.kind, 'unavailable');
  assert.equal(pool.outstanding, 0);
});

test('"down" for an older generation than the linked one is ignored', async () => {
  const pair = createRingPair(4096);
  const pool = client(pair, 5);
  const pending = pool.submit(request('/x'), 50);
  pool.isolateDown(0, 4);
  const result = await pending;
  // Not "unavailable": the link survived, and the task simply timed out unanswered.
  assert.equal(!result.ok && result.error.kind, 'timeout');
  pool.isolateDown(0, 5);
  // With no isolate up, a request waits for one, within its timeout.
  const after = await pool.submit(request('/y'), 50);
  assert.equal(!after.ok && after.error.kind, 'timeout', 'no isolate is linked any more');
});

test('requests that arrive while every isolate is being replaced go to the first one back', async () => {
  const pair = createRingPair(4096);
  const pool = client(pair, 1);
  pool.isolateDown(0, 1);
  void pool.submit(request('/waited'), 5_000);
  const fresh = createRingPair(4096);
  const isolate = new RingConsumer(fresh.request);
  assert.equal(isolate.hasRecords(), false);
  pool.isolateUp(0, 2, fresh);
  const paths: string[] = [];
  isolate.take((bytes, offset, length) => paths.push(decodeRequest(bytes, offset, length).path));
  assert.deepEqual(paths, ['/waited']);
  assert.equal(pool.outstanding, 1);
  pool.isolateDown(0, 2); // settles the task, so no timer outlives the test
});

test('the rest of a body goes out while the client is parked waiting for another answer', async () => {
  const pair = createRingPair(16 * 1024);
  const pool = client(pair);
  const isolate = new RingConsumer(pair.request);
  // One task the isolate never answers: the client parks on its doorbell, waiting for it.
  const held = pool.submit(request('/held'), 0);
  await delay(20);
  // A body larger than one record: its head goes at once, the rest in chunks.
  const body = new Uint8Array(12_000).fill(3);
  void pool.submit(request('/big', body), 0);
  let received = 0;
  const kinds: number[] = [];
  for (let i = 0; i < 100 && received < body.byteLength; i++) {
    isolate.take((bytes, offset, length) => {
      const kind = recordKind(bytes, offset);
      kinds.push(kind);
      if (kind === RecordKind.REQUEST) {
        const head = decodeRequest(bytes, offset, length);
        if (head.path === '/big') received += head.received;
      } else if (kind === RecordKind.REQUEST_BODY) {
        received += length - 8;
      }
    });
    await delay(5);
  }
  assert.ok(kinds.includes(RecordKind.REQUEST_BODY), 'body chunks were written');
  assert.equal(received, body.byteLength, 'the whole body reached the ring with nothing answered');
  pool.isolateDown(0, 0);
  assert.equal(!(await held).ok, true);
});
