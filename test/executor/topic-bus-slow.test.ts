/**
 * A slow subscriber never blocks its publisher. The subscriber's thread first stops reading
 * altogether (blocked in Atomics.wait until the test opens a gate) while the publisher
 * publishes many times what its ring and outbox hold, then reads, slowly, while the publisher
 * publishes as much again. Whatever the timing: the publisher finished the first stretch while
 * the subscriber could not read a single record (had publish() waited for room, the test would
 * never get past it), delivered + dropped = published, what arrives is in order with no
 * duplicates, and the newest message is never the one dropped.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { Peer } from './topic-bus-peers.ts';
import { sourceKey } from './topic-bus-support.ts';

const STRETCH = 6000;

const peers: Peer[] = [];
after(async () => {
  await Promise.all(peers.map((p) => p.kill()));
});

test('a subscriber that stops reading: publish() returns, the oldest are dropped and counted exactly', { timeout: 300_000 }, async (t) => {
  const topology = new TopicBusTopology(2, 0, { ringSize: 64 * 1024 });
  const options = { outboxMessages: 200, outboxBytes: 256 * 1024 };
  const common = { options, publishOn: ['t'], incarnation: 0, bigEvery: 0 };
  const publisher = new Peer('publisher', { ...common, bus: topology.forPinned(0), subscribe: [] });
  const subscriber = new Peer('subscriber', { ...common, bus: topology.forPinned(1), subscribe: ['t'] });
  peers.push(publisher, subscriber);
  await Promise.all(peers.map((p) => p.next('ready')));

  const gate = new SharedArrayBuffer(4);
  const blocking = subscriber.next('blocking');
  subscriber.send({ type: 'block', gate });
  await blocking;
  const first = await publisher.ask({ type: 'publish', count: STRETCH, batch: 50, end: false }, 'published');
  assert.equal(first.seq, STRETCH, 'every publish() returned while the subscriber read nothing');
  assert.ok(first.dropped > 0, `the stretch overflowed ring and outbox (${first.dropped} dropped)`);
  assert.ok(first.waiting > 0 && first.waiting <= 201, `the outbox holds its bound (${first.waiting} waiting)`);

  Atomics.store(new Int32Array(gate), 0, 1);
  Atomics.notify(new Int32Array(gate), 0);
  subscriber.send({ type: 'slow', us: 40 });
  const second = await publisher.ask({ type: 'publish', count: STRETCH, batch: 50, end: true }, 'published');
  const report = await subscriber.ask({ type: 'ends', from: [0] }, 'ends');

  const key = sourceKey(0, 0);
  const delivered = report.received[key] ?? 0;
  assert.deepEqual(report.errors, [], 'in order, no duplicates, every checksum good');
  assert.equal(second.published, 2 * STRETCH + 1, 'the END message included');
  assert.equal(delivered + second.dropped, 2 * STRETCH, 'delivered + dropped = published');
  assert.equal(second.droppedTo[1], second.dropped);
  assert.equal(report.lastSeq[key], 2 * STRETCH - 1, 'the newest message arrived');
  assert.equal(report.unwanted + report.incomplete, 0);
  t.diagnostic(`published ${2 * STRETCH}: delivered ${delivered}, dropped ${second.dropped} (${first.dropped} in the blocked stretch)`);
  await Promise.all(peers.map((p) => p.close()));
});
