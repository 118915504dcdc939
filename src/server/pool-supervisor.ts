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

import os from 'node:os';
import type { RouteInfo } from '../app/app.ts';
import type { ResolvedOptions } from '../config/options.ts';
import { describeThrown } from '../core/describe.ts';
import type { Logger } from '../core/log.ts';
import { ok, type Result } from '../core/result.ts';
import { IsolateState } from '../executor/isolate-state.ts';
import { seatHealth, type IsolateHealth } from './health.ts';
import type { SeatMetrics } from './metrics.ts';
import type { FromPooled, ToPooled } from '../executor/messages.ts';
import { spinCapFor } from '../executor/spin.ts';
import type { TopicBusTopology, TopicPeerUpdate } from '../executor/topic-topology.ts';
import { PoolTopology, slotsPerIsolate, type PoolLinkData, type PooledIsolateData, type RingPair } from '../executor/topology.ts';
import { Seat, type Loss } from './seat.ts';
import { routeMismatch, sameRoutes, startWatchdog, type StartError } from './worker-lifecycle.ts';

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
  /** Isolate `index` is being replaced on fresh topic rings: each pinned worker must hear of them (by pinned index). */
  topicsRenewed(updates: ReadonlyArray<TopicPeerUpdate | null>): void;
}

/** A pooled isolate's seat, with the generation of its column of rings. */
class PooledSeat extends Seat {
  /** Goes up with every replacement, with the fresh rings (see PoolLinkData.generations). */
  generation = 0;
}

export class PoolSupervisor {
  readonly #appUrl: string;
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  readonly #events: PoolEvents;
  readonly #seats: PooledSeat[];
  /** Task slots of each isolate (N split over M). */
  readonly taskSlots: readonly number[];
  /** The longest spin before parking, for every isolate on the rings (executor/spin.ts), µs. */
  readonly spinCapUs: number;
  /** Every ring, doorbell and state word of the pool. */
  readonly #topology: PoolTopology;
  readonly #state: IsolateState;
  #routes: readonly RouteInfo[] = [];
  #watchdog: NodeJS.Timeout | null = null;
  #closed = false;
  /** Isolates lost while serving (each is replaced). */
  #restarts = 0;

  /** The topic bus's shared memory, the supervisor's (it renews pinned workers' parts). */
  readonly #topics: TopicBusTopology;

  constructor(appUrl: string, options: ResolvedOptions, pinnedCount: number, log: Logger, events: PoolEvents, topics: TopicBusTopology) {
    this.#appUrl = appUrl;
    this.#topics = topics;
    this.#options = options;
    this.#log = log;
    this.#events = events;
    const isolates = options.pooledIsolates;
    this.taskSlots = slotsPerIsolate(options.pooledWorkers, isolates);
    this.spinCapUs = spinCapFor(options.poolPoll, os.availableParallelism(), pinnedCount + isolates);
    this.#topology = new PoolTopology(pinnedCount, isolates, options.poolRingSize);
    this.#state = new IsolateState(this.#topology.state, this.#topology.epoch);
    this.#seats = Array.from({ length: isolates }, (_, index) => new PooledSeat(index, `pooled isolate ${index}`));
  }

  /** Isolates lost while serving and replaced (or being replaced). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Each pooled isolate's counts and load, for the metrics. */
  metrics(): SeatMetrics[] {
    return this.#seats.map((seat) => ({
      kind: 'pooled',
      index: seat.index,
      serving: seat.ready,
      counts: seat.counts,
      tasks: this.#state.load(seat.index),
      slots: this.taskSlots[seat.index] as number,
    }));
  }

  /** Each pooled isolate's liveness (health.ts). */
  health(): IsolateHealth[] {
    return this.#seats.map((seat) => seatHealth('pooled', seat, this.#state));
  }

  /** Thread ids of the pooled isolates serving now. */
  get threadIds(): number[] {
    return this.#seats.flatMap((seat) => (seat.ready ? [seat.threadId] : []));
  }

  /** The shared memory pinned worker `i` uses to reach the pool. */
  linkFor(i: number): PoolLinkData {
    const topology = this.#topology;
    return {
      pinnedIndex: i,
      rings: topology.row(i),
      // An isolate that is starting (at startup, or replacing a dead one) already reads these rings.
      available: this.#seats.map((seat) => seat.worker !== null),
      generations: this.#seats.map((seat) => seat.generation),
      doorbells: topology.doorbells,
      pinnedCount: topology.pinnedCount,
      state: topology.state,
      epoch: topology.epoch,
      slots: this.taskSlots,
      queueLimit: this.#options.poolQueueLimit,
      spinCapUs: this.spinCapUs,
    };
  }

  /** Starts every isolate; resolves with the route table each one built. */
  async start(deadline: number): Promise<Result<Array<readonly RouteInfo[]>, StartError>> {
    const booted = await Promise.all(this.#seats.map((seat) => this.#boot(seat, deadline)));
    const failed = booted.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) return failed;
    return ok(booted.map((r) => (r.ok ? r.value : [])));
  }

  /** Marks the isolates ready once the supervisor has checked their tables against `routes`. */
  serving(routes: readonly RouteInfo[]): void {
    this.#routes = routes;
    for (const seat of this.#seats) {
      if (seat.worker !== null) seat.serving();
      // It exited between reporting its routes and now: pinned workers were told it exists.
      else this.#lost(seat, seat.threadId, 'exited while the server was starting');
    }
    this.#watchdog = startWatchdog(this.#seats, this.#state, this.#routes);
  }

  /** Pinned worker `i` is being replaced: fresh rings for its row, and every isolate switches to them. */
  renewPinned(i: number): void {
    const row = this.#topology.renewRow(i);
    for (const seat of this.#seats) {
      seat.worker?.postMessage({ type: 'pinned-rings', pinned: i, rings: row[seat.index] as RingPair } satisfies ToPooled);
    }
  }

  /** Participant `update.peer` of the topic bus was renewed: pooled isolate `j` publishes to it on fresh rings. */
  topicPeerRenewed(j: number, update: TopicPeerUpdate): void {
    this.#seats[j]?.worker?.postMessage({ type: 'topic-peer', update } satisfies ToPooled);
  }

  /**
   * Stops every isolate. `graceful`: each lets its `req.after()` work finish (at most `graceMs`,
   * what is left of the grace period once the pinned workers have drained) and runs the app's onShutdown hooks (at most `SHUTDOWN_HOOKS_MS`) first; otherwise (a
   * failed start) they are terminated at once.
   */
  async close(graceful = false, graceMs = this.#options.gracePeriod): Promise<void> {
    this.#closed = true;
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    await Promise.all(
      this.#seats.map(async (seat) => {
        seat.cancelReplacement();
        const worker = seat.worker;
        if (worker === null) return;
        if (graceful && seat.ready) {
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
            const timer = setTimeout(done, graceMs + SHUTDOWN_HOOKS_MS);
            worker.on('message', onMessage);
            worker.once('exit', done);
            worker.postMessage({ type: 'stop', graceMs } satisfies ToPooled);
          });
        }
        await worker.terminate();
      }),
    );
  }

  #boot(seat: PooledSeat, deadline: number): Promise<Result<readonly RouteInfo[], StartError>> {
    const topology = this.#topology;
    const data: PooledIsolateData = {
      index: seat.index,
      appUrl: this.#appUrl,
      logLevel: this.#options.logLevel,
      logFormat: this.#options.logFormat,
      rings: topology.column(seat.index),
      doorbells: topology.doorbells,
      pinnedCount: topology.pinnedCount,
      state: topology.state,
      epoch: topology.epoch,
      slots: this.taskSlots[seat.index] as number,
      queueLimit: this.#options.poolQueueLimit,
      handlerTimeout: this.#options.handlerTimeout,
      exposeErrors: this.#options.exposeErrors,
      spinCapUs: this.spinCapUs,
      topics: this.#topics.forPooled(seat.index),
    };
    const limit = this.#options.poolMemoryLimit;
    const options = {
      workerData: data,
      name: `fasterapi-pooled-${seat.index}`,
      ...(limit > 0 ? { resourceLimits: { maxOldGenerationSizeMb: limit } } : {}),
    };
    return seat.boot(POOLED_URL, options, deadline, (loss) => this.#onLost(seat, loss));
  }

  #onLost(seat: PooledSeat, { threadId, exitCode, crash }: Loss): void {
    if (this.#closed) return;
    const reason = seat.killedFor ?? (crash === null ? `exited with code ${exitCode}` : `crashed: ${describeThrown(crash)}`);
    this.#lost(seat, threadId, reason);
  }

  /** The isolate is gone: tell the pinned workers, and replace it after a backoff. */
  #lost(seat: PooledSeat, threadId: number, reason: string): void {
    this.#restarts++;
    const delay = seat.lossDelay();
    this.#log.warn(
      `↻ Pooled isolate ${seat.index} (thread ${threadId}) ${reason}; its tasks in flight answer 503; replacing it in ${delay} ms`,
    );
    this.#events.down(seat.index, seat.generation, threadId, reason);
    seat.replaceIn(delay, {
      start: () => this.#replace(seat),
      failed: (error, retryMs) => {
        this.#log.error(`✗ Pooled isolate ${seat.index} failed to start: ${error.message}; retrying in ${retryMs} ms`);
        // Pinned workers that started meanwhile may have linked to this generation's rings.
        this.#events.down(seat.index, seat.generation, seat.threadId, null);
      },
    });
  }

  /** Starts a replacement on a fresh column of rings; null once it serves (or the pool is closed). */
  async #replace(seat: PooledSeat): Promise<StartError | null> {
    if (this.#closed) return null;
    // Fresh rings and state: nothing half-written by the old isolate is read by the new one.
    const column = this.#topology.renewColumn(seat.index);
    seat.generation++;
    this.#events.topicsRenewed(this.#topics.renewPooled(seat.index));
    const booted = await this.#boot(seat, Date.now() + this.#options.startupTimeout);
    if (this.#closed) return null;
    if (!booted.ok) return booted.error;
    if (!sameRoutes(booted.value, this.#routes)) return routeMismatch(seat.label, this.#routes, booted.value);
    seat.serving();
    this.#log.info(`✓ Pooled isolate ${seat.index} replaced (thread ${seat.threadId})`);
    this.#events.up(seat.index, seat.generation, seat.threadId, column);
    return null;
  }
}
