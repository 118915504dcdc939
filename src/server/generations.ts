/**
 * Generations of isolates, for a reload without downtime (SIGHUP, `server.reload()`, `--watch`).
 *
 *   generation n serves ──► reload: start generation n + 1 (every isolate imports the app
 *                           afresh) and have its pinned workers listen beside n's (SO_REUSEPORT
 *                           puts both in the port's group; in acceptor mode n + 1 takes over the
 *                           acceptor) ──► n + 1 serves; n stops accepting and drains as at a
 *                           shutdown, without the shutdown delay ──► n's counts join the history
 *                        └► n + 1 fails to load, an onStartup hook throws, or its isolates build
 *                           different route tables: it is stopped, the error is logged, n serves on
 *
 * One reload at a time: a reload asked for while one runs follows it (a burst of file changes
 * makes at most one more). Probes and readiness are the serving generation's; metrics add the
 * generations that are draining or gone (metrics.ts, `CounterTotals`), so counters never go back.
 */

import { routeLabel, type RouteInfo } from '../app/app.ts';
import type { Logger } from '../core/log.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, ok, type Result } from '../core/result.ts';
import type { HealthReport } from './health.ts';
import { CounterTotals, renderMetrics, type SeatMetrics } from './metrics.ts';
import type { StartError, Supervisor } from './supervisor.ts';

export interface Reloaded {
  /** The generation now serving (the first is 1). */
  readonly generation: number;
  /** Its routes, and what changed from the generation before. */
  readonly routes: readonly RouteInfo[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

const SHUTTING_DOWN: StartError = { code: ErrorCode.RELOAD, message: 'the server is shutting down' };

export class Generations {
  #current: Supervisor;
  #number = 1;
  readonly #make: () => Supervisor;
  readonly #log: Logger;
  /** Generations that a reload replaced and that are still draining. */
  readonly #draining = new Set<Supervisor>();
  /** What replaced generations counted, by label. */
  readonly #history = new CounterTotals();
  /** The reload running now, and any that waits behind it. */
  #queue: Promise<unknown> = Promise.resolve();
  #waiting: Promise<Result<Reloaded, StartError>> | null = null;
  #closing: Promise<void> | null = null;

  constructor(first: Supervisor, make: () => Supervisor, log: Logger) {
    this.#current = first;
    this.#make = make;
    this.#log = log;
  }

  get current(): Supervisor {
    return this.#current;
  }

  get generation(): number {
    return this.#number;
  }

  /** Liveness and readiness: the serving generation's. */
  health(): HealthReport {
    return this.#current.health();
  }

  /** Isolates replaced since the server started, in every generation. */
  get restarts(): { pinned: number; pooled: number } {
    const totals = this.#totals();
    return { pinned: totals.restartsPinned, pooled: totals.restartsPooled };
  }

  /** The Prometheus exposition of every generation's counts and the serving isolates' gauges. */
  metricsText(): string {
    const seats: SeatMetrics[] = [];
    const totals = this.#totals(seats);
    return renderMetrics({ totals, seats, startTime: Math.round(performance.timeOrigin / 1000) });
  }

  #totals(seats: SeatMetrics[] = []): CounterTotals {
    const totals = new CounterTotals();
    totals.addTotals(this.#history);
    for (const generation of [...this.#draining, this.#current]) {
      const own = generation.seatMetrics();
      totals.addSeats(own, generation.routes, generation.restarts);
      seats.push(...own);
    }
    return totals;
  }

  /**
   * Starts a new generation and, once all of it listens, drains the old one. Resolves with the
   * new generation, or with why it was refused (the old one serves on). Never rejects.
   */
  reload(): Promise<Result<Reloaded, StartError>> {
    if (this.#closing !== null) return Promise.resolve(err(SHUTTING_DOWN));
    // A reload already waiting behind the running one will import the app as it is by then.
    if (this.#waiting !== null) return this.#waiting;
    const next = this.#queue.then(() => {
      this.#waiting = null;
      return this.#reloadNow();
    });
    this.#waiting = next;
    this.#queue = next.catch(() => {});
    return next;
  }

  async #reloadNow(): Promise<Result<Reloaded, StartError>> {
    if (this.#closing !== null) return err(SHUTTING_DOWN);
    const old = this.#current;
    const number = this.#number + 1;
    this.#log.info(`↻ Reloading: starting generation ${number} beside generation ${this.#number}`);
    const next = this.#make();
    let started: Result<void, StartError>;
    try {
      started = await next.start(old);
    } catch (thrown) {
      // A thread that could not even be made (out of file descriptors): nothing of it may linger.
      await next.close({ delay: false });
      started = err({ code: ErrorCode.WORKER_START, message: `the new generation could not start: ${(thrown as Error)?.message ?? String(thrown)}` });
    }
    if (!started.ok) {
      this.#log.error(`✗ Reload refused, generation ${this.#number} serves on: generation ${number} did not start: ${started.error.message}`);
      return err(started.error);
    }
    if (this.#closing !== null) {
      // It holds the listening sockets now: it goes down as the serving generation would.
      await next.close();
      return err(SHUTTING_DOWN);
    }
    this.#current = next;
    this.#number = number;
    const before = new Set(old.routes.map(routeLabel));
    const after = new Set(next.routes.map(routeLabel));
    const added = [...after].filter((r) => !before.has(r));
    const removed = [...before].filter((r) => !after.has(r));
    const change = added.length + removed.length === 0 ? 'the same routes' : [...added.map((r) => `+ ${r}`), ...removed.map((r) => `- ${r}`)].join(', ');
    this.#log.info(`✓ Reloaded: generation ${number} serves (${next.routes.length} routes: ${change}); generation ${number - 1} drains`);
    this.#retire(old);
    return ok({ generation: number, routes: next.routes, added, removed });
  }

  /** Drains a replaced generation; its counts join the history once its isolates are gone. */
  #retire(old: Supervisor): void {
    this.#draining.add(old);
    void old.close({ delay: false }).then(() => {
      this.#history.addSeats(old.seatMetrics(), old.routes, old.restarts);
      this.#draining.delete(old);
    });
  }

  /** Shuts every generation down: the serving one with the shutdown delay, draining ones as they are. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      // The serving generation turns unready at once; a reload under way stops its new generation.
      const serving = this.#current.close();
      await this.#queue;
      await Promise.all([serving, ...[...this.#draining].map((generation) => generation.close({ delay: false }))]);
    })());
  }
}
