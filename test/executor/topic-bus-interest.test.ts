/**
 * The interest table: counters move only on a pinned isolate's first and last local subscriber
 * to a topic, each isolate in its own column; a renewal zeroes one column; a publisher writes
 * only to isolates whose counter is above 0; and a collision gives a false positive that the
 * receiver drops and counts, never a lost message.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { RingConsumer } from '../../src/executor/ring.ts';
import { TopicBus } from '../../src/executor/topic-bus.ts';
import { createInterestTable, InterestTable, topicBucket } from '../../src/executor/topic-interest.ts';
import { TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { Inbox, turns } from './topic-bus-support.ts';

const RING = 4096;
let open: TopicBus[] = [];
afterEach(() => {
  for (const bus of open) bus.close();
  open = [];
});

/** Pinned buses 0..P-1 (each with its inbox) and pooled buses on one topology. */
function buses(pinned: number, pooled: number, buckets: number) {
  const topology = new TopicBusTopology(pinned, pooled, { ringSize: RING, buckets });
  const inboxes = Array.from({ length: pinned }, () => new Inbox());
  const pinnedBuses = inboxes.map((inbox, k) => new TopicBus(topology.forPinned(k), { deliver: inbox.deliver }));
  const pooledBuses = Array.from({ length: pooled }, (_, j) => new TopicBus(topology.forPooled(j)));
  open.push(...pinnedBuses, ...pooledBuses);
  const table = new InterestTable(topology.interest, buckets, pinned);
  return { topology, inboxes, pinned: pinnedBuses, pooled: pooledBuses, table };
}

/** Whether anything was published on the ring from participant `x` to pinned `k`. */
function ringHasRecords(topology: TopicBusTopology, x: number, k: number): boolean {
  return new RingConsumer(topology.forPinned(k).incoming[x] as SharedArrayBuffer).hasRecords();
}

describe('topicBucket', () => {
  test('is within range, the same on every call, and spreads topics over the buckets', () => {
    const buckets = 1024;
    const load = new Array<number>(buckets).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const topic = `room:${i}`;
      const bucket = topicBucket(topic, buckets);
      assert.ok(bucket >= 0 && bucket < buckets);
      assert.equal(topicBucket(topic, buckets), bucket);
      load[bucket] = (load[bucket] as number) + 1;
    }
    const mean = 20_000 / buckets;
    assert.ok(Math.max(...load) < mean * 2.5, `the fullest bucket holds ${Math.max(...load)}, the mean is ${mean}`);
    assert.ok(Math.min(...load) > mean / 4, `the emptiest bucket holds ${Math.min(...load)}`);
    assert.equal(topicBucket('anything', 1), 0);
  });

  test('createInterestTable refuses a bucket count that is not a power of two', () => {
    assert.throws(() => createInterestTable(3, 2), RangeError);
    assert.throws(() => createInterestTable(0, 2), RangeError);
    assert.equal(createInterestTable(8, 3).byteLength, 8 * 3 * 4);
  });
});

describe('interest counters', () => {
  test('move on the first and last local subscriber only, in the subscribing isolate column', () => {
    const { pinned, table } = buses(3, 0, 64);
    const bucket = table.bucketOf('news');
    pinned[1]?.subscribed('news');
    pinned[1]?.subscribed('news');
    assert.deepEqual([0, 1, 2].map((k) => table.count(bucket, k)), [0, 1, 0], 'a repeat does not count twice');
    pinned[2]?.subscribed('news');
    assert.deepEqual([0, 1, 2].map((k) => table.count(bucket, k)), [0, 1, 1]);
    pinned[1]?.unsubscribed('news');
    pinned[1]?.unsubscribed('news');
    pinned[0]?.unsubscribed('news');
    assert.deepEqual([0, 1, 2].map((k) => table.count(bucket, k)), [0, 0, 1], 'unknown or repeated unsubscribes change nothing');
  });

  test('two topics in one bucket share a counter: it stays above 0 until both are gone', () => {
    const { pinned, table } = buses(2, 0, 1);
    pinned[1]?.subscribed('a');
    pinned[1]?.subscribed('b');
    assert.equal(table.count(0, 1), 2);
    pinned[1]?.unsubscribed('a');
    assert.equal(table.interested(0, 1), true);
    pinned[1]?.unsubscribed('b');
    assert.equal(table.interested(0, 1), false);
  });

  test('close() withdraws the isolate interest', () => {
    const { pinned, table } = buses(2, 0, 64);
    pinned[1]?.subscribed('a');
    pinned[1]?.subscribed('b');
    pinned[1]?.close();
    assert.equal(table.count(table.bucketOf('a'), 1) + table.count(table.bucketOf('b'), 1), 0);
  });

  test('renewPinned zeroes the renewed isolate column and no other', () => {
    const { topology, pinned, table } = buses(3, 0, 16);
    for (const [k, topic] of [[0, 'x'], [1, 'x'], [1, 'y'], [2, 'y']] as const) pinned[k]?.subscribed(topic);
    topology.renewPinned(1);
    const column = (k: number): number => Array.from({ length: 16 }, (_, b) => table.count(b, k)).reduce((a, b) => a + b, 0);
    assert.deepEqual([column(0), column(1), column(2)], [1, 0, 1]);
  });

  test('subscribing is for pinned isolates only', () => {
    const { pooled } = buses(1, 1, 16);
    assert.throws(() => pooled[0]?.subscribed('a'), TypeError);
  });
});

describe('publishing by interest', () => {
  test('a publisher writes only to isolates with a subscriber, from a pinned and from a pooled isolate', async () => {
    const { topology, inboxes, pinned, pooled, table } = buses(3, 1, 4096);
    assert.notEqual(table.bucketOf('a'), table.bucketOf('b'), 'the test needs two buckets');
    pinned[1]?.subscribed('a');
    pinned[2]?.subscribed('b');
    assert.equal(pinned[0]?.publish('a', 'to 1'), 1);
    assert.equal(pooled[0]?.publish('b', 'to 2'), 1);
    assert.equal(pooled[0]?.publish('c', 'to nobody'), 0);
    assert.equal(pinned[1]?.publish('a', 'not to itself'), 0);
    await inboxes[1]?.reach(1);
    await inboxes[2]?.reach(1);
    await turns(3);
    assert.deepEqual(inboxes[1]?.items, [['a', 'to 1']]);
    assert.deepEqual(inboxes[2]?.items, [['b', 'to 2']]);
    assert.deepEqual(inboxes[0]?.items, []);
    assert.equal(ringHasRecords(topology, 0, 2), false, 'nothing was written to the uninterested isolate');
    assert.equal(ringHasRecords(topology, 3, 1), false);
    assert.equal(pinned[1]?.unwanted, 0);
    assert.equal(pinned[2]?.unwanted, 0);
  });

  test('with one bucket every subscribed isolate looks interested: the receiver drops and counts what it does not want', async () => {
    const { topology, inboxes, pinned } = buses(3, 0, 1);
    pinned[1]?.subscribed('a');
    assert.equal(pinned[0]?.publish('b', 'collides with a'), 1, 'a false positive');
    assert.equal(pinned[0]?.publish('b', Buffer.alloc(RING * 3, 7)), 1, 'a false positive larger than a record');
    assert.equal(pinned[0]?.publish('a', 'wanted'), 1);
    await inboxes[1]?.reach(1);
    assert.deepEqual(inboxes[1]?.items, [['a', 'wanted']], 'only the wanted message is delivered');
    assert.equal(pinned[1]?.unwanted, 2);
    assert.equal(pinned[1]?.incomplete, 0, 'the chunks of an unwanted message are skipped, not taken for a broken one');
    assert.equal(ringHasRecords(topology, 0, 2), false, 'an isolate with no subscription at all still gets nothing');
  });

  test('no false negatives: on a 4-bucket table every subscribed isolate gets every message of its topics', async () => {
    const { inboxes, pinned, table } = buses(4, 0, 4);
    const topics = Array.from({ length: 40 }, (_, i) => `t${i}`);
    const wants = (k: number, i: number): boolean => (i * 7 + k * 3) % 5 < 2;
    for (let k = 1; k < 4; k++) topics.forEach((topic, i) => wants(k, i) && pinned[k]?.subscribed(topic));
    topics.forEach((topic, i) => pinned[0]?.publish(topic, topic));
    for (let k = 1; k < 4; k++) {
      const expected = topics.filter((_, i) => wants(k, i));
      await inboxes[k]?.reach(expected.length);
      await turns(3);
      assert.deepEqual(inboxes[k]?.items.map(([topic]) => topic), expected);
      const collisions = topics.filter((topic, i) => !wants(k, i) && table.interested(table.bucketOf(topic), k));
      assert.equal(pinned[k]?.unwanted, collisions.length, 'each unwanted arrival is a collision');
    }
  });
});
