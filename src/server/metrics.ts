/**
 * Metrics, the supervisor's side: it reads what every isolate counts in shared memory
 * (executor/isolate-metrics.ts) and writes the Prometheus text exposition format (version
 * 0.0.4) that the admin listener serves on /metrics.
 *
 * Each seat keeps `SeatCounts`: the words of the buffer of the isolate serving in it, read at
 * least once a second (`sample`) so that a counter word's wraps at 2^32 are added up, plus what
 * the seat's earlier isolates counted before they were replaced — counters never go back when an
 * isolate is. Gauges (in flight, open connections, the event loop, the heap) are read live, and
 * only from isolates that serve.
 *
 * Why not prom-client: its metric objects hold values observed in the process that exports
 * them, and ours are observed in other isolates and summed here at scrape time. Counters would
 * have to be reset and re-incremented on every scrape, and a histogram cannot be given bucket
 * counts at all, so what would remain of the library is the text format — a few lines, checked
 * by `promtool check metrics` in the tests.
 */

import type { RouteInfo } from '../app/app.ts';
import {
  CONNECTION_PROTOCOLS,
  DURATION_BUCKETS,
  HEADER_COUNTERS,
  HISTOGRAM_SLOTS,
  M_HEAP_KIB,
  M_IN_FLIGHT,
  M_LOOP_DELAY_MAX,
  M_LOOP_DELAY_P50,
  M_LOOP_DELAY_P99,
  M_LOOP_UTILISATION,
  M_OPEN,
  M_SHED,
  M_TIMED_OUT,
  M_TOPIC_DROPPED,
  M_UNLABELLED,
  METHOD_LABELS,
  MetricsView,
  unpackKey,
} from '../executor/isolate-metrics.ts';

/** What one seat's isolates have counted, across replacements. */
export class SeatCounts {
  #view: MetricsView | null = null;
  /** Each counter word as last read, and what it added up to since this view was adopted. */
  #last = new Uint32Array(0);
  #total = new Float64Array(0);
  /** What replaced isolates counted: request counts by table key, histogram slots and sums by row, header counters by word. */
  readonly #retiredRequests = new Map<number, number>();
  #retiredSlots = new Float64Array(0);
  #retiredSums = new Float64Array(0);
  readonly #retiredHeader = new Map<number, number>();

  /** The isolate now in the seat counts in `buffer`; what the one before counted is kept. */
  adopt(buffer: SharedArrayBuffer): void {
    this.#retire();
    const view = new MetricsView(buffer);
    const { layout } = view;
    this.#view = view;
    this.#last = new Uint32Array(layout.counts + layout.capacity);
    this.#total = new Float64Array(layout.counts + layout.capacity);
    // Only ever larger: an isolate with fewer routes (an edited app file) must not lose counts.
    const rows = (layout.routes + 1) * HISTOGRAM_SLOTS;
    if (this.#retiredSlots.length < rows) this.#retiredSlots = grow(this.#retiredSlots, rows);
    if (this.#retiredSums.length < layout.routes + 1) this.#retiredSums = grow(this.#retiredSums, layout.routes + 1);
  }

  /** Reads every counter word and adds what it moved since the last read (mod 2^32). */
  sample(): void {
    const view = this.#view;
    if (view === null) return;
    const { layout } = view;
    for (const word of HEADER_COUNTERS) this.#take(view, word);
    for (let w = layout.histogram, end = layout.histogram + (layout.routes + 1) * HISTOGRAM_SLOTS; w < end; w++) this.#take(view, w);
    for (let w = layout.counts, end = layout.counts + layout.capacity; w < end; w++) this.#take(view, w);
  }

  #take(view: MetricsView, word: number): void {
    const now = view.word(word);
    this.#total[word]! += (now - (this.#last[word] as number)) >>> 0;
    this.#last[word] = now;
  }

  /** Folds the current isolate's counts into the retired ones (it is being replaced). */
  #retire(): void {
    const view = this.#view;
    if (view === null) return;
    this.sample();
    const { layout } = view;
    for (const word of HEADER_COUNTERS) this.#retiredHeader.set(word, (this.#retiredHeader.get(word) ?? 0) + (this.#total[word] as number));
    for (let i = 0; i < (layout.routes + 1) * HISTOGRAM_SLOTS; i++) this.#retiredSlots[i]! += this.#total[layout.histogram + i] as number;
    for (let row = 0; row <= layout.routes; row++) this.#retiredSums[row]! += view.sumMicros(row);
    this.#eachRequest((key, count) => this.#retiredRequests.set(key, (this.#retiredRequests.get(key) ?? 0) + count), false);
    this.#view = null;
  }

  /** Calls `visit` with every request table key and its count, the retired ones included when `withRetired`. */
  #eachRequest(visit: (key: number, count: number) => void, withRetired: boolean): void {
    if (withRetired) for (const [key, count] of this.#retiredRequests) visit(key, count);
    const view = this.#view;
    if (view === null) return;
    const { layout } = view;
    for (let at = 0; at < layout.capacity; at++) {
      const key = view.word(layout.keys + at);
      const count = this.#total[layout.counts + at] as number;
      if (key !== 0 && count > 0) visit(key, count);
    }
  }

  /**
   * Request counts by table key, since the server started. A key may be visited more than once
   * (what replaced isolates counted, then the current one's): the caller sums.
   */
  requests(visit: (key: number, count: number) => void): void {
    this.#eachRequest(visit, true);
  }

  /** Histogram slot `slot` of row `row` (not cumulative), since the server started. */
  slot(row: number, slot: number): number {
    const i = row * HISTOGRAM_SLOTS + slot;
    const layout = this.#view?.layout;
    return (this.#retiredSlots[i] ?? 0) + (layout === undefined ? 0 : (this.#total[layout.histogram + i] as number));
  }

  /** The duration sum of row `row`, in µs, since the server started. */
  sumMicros(row: number): number {
    const view = this.#view;
    return (this.#retiredSums[row] ?? 0) + (view === null || row > view.layout.routes ? 0 : view.sumMicros(row));
  }

  /** A header counter word since the server started. */
  counter(word: number): number {
    return (this.#retiredHeader.get(word) ?? 0) + (this.#view === null ? 0 : (this.#total[word] as number));
  }

  /** A gauge word of the isolate now in the seat (0 without one). */
  gauge(word: number): number {
    return this.#view?.word(word) ?? 0;
  }

  /** Histogram rows (routes + 1), or 0 before any isolate reported. */
  get rows(): number {
    return this.#view === null ? this.#retiredSums.length : this.#view.layout.routes + 1;
  }
}

function grow(from: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const to = new Float64Array(length);
  to.set(from);
  return to;
}

/** One isolate's seat, as the exposition sees it. */
export interface SeatMetrics {
  readonly kind: 'pinned' | 'pooled';
  readonly index: number;
  /** Whether an isolate serves in the seat now (gauges are read only from those). */
  readonly serving: boolean;
  readonly counts: SeatCounts;
  /** Pooled isolates: tasks the isolate holds, running or queued, and its task slots. */
  readonly tasks?: number;
  readonly slots?: number;
}

/** Requests no route took are labelled with this route. */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * Counters by label, independent of route IDs: what a generation of isolates counted, kept when
 * a reload replaces it (the next generation may number its routes differently), plus the live
 * generation's at scrape time.
 */
export class CounterTotals {
  readonly requests = new Map<string, { labels: Labels; count: number }>();
  readonly histograms = new Map<string, { slots: number[]; sum: number }>();
  shed = 0;
  timedOut = 0;
  unlabelled = 0;
  dropped = 0;
  restartsPinned = 0;
  restartsPooled = 0;

  /** Adds what `seats` counted, their rows labelled by `routes` (the routes of their generation). */
  addSeats(seats: readonly SeatMetrics[], routes: readonly RouteInfo[], restarts: { readonly pinned: number; readonly pooled: number }): void {
    const routeOf = (row: number, rows: number): string => (row === rows - 1 ? UNMATCHED_ROUTE : (routes[row]?.path ?? UNMATCHED_ROUTE));
    // Requests are counted by the pinned workers, which answer every request, pooled ones
    // included; routes that share a path share a label.
    for (const seat of seats) {
      this.dropped += seat.counts.counter(M_TOPIC_DROPPED);
      if (seat.kind !== 'pinned') continue;
      const { counts } = seat;
      const rows = counts.rows;
      counts.requests((key, count) => {
        const { row, method, status } = unpackKey(key);
        this.#addRequests([['method', METHOD_LABELS[method] ?? 'other'], ['route', routeOf(row, rows)], ['status', String(status)]], count);
      });
      for (let row = 0; row < rows; row++) {
        const slots = Array.from({ length: HISTOGRAM_SLOTS }, (_, slot) => counts.slot(row, slot));
        this.#addHistogram(routeOf(row, rows), slots, counts.sumMicros(row) / 1e6);
      }
      this.shed += counts.counter(M_SHED);
      this.timedOut += counts.counter(M_TIMED_OUT);
      this.unlabelled += counts.counter(M_UNLABELLED);
    }
    this.restartsPinned += restarts.pinned;
    this.restartsPooled += restarts.pooled;
  }

  /** Adds another set of totals (a retired generation's). */
  addTotals(other: CounterTotals): void {
    for (const { labels, count } of other.requests.values()) this.#addRequests(labels, count);
    for (const [route, { slots, sum }] of other.histograms) this.#addHistogram(route, slots, sum);
    this.shed += other.shed;
    this.timedOut += other.timedOut;
    this.unlabelled += other.unlabelled;
    this.dropped += other.dropped;
    this.restartsPinned += other.restartsPinned;
    this.restartsPooled += other.restartsPooled;
  }

  #addRequests(labels: Labels, count: number): void {
    const id = labelText(labels);
    const entry = this.requests.get(id);
    if (entry === undefined) this.requests.set(id, { labels, count });
    else entry.count += count;
  }

  #addHistogram(route: string, slots: readonly number[], sum: number): void {
    const entry = this.histograms.get(route);
    if (entry === undefined) {
      this.histograms.set(route, { slots: [...slots], sum });
      return;
    }
    for (let slot = 0; slot < HISTOGRAM_SLOTS; slot++) entry.slots[slot]! += slots[slot] as number;
    entry.sum += sum;
  }
}

export interface MetricsSource {
  /** Every counter: the serving generation's and those of generations a reload replaced. */
  readonly totals: CounterTotals;
  /** The seats of the generations that serve now (a reload's old one while it drains, too), for the gauges. */
  readonly seats: readonly SeatMetrics[];
  /** `process_start_time_seconds`: when the process started, in seconds since the epoch. */
  readonly startTime: number;
}

/** The exposition of every metric, in the Prometheus text format. */
export function renderMetrics(source: MetricsSource): string {
  const out = new Exposition();
  const { totals } = source;

  out.family('http_requests_total', 'counter', 'Requests answered, by method, route (the pattern that matched) and status.');
  for (const { labels, count } of [...totals.requests.values()].sort((a, b) => compareLabels(a.labels, b.labels))) out.sample('http_requests_total', labels, count);

  out.family('http_request_duration_seconds', 'histogram', 'Time from a request\'s arrival to its response being handed to the connection, by route.');
  // Only routes that answered something: an app's every route times 17 lines would bury the rest.
  const observed = [...totals.histograms].filter(([, { slots }]) => slots.some((n) => n > 0));
  for (const [route, { slots, sum }] of observed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let cumulative = 0;
    for (let slot = 0; slot < HISTOGRAM_SLOTS; slot++) {
      cumulative += slots[slot] as number;
      const le = slot < DURATION_BUCKETS.length ? String(DURATION_BUCKETS[slot]) : '+Inf';
      out.sample('http_request_duration_seconds_bucket', [['route', route], ['le', le]], cumulative);
    }
    out.sample('http_request_duration_seconds_sum', [['route', route]], sum);
    out.sample('http_request_duration_seconds_count', [['route', route]], cumulative);
  }

  const live = source.seats.filter((seat) => seat.serving);
  const pinned = live.filter((s) => s.kind === 'pinned');
  out.family('http_requests_in_flight', 'gauge', 'Requests received and not yet answered.');
  out.sample('http_requests_in_flight', [], sum(pinned, (s) => s.counts.gauge(M_IN_FLIGHT)));

  out.family('fasterapi_requests_shed_total', 'counter', 'Requests answered 503 because a pinned worker (maxInFlight) or the pool was full.');
  out.sample('fasterapi_requests_shed_total', [], totals.shed);
  out.family('fasterapi_requests_timed_out_total', 'counter', 'Requests answered 504 because a handler or hook ran past its timeout.');
  out.sample('fasterapi_requests_timed_out_total', [], totals.timedOut);
  out.family('fasterapi_requests_unlabelled_total', 'counter', 'Requests left out of http_requests_total because a worker had more label sets than its table holds.');
  out.sample('fasterapi_requests_unlabelled_total', [], totals.unlabelled);

  out.family('fasterapi_open_connections', 'gauge', 'Open connections by protocol (a WebSocket over HTTP/1.1 also counts as its http/1.1 connection).');
  CONNECTION_PROTOCOLS.forEach((protocol, i) => out.sample('fasterapi_open_connections', [['protocol', protocol]], sum(pinned, (s) => s.counts.gauge(M_OPEN + i))));

  out.family('fasterapi_isolate_restarts_total', 'counter', 'Isolates replaced after a crash, an exit or the watchdog, by kind.');
  out.sample('fasterapi_isolate_restarts_total', [['kind', 'pinned']], totals.restartsPinned);
  out.sample('fasterapi_isolate_restarts_total', [['kind', 'pooled']], totals.restartsPooled);

  const pooled = live.filter((s) => s.kind === 'pooled');
  out.family('fasterapi_pool_queue_depth', 'gauge', 'Pooled tasks waiting for a free task slot, over every pooled isolate.');
  out.sample('fasterapi_pool_queue_depth', [], sum(pooled, (s) => Math.max(0, (s.tasks ?? 0) - (s.slots ?? 0))));
  out.family('fasterapi_pool_tasks', 'gauge', 'Tasks the pooled isolates hold, running or queued, by isolate.');
  const tasks = new Map<number, number>();
  for (const seat of pooled) tasks.set(seat.index, (tasks.get(seat.index) ?? 0) + (seat.tasks ?? 0));
  for (const [index, held] of [...tasks].sort(([a], [b]) => a - b)) out.sample('fasterapi_pool_tasks', [['index', String(index)]], held);

  out.family('fasterapi_topic_messages_dropped_total', 'counter', 'Published WebSocket messages dropped because another isolate\'s bounded queue was full.');
  out.sample('fasterapi_topic_messages_dropped_total', [], totals.dropped);

  // Per isolate: while a reload's old generation drains, both generations' isolates are listed,
  // and the gauges of one index are those of whichever serves — the new generation's are last.
  const perIsolate = new Map<string, SeatMetrics>();
  for (const seat of live) perIsolate.set(`${seat.kind} ${seat.index}`, seat);
  const isolateLabels = (seat: SeatMetrics): Labels => [['kind', seat.kind], ['index', String(seat.index)]];
  out.family('fasterapi_event_loop_utilization', 'gauge', 'Share of the last second each isolate\'s event loop was busy (0 to 1).');
  for (const seat of perIsolate.values()) out.sample('fasterapi_event_loop_utilization', isolateLabels(seat), seat.counts.gauge(M_LOOP_UTILISATION) / 1e6);
  out.family('fasterapi_event_loop_delay_seconds', 'gauge', 'Event-loop delay of each isolate over the last second: median, 99th percentile and maximum.');
  for (const seat of perIsolate.values()) {
    for (const [stat, word] of [['p50', M_LOOP_DELAY_P50], ['p99', M_LOOP_DELAY_P99], ['max', M_LOOP_DELAY_MAX]] as const) {
      out.sample('fasterapi_event_loop_delay_seconds', [...isolateLabels(seat), ['stat', stat]], seat.counts.gauge(word) / 1e6);
    }
  }
  out.family('fasterapi_isolate_heap_used_bytes', 'gauge', 'V8 heap in use in each isolate, sampled every second.');
  for (const seat of perIsolate.values()) out.sample('fasterapi_isolate_heap_used_bytes', isolateLabels(seat), seat.counts.gauge(M_HEAP_KIB) * 1024);

  const memory = process.memoryUsage();
  out.family('process_resident_memory_bytes', 'gauge', 'Resident memory of the whole process, every isolate included.');
  out.sample('process_resident_memory_bytes', [], memory.rss);
  out.family('fasterapi_supervisor_heap_used_bytes', 'gauge', 'V8 heap in use on the main thread (the supervisor).');
  out.sample('fasterapi_supervisor_heap_used_bytes', [], memory.heapUsed);
  const cpu = process.cpuUsage();
  out.family('process_cpu_seconds_total', 'counter', 'User and system CPU time of the whole process, every thread included.');
  out.sample('process_cpu_seconds_total', [], (cpu.user + cpu.system) / 1e6);
  out.family('process_start_time_seconds', 'gauge', 'When the server started, in seconds since the Unix epoch.');
  out.sample('process_start_time_seconds', [], source.startTime);
  return out.text();
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += value(item);
  return total;
}

type Labels = ReadonlyArray<readonly [string, string]>;

/** A label value as the text format needs it: backslash, double quote and line feed escaped. */
function escapeValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

function labelText(labels: Labels): string {
  return labels.length === 0 ? '' : `{${labels.map(([name, value]) => `${name}="${escapeValue(value)}"`).join(',')}}`;
}

function compareLabels(a: Labels, b: Labels): number {
  const x = labelText(a);
  const y = labelText(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Help text as the format needs it: backslash and line feed escaped. */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: Labels, value: number): void {
    this.#lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }

  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return String(value);
}
