/**
 * An isolate's metrics in shared memory: counters and histogram buckets that the isolate bumps
 * on its own request path with plain stores, and that the supervisor reads when it is scraped —
 * no message per request, and no lock.
 *
 * One SharedArrayBuffer per isolate, made by the isolate once it knows its routes (`create`) and
 * handed to the supervisor with its route table; a replacement brings a buffer of its own, and
 * the supervisor keeps what the old one counted (server/metrics.ts).
 *
 *   u32 words                                               written by the isolate
 *   ┌──────────────────────────────────────────────────────┐
 *   │ header, 16 words: gauges (in flight, open             │ gauges: a store when they change,
 *   │ connections by protocol, loop utilisation and delay,  │   or once a second (loop, heap)
 *   │ heap) and counters (shed, timed out, dropped topic    │ counters: += 1, wrapping at 2^32
 *   │ messages, unlabelled requests); route count, capacity │
 *   ├──────────────────────────────────────────────────────┤
 *   │ duration histogram: (R + 1) rows of BUCKETS + 1 slots │ one slot += 1 per answered request
 *   │ (row R: requests no route took; last slot: +Inf)      │   (not cumulative: the reader sums)
 *   ├──────────────────────────────────────────────────────┤
 *   │ request table: CAP keys, then CAP counts              │ key (route, method, status) once,
 *   │ (open addressing, linear probing; key 0 = empty)      │   its count += 1 per request
 *   ├──────────────────────────────────────────────────────┤
 *   │ u64 duration sums in µs, (R + 1) of them, 8-aligned   │ Atomics.store per request
 *   └──────────────────────────────────────────────────────┘
 *
 * Why plain stores are enough: every u32 word has one writer, the isolate, so `+= 1` is never a
 * lost update; and an unsynchronised read of a Uint32Array element is tear-free in the
 * ECMAScript memory model (integer element types are "no-tear"), so the supervisor sees each
 * word as it was at some moment, if not the latest — a scrape may miss the last few requests,
 * never invent any. A counter wraps at 2^32; the supervisor reads every word at least once a
 * second and adds the difference mod 2^32, so a count stays exact unless one word takes 2^32
 * increments within a second. Duration sums could overflow 2^32 µs (72 minutes) within a
 * second (long requests finishing together), so they are u64: a 64-bit element is tear-free
 * only through `Atomics`, hence `Atomics.store` by the writer and `Atomics.load` by the reader,
 * one sequentially consistent store per request.
 */

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Upper bounds of the duration histogram's buckets, in seconds (Prometheus' `le`). */
export const DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The same bounds in µs, for the isolate's comparisons. */
const BUCKET_US = DURATION_BUCKETS.map((s) => s * 1e6);
/** Slots per histogram row: one per bucket and one for +Inf. */
export const HISTOGRAM_SLOTS = DURATION_BUCKETS.length + 1;

/** Methods with a label of their own; any other is counted as `other`. */
export const METHOD_LABELS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'other'];
const OTHER_METHOD = METHOD_LABELS.length - 1;

/** Protocols whose open connections are counted. */
export const CONNECTION_PROTOCOLS = ['http/1.1', 'h2', 'websocket'] as const;
export type ConnectionProtocol = (typeof CONNECTION_PROTOCOLS)[number];

// ─── header words (u32 indexes) ─────────────────────────────────────────────────────────────
/** Gauge: requests received and not yet answered (pinned workers). */
export const M_IN_FLIGHT = 0;
/** Gauges: open connections, one word per `CONNECTION_PROTOCOLS` entry, from this index. */
export const M_OPEN = 1;
/** Counter: requests answered 503 because the worker or the pool was full. */
export const M_SHED = 4;
/** Counter: requests answered 504 because a handler or hook ran past its timeout. */
export const M_TIMED_OUT = 5;
/** Gauge: event-loop utilisation over the last sample, in millionths. */
export const M_LOOP_UTILISATION = 6;
/** Gauges: event-loop delay over the last sample, in µs: median, 99th percentile, maximum. */
export const M_LOOP_DELAY_P50 = 7;
export const M_LOOP_DELAY_P99 = 8;
export const M_LOOP_DELAY_MAX = 9;
/** Gauge: V8 heap in use, in KiB. */
export const M_HEAP_KIB = 10;
/** Counter: published WebSocket messages dropped because another isolate's queue was full. */
export const M_TOPIC_DROPPED = 11;
/** Counter: requests counted in the histogram but not in the request table, which was full. */
export const M_UNLABELLED = 12;
/** Written once at creation: the route count R, and the request table's capacity. */
export const M_ROUTES = 13;
export const M_CAPACITY = 14;
const HEADER_WORDS = 16;

/** Header words that are counters (the supervisor adds their differences). */
export const HEADER_COUNTERS: readonly number[] = [M_SHED, M_TIMED_OUT, M_TOPIC_DROPPED, M_UNLABELLED];

/** Where each region of a buffer for R routes starts. */
export interface MetricsLayout {
  readonly routes: number;
  readonly capacity: number;
  /** u32 index of the histogram. */
  readonly histogram: number;
  /** u32 index of the request table's keys, then of its counts. */
  readonly keys: number;
  readonly counts: number;
  /** u64 index of the duration sums. */
  readonly sums: number;
  readonly bytes: number;
}

export function layoutFor(routes: number, capacity: number): MetricsLayout {
  const histogram = HEADER_WORDS;
  const keys = histogram + (routes + 1) * HISTOGRAM_SLOTS;
  const counts = keys + capacity;
  const sumsByte = Math.ceil(((counts + capacity) * 4) / 8) * 8;
  return { routes, capacity, histogram, keys, counts, sums: sumsByte / 8, bytes: sumsByte + (routes + 1) * 8 };
}

/** The request table's capacity for R routes: room for every route answering several statuses. */
function capacityFor(routes: number): number {
  let capacity = 256;
  while (capacity < routes * 16) capacity *= 2;
  return capacity;
}

/**
 * A request table key: histogram row + 1 (row R is "no route"; rows up to 2^19 − 2), the
 * method's label index (4 bits) and the status − 100 (9 bits, for 100–599), packed so that 0
 * never is one.
 */
export function requestKey(row: number, method: number, status: number): number {
  return (((row + 1) << 13) | (method << 9) | (status - 100)) >>> 0;
}

export function unpackKey(key: number): { row: number; method: number; status: number } {
  return { row: (key >>> 13) - 1, method: (key >>> 9) & 0xf, status: (key & 0x1ff) + 100 };
}

/** The writer: the isolate's own side. One thread only. */
export class IsolateMetrics {
  readonly buffer: SharedArrayBuffer;
  readonly layout: MetricsLayout;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;
  /** The request table's mask (capacity − 1). */
  readonly #mask: number;

  /** A fresh buffer for an isolate whose app has `routes` HTTP routes. */
  static create(routes: number): IsolateMetrics {
    const capacity = capacityFor(routes);
    const buffer = new SharedArrayBuffer(layoutFor(routes, capacity).bytes);
    // The only writes before the supervisor has the buffer: postMessage orders them before
    // anything it reads.
    const header = new Uint32Array(buffer, 0, HEADER_WORDS);
    header[M_ROUTES] = routes;
    header[M_CAPACITY] = capacity;
    return new IsolateMetrics(buffer);
  }

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#u32 = new Uint32Array(buffer);
    this.#u64 = new BigUint64Array(buffer);
    this.layout = layoutFor(this.#u32[M_ROUTES] as number, this.#u32[M_CAPACITY] as number);
    this.#mask = this.layout.capacity - 1;
  }

  /**
   * A request was answered: `route` is the index of the route that took it (-1 for none),
   * `micros` the time from its arrival until its response was handed to the connection.
   */
  answered(route: number, method: string, status: number, micros: number): void {
    const { layout } = this;
    const row = route < 0 || route >= layout.routes ? layout.routes : route;
    const u32 = this.#u32;
    let slot = 0;
    while (slot < BUCKET_US.length && micros > (BUCKET_US[slot] as number)) slot++;
    u32[layout.histogram + row * HISTOGRAM_SLOTS + slot]!++;
    const sum = layout.sums + row;
    Atomics.store(this.#u64, sum, (this.#u64[sum] as bigint) + BigInt(Math.round(micros)));

    const key = requestKey(row, methodIndex(method), status);
    let i = Math.imul(key, 0x9e3779b1) >>> 0;
    for (let probes = 0; probes < layout.capacity; probes++, i++) {
      const at = i & this.#mask;
      const found = u32[layout.keys + at] as number;
      if (found === key) {
        u32[layout.counts + at]!++;
        return;
      }
      if (found === 0) {
        // A new label set: its count first, then its key. A reader that sees the key before the
        // count reads it a moment late; one that sees the count first skips the slot until the
        // key shows. Either way no request is counted twice or under another key.
        u32[layout.counts + at] = 1;
        u32[layout.keys + at] = key;
        return;
      }
    }
    u32[M_UNLABELLED]!++;
  }

  /** Sets a gauge word (M_IN_FLIGHT, M_OPEN + i, M_LOOP_*, M_HEAP_KIB). */
  set(word: number, value: number): void {
    this.#u32[word] = value;
  }

  /** Adds `by` to a header counter or gauge word. */
  add(word: number, by = 1): void {
    this.#u32[word] = ((this.#u32[word] as number) + by) >>> 0;
  }

  /** A connection of `protocol` opened (+1) or closed (−1). */
  connection(protocol: ConnectionProtocol, change: 1 | -1): void {
    this.add(M_OPEN + CONNECTION_PROTOCOLS.indexOf(protocol), change);
  }
}

/** How often an isolate samples its event loop and heap into its gauges, in ms. */
export const SAMPLE_MS = 1_000;
/** The event-loop delay monitor's timer, in ms; what it records includes this much. */
const DELAY_RESOLUTION_MS = 10;

/**
 * Samples this thread's event loop (utilisation, and delay: median, 99th percentile and maximum
 * over the last second) and V8 heap into `metrics` once a second, then calls `each` for the
 * isolate's own per-second words. The timer does not keep the thread alive.
 */
export function startSampling(metrics: IsolateMetrics, each?: () => void): void {
  const delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
  delay.enable();
  let last = performance.eventLoopUtilization();
  // What the monitor records is the time between its timer's runs: the resolution, plus the delay.
  const delayMicros = (ns: number): number => (delay.count === 0 ? 0 : Math.max(0, Math.round(ns / 1_000 - DELAY_RESOLUTION_MS * 1_000)));
  const sample = (): void => {
    const now = performance.eventLoopUtilization();
    metrics.set(M_LOOP_UTILISATION, Math.round(performance.eventLoopUtilization(now, last).utilization * 1e6));
    last = now;
    metrics.set(M_LOOP_DELAY_P50, delayMicros(delay.percentile(50)));
    metrics.set(M_LOOP_DELAY_P99, delayMicros(delay.percentile(99)));
    metrics.set(M_LOOP_DELAY_MAX, delayMicros(delay.max));
    delay.reset();
    metrics.set(M_HEAP_KIB, Math.round(v8.getHeapStatistics().used_heap_size / 1024));
    each?.();
  };
  sample();
  setInterval(sample, SAMPLE_MS).unref();
}

function methodIndex(method: string): number {
  const i = METHOD_LABELS.indexOf(method);
  return i === -1 ? OTHER_METHOD : i;
}

/** The reader's view of one buffer: the supervisor's side. */
export class MetricsView {
  readonly layout: MetricsLayout;
  readonly #u32: Uint32Array;
  readonly #u64: BigUint64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#u32 = new Uint32Array(buffer);
    this.#u64 = new BigUint64Array(buffer);
    this.layout = layoutFor(this.#u32[M_ROUTES] as number, this.#u32[M_CAPACITY] as number);
  }

  /** A u32 word, as it was at some recent moment (tear-free plain load). */
  word(index: number): number {
    return this.#u32[index] as number;
  }

  /** The duration sum of histogram row `row`, in µs. */
  sumMicros(row: number): number {
    return Number(Atomics.load(this.#u64, this.layout.sums + row));
  }
}
