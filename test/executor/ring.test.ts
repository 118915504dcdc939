/**
 * The SPSC byte ring on one thread: layout (alignment, wrap marker, never a split record),
 * full/empty accounting, reserve/commit, batch drain, and a model-based property test of random
 * push/drain interleavings. The cross-thread behaviour is in ring-stress.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RING_DATA, RING_HEAD, RING_TAIL, RING_WRAP_MARK } from '../../src/executor/layout.ts';
import { createRing, maxPayload, ringByteLength, RingConsumer, RingProducer } from '../../src/executor/ring.ts';
import { align8, makeRing, pattern } from './ring-support.ts';

/** Drains up to `max` records, copying each payload out (the ring may overwrite it afterwards). */
function drainCopies(consumer: RingConsumer, max?: number): Buffer[] {
  const out: Buffer[] = [];
  consumer.take((bytes, offset, length) => out.push(Buffer.from(bytes.subarray(offset, offset + length))), max);
  return out;
}

/** Ring bytes one record with a `size`-byte payload takes, header and padding included. */
const footprint = (size: number): number => align8(4 + size);

describe('createRing / maxPayload', () => {
  test('accepts powers of two from 64 to 2^30 and sizes the buffer as control lines + data', () => {
    for (const capacity of [64, 128, 4096, 65536, 2 ** 20]) {
      const buffer = createRing(capacity);
      assert.equal(buffer.byteLength, RING_DATA + capacity);
      assert.equal(ringByteLength(capacity), RING_DATA + capacity);
      const producer = new RingProducer(buffer);
      assert.equal(producer.capacity, capacity);
      assert.equal(producer.maxPayload, capacity / 2 - 8);
      assert.equal(maxPayload(capacity), capacity / 2 - 8);
    }
  });

  test('rejects capacities that are not a power of two in [64, 2^30]', () => {
    for (const capacity of [0, -64, 1, 32, 63, 96, 100, 1000, 64.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      assert.throws(() => createRing(capacity), RangeError, `capacity ${capacity}`);
    }
  });

  test('the ends refuse a buffer that does not hold a power-of-two data region', () => {
    for (const bytes of [0, RING_DATA, RING_DATA + 32, RING_DATA + 100]) {
      const buffer = new SharedArrayBuffer(bytes);
      assert.throws(() => new RingProducer(buffer), RangeError);
      assert.throws(() => new RingConsumer(buffer), RangeError);
    }
  });
});

describe('RingProducer / RingConsumer', () => {
  test('an empty ring has no records, drains nothing and is all free', () => {
    const { producer, consumer } = makeRing(256);
    assert.equal(consumer.hasRecords(), false);
    let visited = 0;
    assert.equal(consumer.take(() => void visited++), 0);
    assert.equal(visited, 0);
    assert.equal(producer.free, 256);
  });

  test('records come out in push order with their exact bytes, empty payloads included', () => {
    const { producer, consumer } = makeRing(1024);
    const payloads = [Buffer.from('a'), Buffer.alloc(0), Buffer.from([0, 255, 1, 254, 0]), pattern(7, 100), Buffer.from('naïve ☃ 𝄞')];
    for (const payload of payloads) assert.equal(producer.push(payload), true);
    assert.equal(consumer.hasRecords(), true);
    assert.deepEqual(drainCopies(consumer), payloads);
    assert.equal(consumer.hasRecords(), false);
    assert.deepEqual(drainCopies(consumer), []);
  });

  test('drain() shows each payload in place: the shared data region, 8-byte aligned records', () => {
    const { producer, consumer } = makeRing(256);
    const reserved: number[] = [];
    for (const size of [3, 0, 17]) {
      const at = producer.reserve(size);
      producer.bytes.fill(size + 1, at, at + size);
      producer.commit(size);
      producer.publish();
      reserved.push(at);
    }
    assert.deepEqual(reserved, [4, 12, 20]);
    const seen: Array<[number, number]> = [];
    consumer.take((bytes, offset, length) => {
      assert.equal(bytes, consumer.bytes);
      assert.ok(bytes.subarray(offset, offset + length).every((b) => b === length + 1));
      seen.push([offset, length]);
    });
    assert.deepEqual(seen, [
      [4, 3],
      [12, 0],
      [20, 17],
    ]);
  });

  test('reserve() refuses more than maxPayload, and negative sizes', () => {
    const { producer } = makeRing(256);
    assert.equal(producer.maxPayload, 120);
    assert.equal(producer.reserve(121), -1);
    assert.equal(producer.reserve(1e9), -1);
    assert.equal(producer.reserve(-1), -1);
    assert.equal(producer.push(new Uint8Array(121)), false);
    assert.equal(producer.free, 256, 'a refused reservation takes no space');
    assert.ok(producer.reserve(120) >= 0);
  });

  test('a maxPayload record fits an empty ring wherever the tail is', () => {
    const capacity = 256;
    for (let start = 0; start < capacity; start += 8) {
      const { producer, consumer } = makeRing(capacity, start);
      const payload = pattern(start, producer.maxPayload);
      assert.equal(producer.push(payload), true, `tail at ${start}`);
      assert.deepEqual(drainCopies(consumer), [payload]);
      assert.equal(producer.free, capacity);
    }
  });

  test('a full ring refuses a push, and takes it once the consumer has drained', () => {
    const { producer, consumer } = makeRing(256);
    let pushed = 0;
    while (producer.push(pattern(pushed, 28))) pushed++;
    assert.equal(pushed, 256 / footprint(28));
    assert.equal(producer.free, 0);
    assert.equal(producer.reserve(0), -1);
    assert.equal(producer.push(pattern(99, 28)), false);

    assert.deepEqual(drainCopies(consumer, 1), [pattern(0, 28)]);
    assert.equal(producer.free, footprint(28));
    assert.equal(producer.push(pattern(pushed, 28)), true);
    assert.equal(producer.push(pattern(99, 0)), false);

    assert.deepEqual(
      drainCopies(consumer),
      Array.from({ length: pushed }, (_, i) => pattern(i + 1, 28)),
    );
  });

  test('a record that does not fit before the end goes to offset 0 behind a wrap marker', () => {
    const capacity = 256;
    const { buffer, producer, consumer } = makeRing(capacity);
    // Four 46-byte payloads take 4 × align8(4 + 46) = 224 bytes: both counters end at 224.
    for (let i = 0; i < 4; i++) producer.push(pattern(i, 46));
    assert.equal(drainCopies(consumer).length, 4);
    const control = new Int32Array(buffer, 0, RING_DATA >> 2);
    assert.equal(control[RING_TAIL >> 2], 224);

    // 32 bytes remain before the end: a 40-byte record (36 payload) must wrap.
    const free = producer.free;
    const at = producer.reserve(36);
    assert.equal(at, 4, 'the payload starts right after the header at offset 0');
    pattern(50, 36).copy(producer.bytes, at);
    producer.commit(36);
    producer.publish();
    const words = new Uint32Array(buffer, RING_DATA, capacity >> 2);
    assert.equal(words[224 >> 2], RING_WRAP_MARK);
    assert.equal(producer.free, free - 32 - 40, 'the skipped tail end counts as used until drained');
    assert.equal(control[RING_TAIL >> 2], 224 + 32 + 40);

    const seen: number[] = [];
    consumer.take((bytes, offset, length) => {
      seen.push(offset);
      assert.deepEqual(Buffer.from(bytes.subarray(offset, offset + length)), pattern(50, 36));
    });
    assert.deepEqual(seen, [4]);
    assert.equal(producer.free, capacity);
  });

  test('a record that ends exactly at the end of the data region does not wrap', () => {
    const capacity = 256;
    const { producer, consumer } = makeRing(capacity, 224);
    assert.equal(producer.reserve(28), 228, '4 + 28 = 32 bytes: exactly what is left');
    producer.commit(28);
    producer.publish();
    assert.equal(producer.reserve(0), 4, 'the next record starts at offset 0');
    producer.commit(0);
    producer.publish();
    assert.equal(drainCopies(consumer).length, 2);
  });

  test('drain(visit, max) visits at most max records and frees exactly those', () => {
    const { producer, consumer } = makeRing(1024);
    for (let i = 0; i < 10; i++) producer.push(pattern(i, 20));
    const freeAtStart = producer.free;
    assert.equal(consumer.take(() => {}, 0), 0);
    assert.deepEqual(drainCopies(consumer, 3), [0, 1, 2].map((i) => pattern(i, 20)));
    assert.equal(producer.free, freeAtStart + 3 * footprint(20));
    assert.deepEqual(drainCopies(consumer, 3), [3, 4, 5].map((i) => pattern(i, 20)));
    assert.deepEqual(drainCopies(consumer, 3), [6, 7, 8].map((i) => pattern(i, 20)));
    assert.equal(consumer.hasRecords(), true);
    assert.deepEqual(drainCopies(consumer, 3), [pattern(9, 20)]);
    assert.equal(consumer.hasRecords(), false);
  });

  test('drain(visit, max) stops at max even when a wrap marker is next', () => {
    const { producer, consumer } = makeRing(64, 32);
    producer.push(pattern(1, 20)); // 24 bytes at 32..56; 8 bytes left before the end
    producer.push(pattern(2, 20)); // wraps to 0
    assert.deepEqual(drainCopies(consumer, 1), [pattern(1, 20)]);
    assert.equal(consumer.hasRecords(), true);
    assert.deepEqual(drainCopies(consumer, 1), [pattern(2, 20)]);
    assert.equal(producer.free, 64);
  });

  test('commit() with a smaller size than reserved publishes and uses only that much', () => {
    const { producer, consumer } = makeRing(256);
    const at = producer.reserve(100);
    assert.ok(at >= 0);
    producer.bytes.write('hello', at, 'latin1');
    producer.commit(5);
    producer.publish();
    assert.equal(producer.free, 256 - footprint(5));
    producer.push(Buffer.from('next'));
    assert.deepEqual(drainCopies(consumer), [Buffer.from('hello'), Buffer.from('next')]);
  });

  test('commit() without a matching reservation throws and publishes nothing', () => {
    const { producer, consumer } = makeRing(256);
    assert.throws(() => producer.commit(0), RangeError);
    producer.reserve(8);
    assert.throws(() => producer.commit(9), RangeError, 'more than reserved');
    assert.throws(() => producer.commit(-1), RangeError);
    assert.equal(consumer.hasRecords(), false);
    producer.commit(8);
    producer.publish();
    assert.throws(() => producer.commit(8), RangeError, 'a reservation is committed once');
    assert.equal(drainCopies(consumer).length, 1);
  });

  test('free counts header, padding and wrap gaps, and grows as the consumer drains', () => {
    const { producer, consumer } = makeRing(128);
    assert.equal(producer.free, 128);
    producer.push(new Uint8Array(1)); // 8
    assert.equal(producer.free, 120);
    producer.push(new Uint8Array(4)); // 8
    assert.equal(producer.free, 112);
    producer.push(new Uint8Array(5)); // 16
    assert.equal(producer.free, 96);
    producer.push(new Uint8Array(56)); // 64, up to 96
    assert.equal(producer.free, 32);
    consumer.take(() => {}, 3);
    assert.equal(producer.free, 64, 'the producer sees the consumer’s head at once');
    consumer.take(() => {});
    assert.equal(producer.free, 128);
    // 32 bytes are left before the end; a 40-byte record skips them and goes to offset 0.
    producer.push(new Uint8Array(36));
    assert.equal(producer.free, 128 - 32 - 40);
    consumer.take(() => {});
    assert.equal(producer.free, 128);
  });

  test('if visit throws, the record it threw on and those before it are consumed', () => {
    const { producer, consumer } = makeRing(256);
    for (let i = 0; i < 4; i++) producer.push(pattern(i, 8));
    let calls = 0;
    assert.throws(
      () =>
        consumer.take(() => {
          if (++calls === 2) throw new Error('visitor failed');
        }),
      /visitor failed/,
    );
    assert.deepEqual(drainCopies(consumer), [pattern(2, 8), pattern(3, 8)]);
  });

  test('byte counters crossing 2^32 do not disturb order or accounting', () => {
    const capacity = 256;
    const { buffer, producer, consumer } = makeRing(capacity, 2 ** 32 - 3 * capacity);
    let serial = 0;
    let next = 0;
    for (let round = 0; round < 40; round++) {
      const sizes = [0, 13, 60, producer.maxPayload, 7];
      for (const size of sizes) {
        assert.equal(producer.push(pattern(serial++, size)), true);
        for (const got of drainCopies(consumer)) assert.deepEqual(got, pattern(next, got.length), `record ${next++}`);
      }
    }
    assert.equal(next, serial);
    assert.equal(producer.free, capacity);
    const control = new Int32Array(buffer, 0, RING_DATA >> 2);
    assert.ok((control[RING_TAIL >> 2] as number) >= 0, 'the tail counter went past 2^32 (negative as i32 before)');
  });
});

// ─── property: random interleavings against a model ─────────────────────────────────────────

/**
 * The ring as its header comment specifies it: byte counters mod 2^32, records of
 * align8(4 + size) bytes that are never split, a wrap gap when a record does not fit before the
 * end. Predicts whether each push succeeds and where its payload lands.
 */
class ModelRing {
  readonly capacity: number;
  head: number;
  tail: number;
  /** Records in flight: serial, size, payload offset, and the tail count just after the record. */
  readonly queue: Array<{ serial: number; size: number; offset: number; end: number }> = [];

  constructor(capacity: number, start: number) {
    this.capacity = capacity;
    this.head = start >>> 0;
    this.tail = start >>> 0;
  }

  get used(): number {
    return (this.tail - this.head) >>> 0;
  }

  /** Bytes before the end of the data region from the tail. */
  get untilEnd(): number {
    return this.capacity - (this.tail % this.capacity);
  }

  /** Payload offset where a push of `size` bytes goes, or -1 if the ring must refuse it. */
  place(size: number): { offset: number; skip: number } | null {
    if (size > this.capacity / 2 - 8) return null;
    const need = align8(4 + size);
    const skip = need <= this.untilEnd ? 0 : this.untilEnd;
    if (this.capacity - this.used < skip + need) return null;
    return { offset: (skip > 0 ? 0 : this.tail % this.capacity) + 4, skip };
  }

  push(serial: number, size: number, skip: number, offset: number): void {
    this.tail = (this.tail + skip + align8(4 + size)) >>> 0;
    this.queue.push({ serial, size, offset, end: this.tail });
  }

  take(max: number): Array<{ serial: number; size: number; offset: number }> {
    const taken = this.queue.splice(0, Math.min(max, this.queue.length));
    const last = taken.at(-1);
    if (last !== undefined) this.head = last.end;
    return taken;
  }
}

type Op =
  | { readonly op: 'push'; readonly size: number }
  /** A push sized to end `delta` bytes from the end of the data region (wrap-point bias). */
  | { readonly op: 'pushNearEnd'; readonly delta: number }
  /** reserve(size), then commit(size - less). */
  | { readonly op: 'reserveCommit'; readonly size: number; readonly less: number }
  | { readonly op: 'drain'; readonly max: number };

function opArbitrary(capacity: number): fc.Arbitrary<Op> {
  const max = maxPayload(capacity);
  const size = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 24 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max }) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1, 3, 4, 5, max - 8, max - 7, max - 1, max) },
    { weight: 1, arbitrary: fc.integer({ min: max + 1, max: max + 16 }) },
  );
  return fc.oneof(
    { weight: 5, arbitrary: size.map((s) => ({ op: 'push' as const, size: s })) },
    { weight: 2, arbitrary: fc.integer({ min: -12, max: 12 }).map((delta) => ({ op: 'pushNearEnd' as const, delta })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max }), fc.integer({ min: 0, max: 16 }))
        .map(([s, less]) => ({ op: 'reserveCommit' as const, size: s, less: Math.min(less, s) })),
    },
    {
      weight: 3,
      arbitrary: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(Number.POSITIVE_INFINITY)).map((m) => ({ op: 'drain' as const, max: m })),
    },
  );
}

const scenario = fc
  .constantFrom(64, 128, 256, 1024, 4096)
  .chain((capacity) =>
    fc.record({
      capacity: fc.constant(capacity),
      start: fc.oneof(
        fc.constant(0),
        fc.constant(2 ** 32 - capacity),
        fc.constant(2 ** 31 - 8),
        fc.integer({ min: 0, max: 2 ** 29 - 1 }).map((n) => n * 8),
      ),
      ops: fc.array(opArbitrary(capacity), { minLength: 1, maxLength: 120 }),
    }),
  );

test('property: random pushes and drains match the model (order, no loss or duplicates, exact bytes, placement)', () => {
  fc.assert(
    fc.property(scenario, ({ capacity, start, ops }) => {
      const { producer, consumer } = makeRing(capacity, start);
      const model = new ModelRing(capacity, start);
      let serial = 0;

      const compare = (
        expected: ReadonlyArray<{ serial: number; size: number; offset: number }>,
        got: ReadonlyArray<{ offset: number; bytes: Buffer }>,
      ): void => {
        assert.equal(got.length, expected.length, 'records drained');
        expected.forEach((record, i) => {
          const actual = got[i];
          assert.ok(actual !== undefined);
          assert.equal(actual.offset, record.offset, `record ${record.serial} offset`);
          assert.ok(actual.offset + actual.bytes.length <= capacity, 'a payload never crosses the end');
          assert.deepEqual(actual.bytes, pattern(record.serial, record.size), `record ${record.serial} bytes`);
        });
      };

      for (const op of ops) {
        if (op.op === 'drain') {
          const expected = model.take(op.max);
          const got: Array<{ offset: number; bytes: Buffer }> = [];
          const count = consumer.take((bytes, offset, length) => got.push({ offset, bytes: Buffer.from(bytes.subarray(offset, offset + length)) }), op.max);
          assert.equal(count, expected.length);
          compare(expected, got);
        } else {
          let size: number;
          let less = 0;
          if (op.op === 'push') size = op.size;
          else if (op.op === 'reserveCommit') {
            size = op.size;
            less = op.less;
          } else size = Math.max(0, Math.min(producer.maxPayload, model.untilEnd - 4 - op.delta));
          const place = model.place(size);
          const at = producer.reserve(size);
          if (place === null) {
            assert.equal(at, -1, `reserve(${size}) with ${model.used} used, ${model.untilEnd} before the end`);
            continue;
          }
          assert.equal(at, place.offset, `reserve(${size}) with ${model.used} used, ${model.untilEnd} before the end`);
          const final = size - less;
          pattern(serial, final).copy(producer.bytes, at);
          producer.commit(final);
          producer.publish();
          model.push(serial++, final, place.skip, place.offset);
        }
        assert.equal(producer.free, capacity - model.used, 'free');
        assert.equal(consumer.hasRecords(), model.queue.length > 0, 'hasRecords');
      }
      const rest: Array<{ offset: number; bytes: Buffer }> = [];
      consumer.take((bytes, offset, length) => rest.push({ offset, bytes: Buffer.from(bytes.subarray(offset, offset + length)) }));
      compare(model.take(Number.POSITIVE_INFINITY), rest);
      assert.equal(producer.free, capacity);
    }),
    { numRuns: 400 },
  );
});
