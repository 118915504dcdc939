/**
 * The supervisor's half for the pooled executor: makes the shared memory (topology.ts), starts
 * the pooled isolates, replaces any that crashes or gets stuck, and tells the pinned workers.
 *
 *   crash:  isolate exits ──► pinned workers told `down` (its tasks answer 503)
 *           ──► fresh rings for its column, generation + 1 ──► respawn after a backoff
 *           ──► same route check ──► pinned workers told `up` with the new rings and generation
 *           (a respawn that fails is `down` too, and is retried with a longer backoff)
 *   stuck:  the watchdog sees an isolate inside one handler's synchronous code longer than that
 *           route's timeout, or its event loop blocked (a stale heartbeat) longer than
 *           `handlerTimeout` (isolate-state.ts) ──► terminates it ──► as for a crash
 *
 * Generations make the messages idempotent: a pinned worker that starts while a replacement is
 * booting links to the new rings at once, and ignores the `up` that follows for the same
 * generation.
 */

import { Worker } from 'node:worker_threads';
import type { RouteInfo } from '../app/app.ts';
import type { ResolvedOptions } from '../config/options.ts';
import { describeThrown } from '../core/describe.ts';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';
import { IsolateState } from '../executor/isolate-state.ts';
import type { FromPooled, ToPooled } from '../executor/messages.ts';
import { PoolTopology, slotsPerIsolate, type PoolLinkData, type PooledIsolateData, type RingPair } from '../executor/topology.ts';
import { RestartBackoff, routeMismatch, sameRoutes, terminateStuck, waitFor, WATCHDOG_INTERVAL_MS, type StartError } from './worker-lifecycle.ts';

const POOLED_URL = new URL(`../executor/pooled-isolate${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** How long a pooled isolate's onShutdown hooks may take, in ms. */
const SHUTDOWN_HOOKS_MS = 5_000;

export interface PoolEvents {
  /**
   * Generation `generation` of isolate `index` is gone (or never started); its tasks will never
   * be answered. `reason` is null for a replacement that failed to start.
   */
  down(index: number, generation: number, threadId: number, reason: string | null): void;
  /** Isolate `index` serves again as `generation`, on fresh rings (by pinned index). */
  up(index: number, generation: number, threadId: number, column: readonly RingPair[]): void;
}

interface PooledSlot {
  readonly index: number;
  worker: Worker | null;
  threadId: number;
  ready: boolean;
  readyAt: number;
  readonly backoff: RestartBackoff;
  restartTimer: NodeJS.Timeout | null;
  /** Why the supervisor itself terminated it (watchdog), for the log line. */
  killedFor: string | null;
  /** Goes up with every replacement, with the fresh rings (see PoolLinkData.generations). */
  generation: number;
  /** A replacement is starting: its failure is handled by `#replace`, not `#onExit`. */
  replacing: boolean;
}

export class PoolSupervisor {
  readonly #appUrl: string;
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  readonly #events: PoolEvents;
  readonly #slots: PooledSlot[];
  /** Task slots of each isolate (N split over M). */
  readonly taskSlots: readonly number[];
  /** Every ring, doorbell and state word of the pool. */
  readonly #topology: PoolTopology;
  readonly #state: IsolateState;
  #routes: readonly RouteInfo[] = [];
  #started = false;
  #watchdog: NodeJS.Timeout | null = null;
  #closed = false;
  /** Isolates lost while serving (each is replaced). */
  #restarts = 0;

  constructor(appUrl: string, options: ResolvedOptions, pinnedCount: number, log: Logger, events: PoolEvents) {
    this.#appUrl = appUrl;
    this.#options = options;
    this.#log = log;
    this.#events = events;
    const isolates = options.pooledIsolates;
    this.taskSlots = slotsPerIsolate(options.pooledWorkers, isolates);
    this.#topology = new PoolTopology(pinnedCount, isolates, options.poolRingSize);
    this.#state = new IsolateState(this.#topology.state, this.#topology.epoch);
    this.#slots = Array.from({ length: isolates }, (_, index) => ({
      index,
      worker: null,
      threadId: -1,
      ready: false,
      readyAt: 0,
      backoff: new RestartBackoff(),
      restartTimer: null,
      killedFor: null,
      generation: 0,
      replacing: false,
    }));
  }

  /** Isolates lost while serving and replaced (or being replaced). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Thread ids of the pooled isolates serving now. */
  get threadIds(): number[] {
    return this.#slots.flatMap((slot) => (slot.ready ? [slot.threadId] : []));
  }

  /** The shared memory pinned worker `i` uses to reach the pool. */
  linkFor(i: number): PoolLinkData {
    const topology = this.#topology;
    return {
      pinnedIndex: i,
      rings: topology.row(i),
      // An isolate that is starting (at startup, or replacing a dead one) already reads these rings.
      available: this.#slots.map((slot) => slot.worker !== null),
      generations: this.#slots.map((slot) => slot.generation),
      doorbells: topology.doorbells,
      pinnedCount: topology.pinnedCount,
      state: topology.state,
      epoch: topology.epoch,
      slots: this.taskSlots,
      queueLimit: this.#options.poolQueueLimit,
      pollWindowMs: this.#options.poolPoll / 1000,
    };
  }

  /** Starts every isolate; resolves with the route table each one built. */
  async start(deadline: number): Promise<Result<Array<readonly RouteInfo[]>, StartError>> {
    const booted = await Promise.all(this.#slots.map((slot) => this.#boot(slot, deadline)));
    const failed = booted.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) return failed;
    return ok(booted.map((r) => (r.ok ? r.value : [])));
  }

  /** Marks the isolates ready once the supervisor has checked their tables against `routes`. */
  serving(routes: readonly RouteInfo[]): void {
    this.#routes = routes;
    this.#started = true;
    for (const slot of this.#slots) {
      slot.readyAt = Date.now();
      if (slot.worker !== null) slot.ready = true;
      // It exited between reporting its routes and now: pinned workers were told it exists.
      else this.#lost(slot, slot.threadId, 'exited while the server was starting');
    }
    this.#watchdog = setInterval(() => this.#watch(), WATCHDOG_INTERVAL_MS);
    this.#watchdog.unref();
  }

  /** Pinned worker `i` is being replaced: fresh rings for its row, and every isolate switches to them. */
  renewPinned(i: number): void {
    const row = this.#topology.renewRow(i);
    for (const slot of this.#slots) {
      slot.worker?.postMessage({ type: 'pinned-rings', pinned: i, rings: row[slot.index] as RingPair } satisfies ToPooled);
    }
  }

  /**
   * Stops every isolate. `graceful`: each runs the app's onShutdown hooks first (at most
   * `SHUTDOWN_HOOKS_MS`); otherwise (a failed start) they are terminated at once.
   */
  async close(graceful = false): Promise<void> {
    this.#closed = true;
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    await Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (worker === null) return;
        if (graceful && slot.ready) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              worker.off('message', onMessage);
              worker.off('exit', done);
              resolve();
            };
            const onMessage = (message: FromPooled): void => {
              if (message.type === 'stopped') done();
            };
            const timer = setTimeout(done, SHUTDOWN_HOOKS_MS);
            worker.on('message', onMessage);
            worker.once('exit', done);
            worker.postMessage({ type: 'stop' } satisfies ToPooled);
          });
        }
        await worker.terminate();
      }),
    );
  }

  async #boot(slot: PooledSlot, deadline: number): Promise<Result<readonly RouteInfo[], StartError>> {
    const topology = this.#topology;
    const data: PooledIsolateData = {
      index: slot.index,
      appUrl: this.#appUrl,
      logLevel: this.#options.logLevel,
      rings: topology.column(slot.index),
      doorbells: topology.doorbells,
      pinnedCount: topology.pinnedCount,
      state: topology.state,
      epoch: topology.epoch,
      slots: this.taskSlots[slot.index] as number,
      queueLimit: this.#options.poolQueueLimit,
      handlerTimeout: this.#options.handlerTimeout,
      exposeErrors: this.#options.exposeErrors,
      pollWindowMs: this.#options.poolPoll / 1000,
    };
    const limit = this.#options.poolMemoryLimit;
    const worker = new Worker(POOLED_URL, {
      workerData: data,
      name: `fasterapi-pooled-${slot.index}`,
      ...(limit > 0 ? { resourceLimits: { maxOldGenerationSizeMb: limit } } : {}),
    });
    slot.worker = worker;
    slot.threadId = worker.threadId;
    slot.ready = false;
    slot.killedFor = null;
    const threadId = worker.threadId;
    // What the isolate died of: an uncaught throw of the app's may be any value at all.
    let crash: unknown = null;
    worker.on('error', (error: unknown) => {
      crash = error;
    });
    worker.on('exit', (code) => this.#onExit(slot, worker, threadId, code, crash));
    const reply = await waitFor(worker, 'routes', deadline, `pooled isolate ${slot.index}`);
    if (!reply.ok) return reply;
    return ok(reply.value.routes);
  }

  #onExit(slot: PooledSlot, worker: Worker, threadId: number, code: number, crash: unknown): void {
    if (slot.worker !== worker) return;
    slot.ready = false;
    slot.worker = null;
    // During startup, start() sees the exit; during a replacement, #replace does.
    if (this.#closed || slot.replacing || !this.#started) return;
    const reason =
      slot.killedFor ??
      (crash === null ? `exited with code ${code}` : `crashed: ${describeThrown(crash)}`);
    this.#lost(slot, threadId, reason);
  }

  /** The isolate is gone: tell the pinned workers, and replace it after a backoff. */
  #lost(slot: PooledSlot, threadId: number, reason: string): void {
    this.#restarts++;
    const delay = slot.backoff.next(Date.now() - slot.readyAt);
    this.#log.warn(
      `↻ Pooled isolate ${slot.index} (thread ${threadId}) ${reason}; its tasks in flight answer 503; replacing it in ${delay} ms`,
    );
    this.#events.down(slot.index, slot.generation, threadId, reason);
    this.#scheduleReplace(slot, delay);
  }

  #scheduleReplace(slot: PooledSlot, delay: number): void {
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      void this.#replace(slot);
    }, delay);
  }

  async #replace(slot: PooledSlot): Promise<void> {
    if (this.#closed) return;
    // Fresh rings and state: nothing half-written by the old isolate is read by the new one.
    const column = this.#topology.renewColumn(slot.index);
    slot.generation++;
    slot.replacing = true;
    const booted = await this.#boot(slot, Date.now() + this.#options.startupTimeout);
    slot.replacing = false;
    if (this.#closed) return;
    const outcome: Result<unknown, StartError> = !booted.ok
      ? booted
      : sameRoutes(booted.value, this.#routes)
        ? ok(undefined)
        : err(routeMismatch(`pooled isolate ${slot.index}`, this.#routes, booted.value));
    if (outcome.ok) {
      slot.ready = true;
      slot.readyAt = Date.now();
      this.#log.info(`✓ Pooled isolate ${slot.index} replaced (thread ${slot.threadId})`);
      this.#events.up(slot.index, slot.generation, slot.threadId, column);
      return;
    }
    const delay = slot.backoff.next(0);
    this.#log.error(`✗ Pooled isolate ${slot.index} failed to start: ${outcome.error.message}; retrying in ${delay} ms`);
    const failed = slot.worker;
    slot.worker = null;
    await failed?.terminate();
    // Pinned workers that started meanwhile may have linked to this generation's rings.
    this.#events.down(slot.index, slot.generation, slot.threadId, null);
    this.#scheduleReplace(slot, delay);
  }

  /**
   * Replaces isolates stuck in a handler's synchronous code past that route's timeout, and
   * isolates whose event loop has been blocked (no heartbeat) longer than the timeouts of the
   * tasks they run — CPU-bound code after an `await` is not inside `invoke()`, but it stops the
   * heartbeat. A route with `timeout: 0` is never cut.
   */
  #watch(): void {
    terminateStuck(this.#slots, this.#state, this.#routes);
  }
}
