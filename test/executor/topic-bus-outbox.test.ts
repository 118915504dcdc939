/**
 * The publisher's outboxes, on one thread so that the subscriber reads exactly when the test
 * lets it: a full ring never blocks publish(); the outbox holds exactly its bound; past it the
 * oldest waiting messages are dropped and counted per destination; a message already begun is
 * finished; what waits is written in order once there is room; a message larger than the
 * outbox is refused with an error that names the limit.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { TopicBus, type TopicBusOptions } from '../../src/executor/topic-bus.ts';
import { topicBucket } from '../../src/executor/topic-interest.ts';
import { TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { pattern } from './ring-support.ts';
import { Inbox, turns } from './topic-bus-support.ts';

const RING = 4096;
/** 4 record header + 8 prefix + 1 topic byte + 51 data bytes = 64: exactly 64 records fill the ring. */
const DATA = 51;
const PER_RING = RING / 64;
/** What one message counts against outboxBytes: topic + data. */
const SIZE = 1 + DATA;

let open: TopicBus[] = [];
afterEach(() => {
  for (const bus of open) bus.close();
  open = [];
});

function setup(options: TopicBusOptions, pinned = 2) {
  const topology = new TopicBusTopology(pinned, 0, { ringSize: RING, buckets: 64 });
  const publisher = new TopicBus(topology.forPinned(0), { ...options, deliver: () => {} });
  const inboxes = Array.from({ length: pinned }, () => new Inbox());
  const subscribers = inboxes.slice(1).map((inbox, i) => new TopicBus(topology.forPinned(i + 1), { deliver: inbox.deliver }));
  open.push(publisher, ...subscribers);
  return { topology, publisher, subscribers, inboxes };
}

/** Message `n`: DATA bytes that carry n. */
const numbered = (n: number): Buffer => pattern(n, DATA);
const numberOf = (data: string | Buffer | undefined): number => (data as Buffer).readUInt32LE(0);

/** Publishes messages [from, to) on `topic` in this one turn: the subscriber, on this thread, reads none of them meanwhile. */
function burst(bus: TopicBus, topic: string, from: number, to: number): void {
  for (let n = from; n < to; n++) assert.equal(bus.publish(topic, numbered(n)), 1);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('a full ring and its outbox', () => {
  test('the outbox holds exactly outboxMessages; past that the oldest are dropped, and the newest arrive', async () => {
    const { publisher, subscribers, inboxes } = setup({ outboxMessages: 10 });
    subscribers[0]?.subscribed('t');
    burst(publisher, 't', 0, 200);
    assert.equal(publisher.waiting, 10);
    assert.equal(publisher.dropped, 200 - PER_RING - 10);
    assert.equal(publisher.droppedTo(1), 200 - PER_RING - 10);
    await inboxes[1]?.reach(PER_RING + 10);
    await turns(5);
    assert.deepEqual(inboxes[1]?.items.map(([, data]) => numberOf(data)), [...range(0, PER_RING), ...range(190, 200)]);
    assert.equal(publisher.waiting, 0);
    assert.equal(publisher.dropped + (inboxes[1]?.items.length ?? 0), 200, 'delivered + dropped = published');
  });

  test('the outbox holds exactly outboxBytes of topic + data', async () => {
    for (const [bytes, kept] of [[10 * SIZE, 10], [10 * SIZE - 1, 9]] as const) {
      const { publisher, subscribers, inboxes } = setup({ outboxBytes: bytes });
      subscribers[0]?.subscribed('t');
      burst(publisher, 't', 0, 100);
      assert.equal(publisher.waiting, kept, `outboxBytes ${bytes}`);
      assert.equal(publisher.dropped, 100 - PER_RING - kept);
      await inboxes[1]?.reach(PER_RING + kept);
      assert.deepEqual(inboxes[1]?.items.slice(PER_RING).map(([, data]) => numberOf(data)), range(100 - kept, 100));
      for (const bus of open) bus.close();
      open = [];
    }
  });

  test('drops are counted per destination', async () => {
    const { publisher, subscribers, inboxes } = setup({ outboxMessages: 10 }, 3);
    // One-byte topics (records of 64 bytes) in different buckets.
    assert.notEqual(topicBucket('b', 64), topicBucket('q', 64));
    subscribers[0]?.subscribed('b');
    subscribers[1]?.subscribed('q');
    burst(publisher, 'b', 0, 100);
    burst(publisher, 'q', 0, 5);
    assert.deepEqual([publisher.droppedTo(0), publisher.droppedTo(1), publisher.droppedTo(2)], [0, 100 - PER_RING - 10, 0]);
    assert.equal(publisher.dropped, 100 - PER_RING - 10);
    await inboxes[2]?.reach(5);
    await inboxes[1]?.reach(PER_RING + 10);
  });

  test('a message whose first records are in the ring is finished, never dropped', async () => {
    const { publisher, subscribers, inboxes } = setup({ outboxMessages: 2 });
    subscribers[0]?.subscribed('t');
    const large = pattern(1_000_000, RING * 4);
    assert.equal(publisher.publish('t', large), 1);
    burst(publisher, 't', 0, 5);
    assert.equal(publisher.dropped, 3);
    assert.equal(publisher.waiting, 3, 'the large message and two small ones');
    await inboxes[1]?.reach(3);
    const items = inboxes[1]?.items ?? [];
    assert.ok((items[0]?.[1] as Buffer).equals(large));
    assert.deepEqual(items.slice(1).map(([, data]) => numberOf(data)), [3, 4]);
    assert.equal(subscribers[0]?.incomplete, 0);
  });

  test('what waits is written in order as the subscriber reads, with nothing dropped when the outbox is large enough', async () => {
    const { publisher, subscribers, inboxes } = setup({});
    subscribers[0]?.subscribed('t');
    let n = 0;
    for (let round = 0; round < 20; round++) {
      burst(publisher, 't', n, n + 150);
      n += 150;
      await turns(1);
    }
    await inboxes[1]?.reach(n);
    assert.deepEqual(inboxes[1]?.items.map(([, data]) => numberOf(data)), range(0, n));
    assert.equal(publisher.dropped, 0);
  });

  test('a renewed destination gets a fresh ring: what waited for the old one is dropped and counted, new messages arrive', async () => {
    const { topology, publisher, subscribers } = setup({ outboxMessages: 10 });
    subscribers[0]?.subscribed('t');
    burst(publisher, 't', 0, 100);
    subscribers[0]?.close(); // the old isolate is gone
    const updates = topology.renewPinned(1);
    assert.equal(publisher.peerRenewed(updates[0] as NonNullable<(typeof updates)[0]>), true);
    assert.equal(publisher.peerRenewed(updates[0] as NonNullable<(typeof updates)[0]>), false, 'a repeated update changes nothing');
    assert.equal(publisher.waiting, 0);
    assert.equal(publisher.dropped, 100 - PER_RING);
    const inbox = new Inbox();
    const replacement = new TopicBus(topology.forPinned(1), { deliver: inbox.deliver });
    open.push(replacement);
    replacement.subscribed('t');
    burst(publisher, 't', 100, 110);
    await inbox.reach(10);
    assert.deepEqual(inbox.items.map(([, data]) => numberOf(data)), range(100, 110));
  });
});

describe('limits', () => {
  test('a message larger than outboxBytes is refused with a RangeError naming the limit, subscribed or not', () => {
    const { publisher, subscribers } = setup({ outboxBytes: 1000 });
    assert.equal(publisher.publish('t', Buffer.alloc(999)), 0, 'topic + data = 1000 bytes is allowed');
    assert.throws(() => publisher.publish('t', Buffer.alloc(1000)), { name: 'RangeError', message: /outboxBytes = 1000 bytes, got 1001/ });
    assert.throws(() => publisher.publish('t', 'é'.repeat(500)), /outboxBytes = 1000/);
    subscribers[0]?.subscribed('t');
    assert.equal(publisher.publish('t', 'é'.repeat(499)), 1);
    assert.throws(() => publisher.publish('t', Buffer.alloc(1000)), RangeError);
  });

  test('a topic longer than a record can carry is refused', () => {
    const { publisher } = setup({});
    const limit = RING / 2 - 8 - 8;
    assert.equal(publisher.publish('x'.repeat(limit), 'ok'), 0);
    assert.throws(() => publisher.publish('x'.repeat(limit + 1), 'too long'), { name: 'RangeError', message: new RegExp(`at most ${limit} bytes`) });
    assert.throws(() => publisher.publish('é'.repeat(limit / 2 + 1), ''), RangeError);
  });

  test('options must be whole numbers, and a pinned bus needs deliver', () => {
    const topology = new TopicBusTopology(2, 0, { ringSize: RING, buckets: 64 });
    assert.throws(() => new TopicBus(topology.forPinned(0), { deliver: () => {}, outboxMessages: 0 }), RangeError);
    assert.throws(() => new TopicBus(topology.forPinned(0), { deliver: () => {}, outboxBytes: 1.5 }), RangeError);
    assert.throws(() => new TopicBus(topology.forPinned(0)), TypeError);
  });
});
