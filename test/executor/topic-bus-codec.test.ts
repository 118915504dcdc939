/**
 * The topic bus records: which records a message becomes, and byte-exact round trips through
 * real rings between two buses — a string arrives as the same string, bytes as a Buffer with
 * the same bytes — for text and binary of every size that matters: empty, one byte, around the
 * largest record, and 1 MiB on the default ring.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { createRing, RingConsumer, RingProducer } from '../../src/executor/ring.ts';
import { TopicBus } from '../../src/executor/topic-bus.ts';
import {
  chunkOffset,
  emptyHead,
  fitsOneRecord,
  readHead,
  recordFlags,
  recordKind,
  TOPIC_FLAG_MORE,
  TOPIC_FLAG_TEXT,
  TOPIC_PREFIX,
  TopicMessage,
  TopicRecordKind,
  writeChunk,
  writeHead,
  writeWhole,
} from '../../src/executor/topic-codec.ts';
import { DEFAULT_TOPIC_RING_SIZE, TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { pattern } from './ring-support.ts';
import { Inbox } from './topic-bus-support.ts';

let open: TopicBus[] = [];
afterEach(() => {
  for (const bus of open) bus.close();
  open = [];
});

/** A publisher (pinned 0) and a subscriber (pinned 1, subscribed to `topics`) on rings of `ringSize`. */
function link(ringSize: number, topics: readonly string[]) {
  const topology = new TopicBusTopology(2, 0, { ringSize, buckets: 64 });
  const inbox = new Inbox();
  const publisher = new TopicBus(topology.forPinned(0), { deliver: () => {} });
  const subscriber = new TopicBus(topology.forPinned(1), { deliver: inbox.deliver });
  open.push(publisher, subscriber);
  for (const topic of topics) subscriber.subscribed(topic);
  return { publisher, subscriber, inbox };
}

/** Every record waiting in the ring: kind, flags, payload length, and the u32 at byte 4 (dataBytes or chunk offset). */
function records(consumer: RingConsumer): Array<{ kind: number; flags: number; length: number; word: number }> {
  const out: Array<{ kind: number; flags: number; length: number; word: number }> = [];
  consumer.take((bytes, offset, length) => {
    out.push({ kind: recordKind(bytes, offset), flags: recordFlags(bytes, offset), length, word: chunkOffset(bytes, offset) });
  });
  return out;
}

function assertSame(actual: string | Buffer | undefined, expected: string | Uint8Array, what: string): void {
  if (typeof expected === 'string') {
    assert.equal(typeof actual, 'string', `${what}: a string arrives as a string`);
    assert.ok(actual === expected, `${what}: the same ${expected.length} UTF-16 units`);
  } else {
    assert.ok(Buffer.isBuffer(actual), `${what}: bytes arrive as a Buffer`);
    assert.equal(actual.byteLength, expected.byteLength, `${what}: length`);
    assert.ok(actual.equals(expected), `${what}: the same bytes`);
  }
}

describe('topic records', () => {
  const topic = 'chat/é';
  const topicBytes = Buffer.byteLength(topic);

  test('a message up to the largest record is one MESSAGE record; one byte more takes a CHUNK', () => {
    const buffer = createRing(4096);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);
    const limit = producer.maxPayload - TOPIC_PREFIX - topicBytes;
    assert.equal(fitsOneRecord(producer, topicBytes, limit), true);
    assert.equal(fitsOneRecord(producer, topicBytes, limit + 1), false);

    assert.equal(writeWhole(producer, topic, topicBytes, pattern(1, limit), limit), true);
    producer.publish();
    const head = emptyHead();
    let seen = 0;
    consumer.take((bytes, offset, length) => {
      readHead(bytes, offset, length, head);
      assert.equal(length, producer.maxPayload);
      assert.equal(bytes.subarray(head.dataStart, head.dataEnd).equals(pattern(1, limit)), true);
      seen++;
    });
    assert.equal(seen, 1);
    assert.deepEqual({ topic: head.topic, text: head.text, more: head.more, dataBytes: head.dataBytes }, { topic, text: false, more: false, dataBytes: limit });

    const message = new TopicMessage(topic, topicBytes, pattern(2, limit + 1), limit + 1);
    const inline = writeHead(producer, message);
    assert.equal(inline, limit);
    assert.equal(writeChunk(producer, message.bytes(), inline), limit + 1);
    producer.publish();
    assert.deepEqual(records(consumer), [
      { kind: TopicRecordKind.MESSAGE, flags: TOPIC_FLAG_MORE, length: producer.maxPayload, word: limit + 1 },
      { kind: TopicRecordKind.CHUNK, flags: 0, length: TOPIC_PREFIX + 1, word: limit },
    ]);
  });

  test('a text message says so, and its data is its UTF-8', () => {
    const buffer = createRing(4096);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);
    const text = 'naïve – 中文 😀';
    assert.equal(writeWhole(producer, topic, topicBytes, text, Buffer.byteLength(text)), true);
    producer.publish();
    consumer.take((bytes, offset, length) => {
      assert.equal(recordFlags(bytes, offset), TOPIC_FLAG_TEXT);
      const head = emptyHead();
      readHead(bytes, offset, length, head);
      assert.equal(bytes.subarray(head.dataStart, head.dataEnd).equals(Buffer.from(text)), true);
    });
  });

  test('a TopicMessage keeps its own copy of the bytes it was given', () => {
    const data = Buffer.from([1, 2, 3]);
    const message = new TopicMessage('t', 1, data, 3);
    data[0] = 9;
    assert.deepEqual([...message.bytes()], [1, 2, 3]);
  });
});

describe('round trips between two buses', () => {
  const SMALL = 4096;
  const topic = 'room:1';
  const recordLimit = SMALL / 2 - 8 - TOPIC_PREFIX - Buffer.byteLength(topic);

  const cases: Array<readonly [string, string | Uint8Array]> = [
    ['ASCII text', 'hello, world'],
    ['non-ASCII text (2-, 3- and 4-byte UTF-8)', 'héllo wörld – 中文字 – 😀👍🏽 – Ω'],
    ['empty text', ''],
    ['empty bytes', new Uint8Array(0)],
    ['one byte', Uint8Array.of(0xff)],
    ['bytes one short of the record limit', pattern(3, recordLimit - 1)],
    ['bytes at the record limit', pattern(4, recordLimit)],
    ['bytes one over the record limit', pattern(5, recordLimit + 1)],
    ['bytes of several records', pattern(6, recordLimit * 5 + 17)],
    ['text at the record limit', 'x'.repeat(recordLimit)],
    ['text one byte over the record limit', 'x'.repeat(recordLimit - 1) + 'é'],
    ['text of several records with characters across chunk ends', '€😀a'.repeat(3000)],
    ['a Uint8Array view into a larger buffer', new Uint8Array(pattern(7, 3000).buffer, 1000, 1500)],
  ];

  test('every case on a 4 KiB ring, in order', async () => {
    const { publisher, subscriber, inbox } = link(SMALL, [topic]);
    for (const [, data] of cases) assert.equal(publisher.publish(topic, data), 1);
    await inbox.reach(cases.length);
    cases.forEach(([what, data], i) => {
      assert.equal(inbox.items[i]?.[0], topic);
      assertSame(inbox.items[i]?.[1], data, what);
    });
    assert.equal(publisher.dropped, 0);
    assert.equal(subscriber.incomplete, 0);
  });

  test('1 MiB of bytes and 1 MiB of text on the default ring', async () => {
    const { publisher, inbox } = link(DEFAULT_TOPIC_RING_SIZE, ['big']);
    const bytes = pattern(8, 1024 * 1024);
    const text = 'ab€'.repeat((1024 * 1024) / 5);
    publisher.publish('big', bytes);
    publisher.publish('big', text);
    await inbox.reach(2);
    assertSame(inbox.items[0]?.[1], bytes, '1 MiB of bytes');
    assertSame(inbox.items[1]?.[1], text, '1 MiB of text');
  });

  test('what the publisher changes in its buffer after publish() does not change what arrives', async () => {
    const { publisher, inbox } = link(SMALL, [topic]);
    const data = pattern(9, SMALL * 3);
    const copy = Buffer.from(data);
    publisher.publish(topic, data);
    data.fill(0);
    await inbox.reach(1);
    assertSame(inbox.items[0]?.[1], copy, 'a message larger than one record');
  });

  test('what deliver is given is its own: it does not change as the ring is reused', async () => {
    const { publisher, inbox } = link(SMALL, [topic]);
    publisher.publish(topic, pattern(10, 100));
    await inbox.reach(1);
    for (let i = 0; i < 50; i++) publisher.publish(topic, pattern(11 + i, 1000));
    await inbox.reach(51);
    assertSame(inbox.items[0]?.[1], pattern(10, 100), 'the first message after the ring went round');
  });

  test('a deliver that throws does not stop the reading: the error goes to onError', async () => {
    const topology = new TopicBusTopology(2, 0, { ringSize: SMALL, buckets: 64 });
    const inbox = new Inbox();
    const errors: unknown[] = [];
    const publisher = new TopicBus(topology.forPinned(0), { deliver: () => {} });
    const subscriber = new TopicBus(topology.forPinned(1), {
      deliver: (t, data) => {
        inbox.deliver(t, data);
        if (data === 'throw') throw new Error('from deliver');
      },
      onError: (error) => errors.push(error),
    });
    open.push(publisher, subscriber);
    subscriber.subscribed(topic);
    for (const data of ['one', 'throw', 'three']) publisher.publish(topic, data);
    await inbox.reach(3);
    assert.deepEqual(inbox.items.map(([, data]) => data), ['one', 'throw', 'three']);
    assert.deepEqual(errors.map((error) => (error as Error).message), ['from deliver']);
  });

  test('property: any topics and data, text or bytes, arrive exactly, in order', async () => {
    const topicArb = fc.string({ unit: 'grapheme', maxLength: 12 });
    const dataArb = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 3000 }),
      fc.integer({ min: 0, max: 12_000 }).chain((n) => fc.integer({ min: 0, max: 2 ** 31 }).map((seed) => pattern(seed, n) as Uint8Array)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(topicArb, dataArb), { minLength: 1, maxLength: 12 }), async (messages) => {
        const { publisher, inbox } = link(SMALL, [...new Set(messages.map(([t]) => t))]);
        for (const [t, data] of messages) publisher.publish(t, data);
        await inbox.reach(messages.length);
        messages.forEach(([t, data], i) => {
          assert.equal(inbox.items[i]?.[0], t);
          assertSame(inbox.items[i]?.[1], data, `message ${i}`);
        });
        for (const bus of open) bus.close();
        open = [];
      }),
      { numRuns: 150, interruptAfterTimeLimit: 10_000 },
    );
  });
});
