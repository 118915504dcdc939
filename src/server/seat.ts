/**
 * A seat: the place of one isolate in a supervisor, pinned worker or pooled isolate, which
 * outlives the threads that fill it. Both supervisors keep one seat per isolate and share through
 * it what starting, losing and replacing a thread involves:
 *
 *   boot ──► routes ──► serving ──► lost (crash, exit, watchdog) ──► replaceIn(backoff)
 *                                                  ▲                        │
 *                                                  └── failed: retry with a ◄┘
 *                                                      longer backoff
 *
 * An exit while the thread is starting is not a loss: whoever waits for it to start (`boot`,
 * through `waitFor`) sees it. Only a thread that was serving is reported to `onLost`. The
 * backoff doubles while threads in this seat keep dying young (worker-lifecycle.ts).
 */

import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { RouteInfo } from '../app/app.ts';
import { ok, type Result } from '../core/result.ts';
import { SeatCounts } from './metrics.ts';
import { RestartBackoff, waitFor, type StartError } from './worker-lifecycle.ts';

/** How a serving thread ended. */
export interface Loss {
  readonly threadId: number;
  readonly exitCode: number;
  /** What it threw, if it died of an uncaught error (any value at all); null otherwise. */
  readonly crash: unknown;
}

/** What a supervisor does to replace a seat's thread. */
export interface Replacement {
  /**
   * Starts a thread in the seat and waits until it serves. Resolves with null once it does (or
   * when the server is closing and nothing is to be done), or with why it failed.
   */
  start(): Promise<StartError | null>;
  /** The replacement failed and is retried in `retryMs`; its thread is terminated right after this. */
  failed(error: StartError, retryMs: number): void;
}

export class Seat {
  readonly index: number;
  /** Names the seat in messages: "pinned worker 1". */
  readonly label: string;
  worker: Worker | null = null;
  /** The seated thread's id, kept: `worker.threadId` reads -1 once the thread has exited. */
  threadId = -1;
  /** Serving (for a pinned worker: listening, and counted in acceptor round-robin). */
  ready = false;
  readyAt = 0;
  /** Why the watchdog terminated the seated thread, for the log line; null when it did not. */
  killedFor: string | null = null;
  /** What the seat's isolates counted (their metrics memory), across replacements. */
  readonly counts = new SeatCounts();
  readonly #backoff = new RestartBackoff();
  #replaceTimer: NodeJS.Timeout | null = null;

  constructor(index: number, label: string) {
    this.index = index;
    this.label = label;
  }

  /**
   * Starts a thread from `url` in the seat and waits for its route table. If the thread exits
   * after it has served, `onLost` hears of it (once, and only while it is still this seat's).
   */
  async boot(url: URL, options: WorkerOptions, deadline: number, onLost: (loss: Loss) => void): Promise<Result<readonly RouteInfo[], StartError>> {
    const worker = new Worker(url, options);
    this.worker = worker;
    this.threadId = worker.threadId;
    this.ready = false;
    this.killedFor = null;
    const threadId = worker.threadId;
    // What the thread died of: an uncaught throw of the app's may be any value at all.
    let crash: unknown = null;
    worker.on('error', (error: unknown) => {
      crash = error;
    });
    worker.on('exit', (exitCode) => {
      if (this.worker !== worker) return;
      const wasServing = this.ready;
      this.worker = null;
      this.ready = false;
      if (wasServing) onLost({ threadId, exitCode, crash });
    });
    const reply = await waitFor(worker, 'routes', deadline, this.label);
    if (!reply.ok) return reply;
    this.counts.adopt(reply.value.metrics);
    return ok(reply.value.routes);
  }

  /** The seated thread serves from now on. */
  serving(): void {
    this.ready = true;
    this.readyAt = Date.now();
  }

  /** The delay before replacing a thread just lost: it doubles while threads here die young. */
  lossDelay(): number {
    return this.#backoff.next(Date.now() - this.readyAt);
  }

  /** Replaces the seat's thread after `delay` ms, and again, with a longer backoff, while that fails. */
  replaceIn(delay: number, replacement: Replacement): void {
    this.#replaceTimer = setTimeout(() => {
      this.#replaceTimer = null;
      void this.#replace(replacement);
    }, delay);
  }

  async #replace(replacement: Replacement): Promise<void> {
    const error = await replacement.start();
    if (error === null) return;
    const retryMs = this.#backoff.next(0);
    replacement.failed(error, retryMs);
    await this.evict();
    this.replaceIn(retryMs, replacement);
  }

  /** A replacement waiting for its delay is not made (the server is closing). */
  cancelReplacement(): void {
    if (this.#replaceTimer !== null) clearTimeout(this.#replaceTimer);
    this.#replaceTimer = null;
  }

  /** Terminates the seated thread, if any, and empties the seat; its exit is no loss. */
  async evict(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.ready = false;
    await worker?.terminate();
  }
}
