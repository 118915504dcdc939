/**
 * What others can see of an isolate without asking it: how loaded it is (pinned workers pick the
 * least-loaded pooled isolate, and shed load when all are full) and whether it is stuck in
 * synchronous code (the supervisor's watchdog, for pooled isolates and pinned workers alike).
 * Layout in layout.ts; each word is written only by the isolate it describes, with
 * `Atomics.store`, and read with `Atomics.load`, so a reader on another thread never sees a torn
 * or stale-forever value.
 */

import { ISOLATE_BUSY_LIMIT, ISOLATE_BUSY_ROUTE, ISOLATE_BUSY_SINCE, ISOLATE_HEARTBEAT, ISOLATE_LOAD, ISOLATE_LOOP_LIMIT, ISOLATE_STATE_STRIDE } from './layout.ts';

/** How often an isolate's event loop stamps its heartbeat, in ms. */
export const HEARTBEAT_MS = 50;

/**
 * Starts isolate `index`'s heartbeat on this thread's event loop: stamped now, then every
 * `HEARTBEAT_MS`. The timer does not keep the thread alive.
 */
export function startHeartbeat(state: IsolateState, index: number): void {
  state.heartbeat(index);
  setInterval(() => state.heartbeat(index), HEARTBEAT_MS).unref();
}

export function createIsolateState(isolates: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, isolates) * ISOLATE_STATE_STRIDE * Int32Array.BYTES_PER_ELEMENT);
}

export class IsolateState {
  readonly #words: Int32Array;
  /** `Date.now()` when the state was created; busy times are stored relative to it (fits 24 days in an Int32, and wraps safely). */
  readonly #epoch: number;

  /** The busy limit and route this thread last stored, per index (see `enterHandler`). */
  readonly #lastLimit: Int32Array;
  readonly #lastRoute: Int32Array;

  constructor(buffer: SharedArrayBuffer, epoch: number) {
    this.#words = new Int32Array(buffer);
    this.#epoch = epoch;
    const isolates = this.#words.length / ISOLATE_STATE_STRIDE;
    this.#lastLimit = new Int32Array(isolates);
    this.#lastRoute = new Int32Array(isolates);
  }

  // ── written by isolate `index` only ──

  /**
   * The load as a plain store, with no fence: for a count updated on every request (a pinned
   * worker's requests in flight) that readers need only eventually — the watchdog reads it
   * after the worker has been stuck for a whole timeout, long after any store is visible.
   * (A plain Int32 store is never torn; the JS memory model lets a racing reader see it late,
   * never a mix.)
   */
  setLoadRelaxed(index: number, load: number): void {
    this.#words[index * ISOLATE_STATE_STRIDE + ISOLATE_LOAD] = load;
  }

  setLoad(index: number, load: number): void {
    Atomics.store(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_LOAD, load);
  }

  /** The isolate enters the synchronous part of route `routeId`'s handler, whose timeout is `limitMs`. */
  enterHandler(index: number, limitMs: number, routeId = -1): void {
    const base = index * ISOLATE_STATE_STRIDE;
    // The limit and route are stored first: a watchdog that sees `busySince` (seq-cst, like every
    // Atomics operation) also sees the limit and route that go with it. They are stored only when
    // they change (the writer's own last values, kept locally), so a run of requests to one route
    // costs one store in and one out; only the isolate itself writes them, and its replacement
    // starts with words cleared by `reset` and a fresh cache.
    if (this.#lastLimit[index] !== limitMs) {
      Atomics.store(this.#words, base + ISOLATE_BUSY_LIMIT, limitMs);
      this.#lastLimit[index] = limitMs;
    }
    if (this.#lastRoute[index] !== routeId + 1) {
      Atomics.store(this.#words, base + ISOLATE_BUSY_ROUTE, routeId + 1);
      this.#lastRoute[index] = routeId + 1;
    }
    Atomics.store(this.#words, base + ISOLATE_BUSY_SINCE, this.#now() | 1);
  }

  leaveHandler(index: number): void {
    Atomics.store(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_BUSY_SINCE, 0);
  }

  /** How long the event loop may stay blocked outside a handler's synchronous part, in ms; 0: no limit. */
  setLoopLimit(index: number, limitMs: number): void {
    Atomics.store(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_LOOP_LIMIT, limitMs);
  }

  /** Proof of life from the isolate's event loop (called from a timer there). */
  heartbeat(index: number): void {
    Atomics.store(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_HEARTBEAT, this.#now() | 1);
  }

  /** Clears an isolate's words, for its replacement (the supervisor, before the new one starts). */
  reset(index: number): void {
    const base = index * ISOLATE_STATE_STRIDE;
    Atomics.store(this.#words, base + ISOLATE_LOAD, 0);
    Atomics.store(this.#words, base + ISOLATE_BUSY_SINCE, 0);
    Atomics.store(this.#words, base + ISOLATE_BUSY_LIMIT, 0);
    Atomics.store(this.#words, base + ISOLATE_HEARTBEAT, 0);
    Atomics.store(this.#words, base + ISOLATE_LOOP_LIMIT, 0);
    Atomics.store(this.#words, base + ISOLATE_BUSY_ROUTE, 0);
  }

  /** ms since the epoch, as an Int32 that wraps after 24.8 days; differences stay right. */
  #now(): number {
    return (Date.now() - this.#epoch) | 0;
  }

  // ── read by anyone ──

  load(index: number): number {
    return Atomics.load(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_LOAD);
  }

  /** The route ID whose handler's synchronous part the isolate is in, or -1. */
  busyRoute(index: number): number {
    return Atomics.load(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_BUSY_ROUTE) - 1;
  }

  /** ms since the isolate's event loop last stamped its heartbeat; -1 before its first stamp. */
  heartbeatAge(index: number): number {
    const stamp = Atomics.load(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_HEARTBEAT);
    return stamp === 0 ? -1 : (this.#now() - stamp) | 0;
  }

  /** Whether the isolate is in the synchronous part of a handler. */
  inHandler(index: number): boolean {
    return Atomics.load(this.#words, index * ISOLATE_STATE_STRIDE + ISOLATE_BUSY_SINCE) !== 0;
  }

  /**
   * How far past its limit the isolate's current synchronous handler has run, in ms; 0 or less
   * when it is not in one or still within its limit (a limit of 0 means no limit).
   */
  overrun(index: number): number {
    const base = index * ISOLATE_STATE_STRIDE;
    const since = Atomics.load(this.#words, base + ISOLATE_BUSY_SINCE);
    if (since === 0) return 0;
    const limit = Atomics.load(this.#words, base + ISOLATE_BUSY_LIMIT);
    if (limit === 0) return 0;
    // `| 0` keeps the difference right across the Int32 wrap of the clock.
    const elapsed = (this.#now() - since) | 0;
    return elapsed - limit;
  }

  /**
   * How far past its limit the isolate's event loop has been blocked outside a handler's
   * synchronous part (no heartbeat), in ms; 0 or less when it is not, when it is inside a
   * handler's synchronous part (`overrun` judges that), or when the limit is 0.
   */
  loopOverrun(index: number): number {
    const base = index * ISOLATE_STATE_STRIDE;
    if (Atomics.load(this.#words, base + ISOLATE_BUSY_SINCE) !== 0) return 0;
    const limit = Atomics.load(this.#words, base + ISOLATE_LOOP_LIMIT);
    const stamp = Atomics.load(this.#words, base + ISOLATE_HEARTBEAT);
    if (limit === 0 || stamp === 0) return 0;
    return ((this.#now() - stamp) | 0) - limit;
  }
}
