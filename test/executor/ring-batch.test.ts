/**
 * Batch publishing and the cached indices of the SPSC ring, on one thread.
 *
 *   - commit() only advances the producer's private tail; publish() stores it once for every
 *     record committed since the last publish, and says whether there was anything new;
 *   - the consumer caches the producer's tail and re-reads it only when the cache says the ring
 *     is empty, at most once per take() call: at the start if the cache is used up, or else on
 *     reaching the cached value;
 *   - take() frees the whole batch it visited with one store of `head`.
 *
 * A model-based property test runs random sequences of reserve/commit (sizes chosen around the
 * wrap point), publish, take(max) and hasRecords against a model that keeps committed-but-
 * unpublished records apart from published ones. Then targeted tests pin down the cached-tail
 * rules by what they make observable: which records one take() visits when more are published
 * while it runs, and how many times it touches the shared words. The cross-thread side is in
 * ring-batch-stress.test.ts.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RING_HEAD, RING_TAIL } from '../../src/executor/layout.ts';
import type { RingProducer } from '../../src/executor/ring.ts';
import { align8, makeRing, pattern, type Ring } from './ring-support.ts';

/** Writes record `serial` of `size` bytes and commits it (not published); returns the payload offset or -1. */
function commitRecord(producer: RingProducer, serial: number, size: number): number {
  const at = producer.reserve(size);
  if (at < 0) return -1;
  pattern(serial, size).copy(producer.bytes, at);
  producer.commit(size);
  return at;
}

/** The serial a record carries (its first 4 bytes; every record in these tests has ≥ 4). */
function serialOf(bytes: Buffer, offset: number): number {
  return bytes.readUInt32LE(offset);
}

// ─── the model ──────────────────────────────────────────────────────────────────────────────

interface ModelRecord {
  readonly serial: number;
  readonly size: number;
  readonly offset: number;
  /** The byte count just after the record: where head is once it is taken. */
  readonly end: number;
}

/**
 * The ring as ring.ts specifies it, with the producer's private tail (`committed`) kept apart
 * from the shared one (`published`). `queue` holds every record not yet taken, oldest first;
 * the first `visible` of them are published.
 */
class BatchModel {
  readonly capacity: number;
  head: number;
  committed: number;
  published: number;
  readonly queue: ModelRecord[] = [];
  visible = 0;

  constructor(capacity: number, start: number) {
    this.capacity = capacity;
    this.head = start >>> 0;
    this.committed = start >>> 0;
    this.published = start >>> 0;
  }

  /** Bytes the producer counts as used: committed records too, published or not. */
  get used(): number {
    return (this.committed - this.head) >>> 0;
  }

  get untilEnd(): number {
    return this.capacity - (this.committed % this.capacity);
  }

  /** Where a reserve of `size` bytes puts its payload, or null if it must be refused. */
  place(size: number): { offset: number; skip: number } | null {
    if (size < 0 || size > this.capacity / 2 - 8) return null;
    const need = align8(4 + size);
    const skip = need <= this.untilEnd ? 0 : this.untilEnd;
    if (this.capacity - this.used < skip + need) return null;
    return { offset: (skip > 0 ? 0 : this.committed % this.capacity) + 4, skip };
  }

  commit(serial: number, size: number, offset: number, skip: number): void {
    this.committed = (this.committed + skip + align8(4 + size)) >>> 0;
    this.queue.push({ serial, size, offset, end: this.committed });
  }

  /** What publish() must return, and its effect. */
  publish(): boolean {
    if (this.published === this.committed) return false;
    this.published = this.committed;
    this.visible = this.queue.length;
    return true;
  }

  /** The records take(max) must visit: published ones only, oldest first. */
  take(max: number): ModelRecord[] {
    const count = Math.min(max, this.visible);
    const taken = this.queue.splice(0, count);
    this.visible -= count;
    // Head stops just after the last record visited (a wrap gap after it is skipped next time).
    if (taken.length > 0) this.head = (taken[taken.length - 1] as ModelRecord).end;
    return taken;
  }
}

// ─── the property ───────────────────────────────────────────────────────────────────────────

type Op =
  | { readonly op: 'commit'; readonly size: SizeChoice; readonly less: number }
  | { readonly op: 'publish' }
  | { readonly op: 'take'; readonly max: number }
  | { readonly op: 'hasRecords' }
  | { readonly op: 'free' };

/** How a commit's size is picked, relative to where the tail is when it runs. */
type SizeChoice =
  | { readonly kind: 'nearEnd'; readonly delta: number }
  | { readonly kind: 'fixed'; readonly size: number }
  | { readonly kind: 'max' }
  | { readonly kind: 'odd'; readonly n: number };

function opArbitrary(capacity: number): fc.Arbitrary<Op> {
  const max = capacity / 2 - 8;
  const size: fc.Arbitrary<SizeChoice> = fc.oneof(
    // A record that ends just before, exactly at, or just past the end of the data region.
    { weight: 4, arbitrary: fc.integer({ min: -12, max: 12 }).map((delta) => ({ kind: 'nearEnd' as const, delta })) },
    { weight: 2, arbitrary: fc.constantFrom(0, 4, 5, 8).map((s) => ({ kind: 'fixed' as const, size: s })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'max' as const }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: (max - 1) >> 1 }).map((n) => ({ kind: 'odd' as const, n })) },
    { weight: 2, arbitrary: fc.integer({ min: 4, max }).map((s) => ({ kind: 'fixed' as const, size: s })) },
  );
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(size, fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 9 }))).map(([s, less]) => ({ op: 'commit' as const, size: s, less })) },
    { weight: 3, arbitrary: fc.constant({ op: 'publish' as const }) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.constant(Number.POSITIVE_INFINITY))
        .map((m) => ({ op: 'take' as const, max: m })),
    },
    { weight: 1, arbitrary: fc.constant({ op: 'hasRecords' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'free' as const }) },
  );
}

const scenario = fc
  .constantFrom(64, 128, 256, 512, 1024)
  .chain((capacity) =>
    fc.record({
      capacity: fc.constant(capacity),
      start: fc.oneof(
        fc.constant(0),
        fc.constant(2 ** 32 - capacity),
        fc.constant(2 ** 32 - 8),
        fc.constant(2 ** 31 - 8),
        fc.integer({ min: 0, max: 2 ** 29 - 1 }).map((n) => n * 8),
      ),
      ops: fc.array(opArbitrary(capacity), { minLength: 1, maxLength: 150 }),
    }),
  );

function sizeFor(choice: SizeChoice, model: BatchModel, maxPayload: number): number {
  switch (choice.kind) {
    case 'nearEnd':
      // Payload such that 4 + size lands `delta` bytes from the end (clamped to what is legal).
      return Math.max(0, Math.min(maxPayload, model.untilEnd - 4 - choice.delta));
    case 'fixed':
      return Math.min(choice.size, maxPayload);
    case 'max':
      return maxPayload;
    case 'odd':
      return Math.min(2 * choice.n + 1, maxPayload);
  }
}

test('property: batch publishing — the consumer sees published records only, in order, once, with their bytes', () => {
  fc.assert(
    fc.property(scenario, ({ capacity, start, ops }) => {
      const { control, producer, consumer } = makeRing(capacity, start);
      const model = new BatchModel(capacity, start);
      let serial = 0;
      let nextTaken = 0;

      const takeAndCheck = (max: number): void => {
        const expected = model.take(max);
        const got: Array<{ offset: number; bytes: Buffer }> = [];
        const count = consumer.take((bytes, offset, length) => {
          got.push({ offset, bytes: Buffer.from(bytes.subarray(offset, offset + length)) });
        }, max);
        assert.equal(count, expected.length, `take(${max}) count, ${model.visible + expected.length} published before`);
        assert.equal(got.length, expected.length, 'take() returns how many it visited');
        expected.forEach((record, i) => {
          const actual = got[i] as { offset: number; bytes: Buffer };
          assert.equal(record.serial, nextTaken++, 'the model itself keeps order');
          assert.equal(actual.offset, record.offset, `record ${record.serial} payload offset`);
          assert.equal(actual.offset % 8, 4, 'a payload starts right after its 4-byte header, at an 8-byte boundary');
          assert.ok(actual.offset + actual.bytes.length <= capacity, 'a payload never crosses the end');
          assert.deepEqual(actual.bytes, pattern(record.serial, record.size), `record ${record.serial} bytes`);
        });
        assert.equal(Atomics.load(control, RING_HEAD >> 2) >>> 0, model.head, 'head after take()');
      };

      for (const op of ops) {
        switch (op.op) {
          case 'commit': {
            const size = sizeFor(op.size, model, producer.maxPayload);
            const place = model.place(size);
            const at = producer.reserve(size);
            if (place === null) {
              assert.equal(at, -1, `reserve(${size}) with ${model.used} used, ${model.untilEnd} before the end`);
              break;
            }
            assert.equal(at, place.offset, `reserve(${size}) with ${model.used} used, ${model.untilEnd} before the end`);
            const final = size - Math.min(op.less, size);
            pattern(serial, final).copy(producer.bytes, at);
            producer.commit(final);
            model.commit(serial, final, place.offset, place.skip);
            serial++;
            break;
          }
          case 'publish':
            assert.equal(producer.publish(), model.publish(), 'publish() says whether anything new was committed');
            // A second publish right after has nothing new.
            assert.equal(producer.publish(), false, 'publish() twice in a row: nothing new the second time');
            break;
          case 'take':
            takeAndCheck(op.max);
            break;
          case 'hasRecords':
            assert.equal(consumer.hasRecords(), model.visible > 0, `hasRecords with ${model.visible} published, ${model.queue.length - model.visible} unpublished`);
            break;
          case 'free':
            assert.equal(producer.free, capacity - model.used, 'free counts committed records, published or not');
            break;
        }
        // Invariants after every step.
        assert.equal(Atomics.load(control, RING_TAIL >> 2) >>> 0, model.published, 'the shared tail is the last published one');
        assert.equal(consumer.hasRecords(), model.visible > 0, 'hasRecords: true exactly when a published record waits');
      }

      // Whatever is left: the unpublished records stay invisible until the final publish.
      takeAndCheck(Number.POSITIVE_INFINITY);
      assert.equal(model.visible, 0);
      assert.equal(consumer.hasRecords(), false);
      assert.equal(producer.publish(), model.publish(), 'the last publish() says whether anything was left');
      takeAndCheck(Number.POSITIVE_INFINITY);
      assert.equal(nextTaken, serial, 'every committed record was taken exactly once');
      assert.equal(producer.free, capacity);
      assert.equal(consumer.hasRecords(), false);
    }),
    { numRuns: 500 },
  );
});

// ─── the cached tail, by what it makes observable ───────────────────────────────────────────

describe('publish()', () => {
  test('records committed without publish() are invisible, then all appear with one publish', () => {
    const { control, producer, consumer } = makeRing(256);
    assert.equal(producer.publish(), false, 'nothing committed yet');
    for (let i = 0; i < 5; i++) assert.ok(commitRecord(producer, i, 12) >= 0);
    assert.equal(Atomics.load(control, RING_TAIL >> 2), 0, 'commit() does not touch the shared tail');
    assert.equal(consumer.hasRecords(), false);
    assert.equal(consumer.take(() => assert.fail('an unpublished record was visited')), 0);
    assert.equal(producer.free, 256 - 5 * 16, 'but they do take room');
    assert.equal(producer.publish(), true);
    assert.equal(Atomics.load(control, RING_TAIL >> 2), 5 * 16);
    assert.equal(producer.publish(), false, 'nothing new since');
    const seen: number[] = [];
    assert.equal(consumer.take((b, o) => void seen.push(serialOf(b, o))), 5);
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  });

  test('a reservation that is not committed is not published', () => {
    const { producer, consumer } = makeRing(256);
    assert.ok(producer.reserve(20) >= 0);
    assert.equal(producer.publish(), false, 'a reservation alone publishes nothing');
    producer.commit(0);
    assert.equal(producer.publish(), true, 'an empty record is still a record');
    assert.equal(consumer.take(() => {}), 1);
  });

  test('a refused reservation publishes nothing new', () => {
    const { producer, consumer } = makeRing(64);
    assert.ok(commitRecord(producer, 0, 24) >= 0);
    assert.ok(commitRecord(producer, 1, 24) >= 0);
    assert.equal(producer.reserve(0), -1, 'the ring is full (of unpublished records)');
    assert.equal(consumer.hasRecords(), false);
    assert.equal(producer.publish(), true);
    assert.equal(producer.reserve(0), -1);
    assert.equal(producer.publish(), false);
    assert.equal(consumer.take(() => {}), 2);
  });
});

describe('take() and the cached tail', () => {
  /** A ring where the consumer's cached tail covers records 0 and 1 but it has taken only 0. */
  function staleCache(): Ring & { visits: number[] } {
    const ring = makeRing(1024);
    const visits: number[] = [];
    for (let i = 0; i < 2; i++) commitRecord(ring.producer, i, 16);
    ring.producer.publish();
    assert.equal(ring.consumer.take((b, o) => void visits.push(serialOf(b, o)), 1), 1);
    assert.deepEqual(visits.splice(0), [0]);
    return { ...ring, visits };
  }

  test('a take() started on a stale, non-empty cached tail still visits what was published since', () => {
    const { producer, consumer, visits } = staleCache();
    // Published after the consumer cached the tail: the cache says record 1 is the last one.
    for (let i = 2; i < 5; i++) commitRecord(producer, i, 16);
    producer.publish();
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o))), 4);
    assert.deepEqual(visits, [1, 2, 3, 4], 'on reaching its cached tail the consumer re-reads it once');
  });

  test('hasRecords() answers from a non-empty cache, and a later take() still sees everything', () => {
    const { producer, consumer, visits } = staleCache();
    assert.equal(consumer.hasRecords(), true);
    commitRecord(producer, 2, 16);
    producer.publish();
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o))), 2);
    assert.deepEqual(visits, [1, 2]);
    assert.equal(consumer.hasRecords(), false);
  });

  test('one take() re-reads the shared tail at most once: what is published after that waits for the next take()', () => {
    const { producer, consumer, visits } = staleCache();
    let next = 2;
    // Each visit publishes one more record. The first reaches the consumer through the one
    // re-read (made on reaching the cached tail, after visiting record 1); the one published
    // while record 2 is visited comes after that re-read, so this take() must stop before it.
    const publishing = (bytes: Buffer, offset: number): void => {
      visits.push(serialOf(bytes, offset));
      if (next < 6) {
        commitRecord(producer, next++, 16);
        producer.publish();
      }
    };
    assert.equal(consumer.take(publishing), 2);
    assert.deepEqual(visits.splice(0), [1, 2], 'a record published after the re-read is not visited by the same take()');
    // The next take() starts with an empty cache: it reads the tail at once (record 3), and may
    // not read it again when record 4 is published during the visit.
    assert.equal(consumer.take(publishing), 1);
    assert.deepEqual(visits.splice(0), [3]);
    // hasRecords() refills the cache (record 4): the take() after it starts on a non-empty cache,
    // so it has its one re-read left, on reaching record 4's end: it finds record 5.
    assert.equal(consumer.hasRecords(), true);
    assert.equal(consumer.take(publishing), 2);
    assert.deepEqual(visits.splice(0), [4, 5]);
    assert.equal(consumer.take(publishing), 0, 'nothing more was published');
  });

  test('a take() that read the tail at its start does not read it again on reaching it', () => {
    const { producer, consumer } = makeRing(1024);
    commitRecord(producer, 0, 16);
    producer.publish();
    const visits: number[] = [];
    const count = consumer.take((bytes, offset) => {
      visits.push(serialOf(bytes, offset));
      commitRecord(producer, 1, 16);
      producer.publish();
    });
    assert.equal(count, 1);
    assert.deepEqual(visits, [0]);
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o))), 1);
    assert.deepEqual(visits, [0, 1]);
  });

  test('take(visit, max) stops at max before re-reading, and the next take() goes on from there', () => {
    const { producer, consumer, visits } = staleCache();
    for (let i = 2; i < 6; i++) commitRecord(producer, i, 16);
    producer.publish();
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o)), 0), 0);
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o)), 1), 1);
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o)), 2), 2);
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o)), 2), 2);
    assert.equal(consumer.take((b, o) => void visits.push(serialOf(b, o)), 2), 0);
    assert.deepEqual(visits, [1, 2, 3, 4, 5]);
  });
});

describe('shared words touched per batch', () => {
  /**
   * Counts Atomics.load / Atomics.store calls on `control` (the ring's head and tail words)
   * while `run` runs. Atomics is an ordinary object: its methods are swapped for counting ones
   * and put back afterwards.
   */
  function countShared<T>(control: Int32Array, run: () => T): { result: T; loads: number[]; stores: number[] } {
    const loads: number[] = [];
    const stores: number[] = [];
    const { load, store } = Atomics;
    const atomics = Atomics as unknown as Record<'load' | 'store', (...args: unknown[]) => unknown>;
    atomics.load = (array: unknown, index: unknown, ...rest: unknown[]) => {
      if (array instanceof Int32Array && array.buffer === control.buffer && array.byteOffset === 0) loads.push(index as number);
      return (load as (...args: unknown[]) => unknown)(array, index, ...rest);
    };
    atomics.store = (array: unknown, index: unknown, ...rest: unknown[]) => {
      if (array instanceof Int32Array && array.buffer === control.buffer && array.byteOffset === 0) stores.push(index as number);
      return (store as (...args: unknown[]) => unknown)(array, index, ...rest);
    };
    try {
      return { result: run(), loads, stores };
    } finally {
      Atomics.load = load;
      Atomics.store = store;
    }
  }

  const HEAD = RING_HEAD >> 2;
  const TAIL = RING_TAIL >> 2;

  test('commit() touches no shared word; publish() stores the tail once for a whole batch', () => {
    const { control, producer } = makeRing(1024);
    const commits = countShared(control, () => {
      for (let i = 0; i < 10; i++) commitRecord(producer, i, 20);
    });
    assert.deepEqual(commits.stores, [], 'commit() stores nothing shared');
    assert.deepEqual(commits.loads, [], 'the cached head said there was room: head not re-read');
    const published = countShared(control, () => producer.publish());
    assert.equal(published.result, true);
    assert.deepEqual(published.stores, [TAIL]);
    const again = countShared(control, () => producer.publish());
    assert.equal(again.result, false);
    assert.deepEqual(again.stores, [], 'nothing new: no store');
  });

  test('one take() loads the shared tail at most once and stores head once, whatever it visits', () => {
    const { control, producer, consumer } = makeRing(1024);
    for (let i = 0; i < 10; i++) commitRecord(producer, i, 20);
    producer.publish();
    // Empty cache: one load at the start, none on reaching the tail it loaded.
    const first = countShared(control, () => consumer.take(() => {}, 4));
    assert.equal(first.result, 4);
    assert.deepEqual(first.loads, [TAIL]);
    assert.deepEqual(first.stores, [HEAD], 'one store of head for the 4 records');
    // Cache covers the rest: no load at all when max stops it first…
    const second = countShared(control, () => consumer.take(() => {}, 3));
    assert.equal(second.result, 3);
    assert.deepEqual(second.loads, []);
    // …and exactly one on reaching the cached tail, even while each visit publishes more.
    let serial = 10;
    const third = countShared(control, () =>
      consumer.take(() => {
        commitRecord(producer, serial++, 20);
        producer.publish();
      }),
    );
    assert.equal(third.loads.filter((i) => i === TAIL).length, 1, 'the tail is re-read once per take()');
    assert.deepEqual(third.stores.filter((i) => i === HEAD), [HEAD]);
    // 3 left in the cache, then one re-read finds the 3 published while those were visited.
    assert.equal(third.result, 6);
  });

  test('hasRecords() loads the tail only when its cache says empty', () => {
    const { control, producer, consumer } = makeRing(1024);
    const empty = countShared(control, () => consumer.hasRecords());
    assert.equal(empty.result, false);
    assert.deepEqual(empty.loads, [TAIL]);
    commitRecord(producer, 0, 8);
    commitRecord(producer, 1, 8);
    producer.publish();
    assert.equal(countShared(control, () => consumer.hasRecords()).loads.length, 1);
    const cached = countShared(control, () => consumer.hasRecords());
    assert.equal(cached.result, true);
    assert.deepEqual(cached.loads, [], 'a cached non-empty tail answers without a load');
  });

  test('the producer re-reads head only when its cached copy says a record does not fit', () => {
    const { control, producer, consumer } = makeRing(128);
    // 4 records of 32 bytes fill the ring.
    const fill = countShared(control, () => {
      for (let i = 0; i < 4; i++) assert.ok(commitRecord(producer, i, 28) >= 0);
    });
    assert.deepEqual(fill.loads, []);
    producer.publish();
    consumer.take(() => {}, 2);
    const refill = countShared(control, () => commitRecord(producer, 4, 28));
    assert.ok(refill.result >= 0);
    assert.deepEqual(refill.loads, [HEAD], 'full by the cache: one load of head, which shows the room');
    const more = countShared(control, () => commitRecord(producer, 5, 28));
    assert.ok(more.result >= 0);
    assert.deepEqual(more.loads, [], 'room known from the last load');
  });
});
