/**
 * An isolate's metrics memory and the supervisor's reading of it, on real shared memory: bucket
 * edges at their exact bounds, counter words wrapping at 2^32, a full request table, counts
 * kept across a replacement, and the text format's escaping.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DURATION_BUCKETS,
  HISTOGRAM_SLOTS,
  IsolateMetrics,
  M_SHED,
  M_UNLABELLED,
  METHOD_LABELS,
  requestKey,
  unpackKey,
} from '../../src/executor/isolate-metrics.ts';
import { CounterTotals, renderMetrics, SeatCounts, type SeatMetrics } from '../../src/server/metrics.ts';

function counts(...buffers: SharedArrayBuffer[]): SeatCounts {
  const seat = new SeatCounts();
  for (const buffer of buffers) seat.adopt(buffer);
  return seat;
}

function requestsOf(seat: SeatCounts): Map<string, number> {
  const map = new Map<string, number>();
  seat.requests((key, count) => {
    const { row, method, status } = unpackKey(key);
    const label = `${row} ${METHOD_LABELS[method]} ${status}`;
    map.set(label, (map.get(label) ?? 0) + count);
  });
  return map;
}

describe('the writer', () => {
  test('a duration exactly at a bucket bound falls in that bucket; a µs more, in the next', () => {
    for (const [slot, bound] of DURATION_BUCKETS.entries()) {
      const metrics = IsolateMetrics.create(1);
      const seat = counts(metrics.buffer);
      metrics.answered(0, 'GET', 200, bound * 1e6);
      metrics.answered(0, 'GET', 200, bound * 1e6 + 1);
      seat.sample();
      const row = Array.from({ length: HISTOGRAM_SLOTS }, (_, s) => seat.slot(0, s));
      const expected = new Array<number>(HISTOGRAM_SLOTS).fill(0);
      expected[slot] = 1;
      expected[slot + 1] = 1;
      assert.deepEqual(row, expected, `at ${bound} s and a µs past it`);
    }
  });

  test('method, route and status are kept apart; unknown methods and routes share a label', () => {
    const metrics = IsolateMetrics.create(2);
    metrics.answered(0, 'GET', 200, 10);
    metrics.answered(0, 'GET', 200, 10);
    metrics.answered(0, 'GET', 201, 10);
    metrics.answered(1, 'GET', 200, 10);
    metrics.answered(1, 'PROPFIND', 200, 10);
    metrics.answered(1, 'MKCOL', 200, 10);
    metrics.answered(-1, 'GET', 404, 10);
    metrics.answered(7, 'GET', 404, 10); // an index past the table counts as no route
    const seat = counts(metrics.buffer);
    seat.sample();
    assert.deepEqual(
      requestsOf(seat),
      new Map([
        ['0 GET 200', 2],
        ['0 GET 201', 1],
        ['1 GET 200', 1],
        ['1 other 200', 2],
        ['2 GET 404', 2],
      ]),
    );
    assert.equal(seat.sumMicros(0), 30);
  });

  test('keys pack and unpack at their limits, and 0 is never a key', () => {
    for (const [row, method, status] of [[0, 0, 100], [1, 0, 599], [2 ** 19 - 2, METHOD_LABELS.length - 1, 599]] as const) {
      const key = requestKey(row, method, status);
      assert.notEqual(key, 0);
      assert.deepEqual(unpackKey(key), { row, method, status });
    }
  });

  test('past the table capacity a request is counted as unlabelled, never under another key', () => {
    const metrics = IsolateMetrics.create(0);
    const capacity = metrics.layout.capacity;
    for (let i = 0; i < capacity + 44; i++) metrics.answered(-1, 'GET', 100 + i, 5);
    const seat = counts(metrics.buffer);
    seat.sample();
    const seen = requestsOf(seat);
    assert.equal(seen.size, capacity);
    for (const [label, n] of seen) assert.equal(n, 1, label);
    assert.equal(seat.counter(M_UNLABELLED), 44);
    let histogram = 0;
    for (let s = 0; s < HISTOGRAM_SLOTS; s++) histogram += seat.slot(0, s);
    assert.equal(histogram, capacity + 44, 'the histogram counts every request');
  });
});

describe('the reader', () => {
  test('a counter word that wraps at 2^32 between two reads still adds up exactly', () => {
    const metrics = IsolateMetrics.create(1);
    const seat = counts(metrics.buffer);
    metrics.answered(0, 'GET', 200, 1);
    metrics.add(M_SHED, 5);
    seat.sample();
    // As if 2^32 - 2 more had happened: write the words through another view of the same memory.
    const words = new Uint32Array(metrics.buffer);
    const at = [...Array(metrics.layout.capacity).keys()].find((i) => words[metrics.layout.keys + i] !== 0)!;
    words[metrics.layout.counts + at] = 2 ** 32 - 1;
    words[M_SHED] = 2 ** 32 - 1;
    seat.sample();
    metrics.answered(0, 'GET', 200, 1);
    metrics.answered(0, 'GET', 200, 1);
    metrics.add(M_SHED, 3);
    assert.equal(words[metrics.layout.counts + at], 1, 'the word wrapped');
    seat.sample();
    assert.equal(requestsOf(seat).get('0 GET 200'), 2 ** 32 + 1);
    assert.equal(seat.counter(M_SHED), 2 ** 32 + 2);
  });

  test('what a replaced isolate counted is kept when the seat adopts its successor', () => {
    const first = IsolateMetrics.create(1);
    const seat = counts(first.buffer);
    for (let i = 0; i < 5; i++) first.answered(0, 'GET', 200, 1_000);
    first.add(M_SHED);
    // Counted after the last sample, before the isolate died: read once more on adoption.
    first.answered(0, 'POST', 500, 2_000);
    const second = IsolateMetrics.create(1);
    seat.adopt(second.buffer);
    second.answered(0, 'GET', 200, 500);
    seat.sample();
    assert.deepEqual(requestsOf(seat), new Map([['0 GET 200', 6], ['0 POST 500', 1]]));
    assert.equal(seat.counter(M_SHED), 1);
    assert.equal(seat.sumMicros(0), 5 * 1_000 + 2_000 + 500);
    let histogram = 0;
    for (let s = 0; s < HISTOGRAM_SLOTS; s++) histogram += seat.slot(0, s);
    assert.equal(histogram, 7);
  });
});

test('the exposition escapes label values and sums routes that share a path', () => {
  const metrics = IsolateMetrics.create(3);
  metrics.answered(0, 'GET', 200, 100);
  metrics.answered(1, 'GET', 200, 100); // GET /x and ALL /x: one label set
  metrics.answered(2, 'GET', 200, 100);
  const seat = counts(metrics.buffer);
  seat.sample();
  const seats: SeatMetrics[] = [{ kind: 'pinned', index: 0, serving: true, counts: seat }];
  const routes = [
    { id: 0, method: 'GET', path: '/x', pool: undefined, timeout: undefined, builtIn: null },
    { id: 1, method: '*', path: '/x', pool: undefined, timeout: undefined, builtIn: null },
    { id: 2, method: 'GET', path: '/odd"\\\n', pool: undefined, timeout: undefined, builtIn: null },
  ];
  const totals = new CounterTotals();
  totals.addSeats(seats, routes, { pinned: 0, pooled: 0 });
  const text = renderMetrics({ totals, seats, startTime: 0 });
  assert.match(text, /^http_requests_total\{method="GET",route="\/x",status="200"\} 2$/m);
  assert.match(text, /^http_requests_total\{method="GET",route="\/odd\\"\\\\\\n",status="200"\} 1$/m);
  assert.match(text, /^http_request_duration_seconds_count\{route="\/x"\} 2$/m);
  assert.ok(!/route="\(unmatched\)"/.test(text), 'a route that answered nothing has no histogram');
});
