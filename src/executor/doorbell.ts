/**
 * Waking a consumer thread that has nothing to do, without a syscall while it is busy.
 *
 * Each consumer thread (a pinned worker reading its response rings, a pooled isolate reading its
 * request rings) owns one doorbell word. Any of its producers may ring it.
 *
 *     state  AWAKE ──park()──► PARKED ──ring() by a producer──► AWAKE (+ Atomics.notify)
 *                         ◄──unpark() by the consumer itself──┘
 *
 * Consumer: read every ring; when all are empty, `park()` (store PARKED), then check the rings
 * once more, and only if they are still empty `wait()` (or, on a thread with nothing else to run,
 * `block()`). Producer: publish the records (store of the ring's tail), then `ring()`: load the state, and only if it is PARKED, compareExchange it to
 * AWAKE and notify.
 *
 * Why no wake-up is lost: both sides store, then load the other side's word, with sequentially
 * consistent Atomics. Either the consumer's re-check sees the new tail, or the producer's load
 * sees PARKED, or both. If the producer wins the compareExchange before the consumer reaches
 * `Atomics.waitAsync(state, PARKED)`, the value is no longer PARKED and the wait returns at once.
 * Two producers ringing together: one compareExchange succeeds and notifies, the other sees
 * AWAKE and does nothing. Under load the consumer never parks, so producers only pay one load.
 *
 * `Atomics.waitAsync` does not keep a thread's event loop alive; the threads that wait here are
 * kept alive by their `parentPort` listener.
 */

import { DOORBELL_STRIDE } from './layout.ts';

const AWAKE = 0;
const PARKED = 1;

/** A SharedArrayBuffer with `count` doorbells, each on its own cache line. */
export function createDoorbells(count: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, count) * DOORBELL_STRIDE * Int32Array.BYTES_PER_ELEMENT);
}

export class Doorbell {
  readonly #state: Int32Array;
  readonly #index: number;

  /** `consumer`: which consumer thread's doorbell in `buffer` this is. */
  constructor(buffer: SharedArrayBuffer, consumer: number) {
    this.#state = new Int32Array(buffer);
    this.#index = consumer * DOORBELL_STRIDE;
    if (this.#index >= this.#state.length) throw new RangeError(`doorbell ${consumer} is outside the buffer`);
  }

  // ── consumer side ──

  /** Announces that the consumer is about to wait. Check the rings again after this. */
  park(): void {
    Atomics.store(this.#state, this.#index, PARKED);
  }

  /** The consumer found work after `park()` and will not wait. */
  unpark(): void {
    Atomics.store(this.#state, this.#index, AWAKE);
  }

  /** Resolves once a producer has rung (at once if one already has since `park()`). */
  wait(timeoutMs = Infinity): Promise<void> {
    const result = Atomics.waitAsync(this.#state, this.#index, PARKED, timeoutMs);
    if (!result.async) {
      Atomics.store(this.#state, this.#index, AWAKE);
      return Promise.resolve();
    }
    return result.value.then(() => {
      Atomics.store(this.#state, this.#index, AWAKE);
    });
  }

  /**
   * After `park()`: blocks this thread until a producer rings or `timeoutMs` passes; returns
   * false only when the time passed (true at once if a producer rang since `park()`). Only for a
   * thread with nothing else to run: its event loop stands still meanwhile.
   */
  block(timeoutMs: number): boolean {
    const result = Atomics.wait(this.#state, this.#index, PARKED, timeoutMs);
    Atomics.store(this.#state, this.#index, AWAKE);
    return result !== 'timed-out';
  }

  // ── producer side ──

  /** Wakes the consumer if it is parked. Call after committing a record. */
  ring(): void {
    if (Atomics.load(this.#state, this.#index) !== PARKED) return;
    if (Atomics.compareExchange(this.#state, this.#index, PARKED, AWAKE) === PARKED) {
      // Every waiter: the consumer may have a `block()` and an older `wait()` on the word at once.
      Atomics.notify(this.#state, this.#index);
    }
  }
}
