/**
 * The supervisor, on the main thread: starts the pinned workers, checks that they all built the
 * same route table, gets them listening, restarts any that die, and shuts them down gracefully.
 * It never handles a request; in acceptor mode it only accepts sockets and hands them over.
 *
 *   start:   spawn N ──► each imports the app, reports its routes ──► compare tables
 *            ──► worker 0 binds the port (port 0 → a free one) ──► workers 1..N-1 bind the same
 *            port with SO_REUSEPORT  (acceptor mode: the supervisor binds; workers just wait)
 *   crash:   worker exits unexpectedly ──► log ──► respawn after a backoff ──► same checks ──► listen
 *   close:   shutdown to every worker ──► each drains within the grace period ──► exits
 */

import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { routeLabel, type RouteInfo } from '../app/app.ts';
import type { ResolvedOptions } from '../config/options.ts';
import { ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';
import { listen } from './listen.ts';
import type { FromWorker, ListenMode, PinnedWorkerData, ToWorker } from './messages.ts';

/**
 * Worker lifecycle events on `node:diagnostics_channel`, for logs, metrics and tests:
 * `fasterapi:worker:ready` when a worker starts serving (also after a restart) and
 * `fasterapi:worker:exit` when one exits unexpectedly. The message is a `WorkerEvent`.
 */
export const workerReadyChannel = diagnostics.channel('fasterapi:worker:ready');
export const workerExitChannel = diagnostics.channel('fasterapi:worker:exit');

export interface WorkerEvent {
  readonly kind: 'pinned';
  readonly index: number;
  readonly threadId: number;
  /** The port the server listens on, which tells servers in one process apart. */
  readonly port: number;
  /** Exit code, for `fasterapi:worker:exit`. */
  readonly exitCode?: number;
}

export interface StartError {
  readonly code: ErrorCode;
  readonly message: string;
}

const WORKER_URL = new URL(`./pinned-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** Restart backoff: doubles from the first value while a worker keeps dying young. */
const RESTART_BACKOFF_MS = [100, 10_000] as const;
/** A worker that served at least this long resets the backoff when it dies. */
const HEALTHY_UPTIME_MS = 5_000;

interface Slot {
  readonly index: number;
  worker: Worker | null;
  /** Listening and counted in acceptor round-robin. */
  ready: boolean;
  readyAt: number;
  backoff: number;
  restartTimer: NodeJS.Timeout | null;
}

export class Supervisor {
  readonly #appUrl: string;
  readonly #options: ResolvedOptions;
  readonly #mode: ListenMode;
  readonly #log: Logger;
  readonly #slots: Slot[];
  #routes: readonly RouteInfo[] = [];
  #port = 0;
  #acceptor: net.Server | null = null;
  #nextAcceptor = 0;
  #closing: Promise<void> | null = null;

  constructor(appUrl: string, options: ResolvedOptions, mode: ListenMode, log: Logger) {
    this.#appUrl = appUrl;
    this.#options = options;
    this.#mode = mode;
    this.#log = log;
    this.#slots = Array.from({ length: options.pinnedWorkers }, (_, index) => ({
      index,
      worker: null,
      ready: false,
      readyAt: 0,
      backoff: RESTART_BACKOFF_MS[0],
      restartTimer: null,
    }));
  }

  get routes(): readonly RouteInfo[] {
    return this.#routes;
  }
  get port(): number {
    return this.#port;
  }
  /** Thread ids of the pinned workers currently serving. */
  get threadIds(): number[] {
    return this.#slots.flatMap((slot) => (slot.ready && slot.worker !== null ? [slot.worker.threadId] : []));
  }

  /** Starts every pinned worker and the listeners; on failure nothing is left running. */
  async start(): Promise<Result<void, StartError>> {
    const deadline = Date.now() + this.#options.startupTimeout;
    const loaded = await Promise.all(this.#slots.map((slot) => this.#boot(slot, deadline)));
    const failed = loaded.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) return this.#abort(failed.error);

    const tables = loaded.map((r) => (r.ok ? r.value : []));
    this.#routes = tables[0] ?? [];
    const mismatch = tables.findIndex((table) => !sameRoutes(table, this.#routes));
    if (mismatch !== -1) return this.#abort(routeMismatch(mismatch, this.#routes, tables[mismatch] ?? []));

    if (this.#mode === 'acceptor') {
      const acceptor = net.createServer({ pauseOnConnect: true }, (socket) => this.#handOver(socket));
      const bound = await listen(acceptor, this.#options.host, this.#options.port, false);
      if (!bound.ok) return this.#abort(bound.error);
      this.#acceptor = acceptor;
      this.#port = bound.value;
      const listening = await Promise.all(this.#slots.map((slot) => this.#listen(slot, deadline)));
      const failedListen = listening.find((r) => !r.ok);
      if (failedListen !== undefined && !failedListen.ok) return this.#abort(failedListen.error);
      return ok(undefined);
    }

    // reusePort: the first worker binds the requested port (0 → a free one); the others join it.
    const [first, ...rest] = this.#slots;
    if (first === undefined) return ok(undefined);
    this.#port = this.#options.port;
    const firstBound = await this.#listen(first, deadline);
    if (!firstBound.ok) return this.#abort(firstBound.error);
    this.#port = firstBound.value;
    const others = await Promise.all(rest.map((slot) => this.#listen(slot, deadline)));
    const failedOther = others.find((r) => !r.ok);
    if (failedOther !== undefined && !failedOther.ok) return this.#abort(failedOther.error);
    return ok(undefined);
  }

  /** Graceful shutdown: every worker drains within the grace period, then exits. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    this.#acceptor?.close();
    const grace = this.#options.gracePeriod;
    await Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (worker === null) return;
        if (!slot.ready) {
          await worker.terminate();
          return;
        }
        slot.ready = false;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.on('message', (message: FromWorker) => {
          if (message.type !== 'drained') return;
          if (message.forced > 0) {
            this.#log.warn(`Pinned worker ${slot.index}: ${message.forced} connection(s) cut at the end of the grace period`);
          }
          // Its connections are gone; timers a handler left behind must not keep the thread alive.
          void worker.terminate();
        });
        post(worker, { type: 'shutdown', graceMs: grace });
        // The worker cuts what is left at the end of the grace period; this is the backstop.
        const backstop = setTimeout(() => void worker.terminate(), grace + 2_000);
        await exited;
        clearTimeout(backstop);
      }),
    );
  }

  async #abort(error: StartError): Promise<Result<void, StartError>> {
    this.#closing = Promise.resolve();
    this.#acceptor?.close();
    await Promise.all(this.#slots.map((slot) => slot.worker?.terminate()));
    return err(error);
  }

  /** Spawns the slot's worker and waits for its route table. */
  async #boot(slot: Slot, deadline: number): Promise<Result<readonly RouteInfo[], StartError>> {
    const data: PinnedWorkerData = {
      index: slot.index,
      appUrl: this.#appUrl,
      logLevel: this.#options.logLevel,
      bodyLimit: this.#options.bodyLimit,
      tls: this.#options.tls,
      limits: {
        keepAliveTimeout: this.#options.keepAliveTimeout,
        headersTimeout: this.#options.headersTimeout,
        requestTimeout: this.#options.requestTimeout,
        sessionIdleTimeout: this.#options.sessionIdleTimeout,
        handshakeTimeout: this.#options.headersTimeout,
        maxConcurrentStreams: this.#options.maxConcurrentStreams,
      },
    };
    const worker = new Worker(WORKER_URL, { workerData: data, name: `fasterapi-pinned-${slot.index}` });
    slot.worker = worker;
    slot.ready = false;
    // `worker.threadId` reads -1 once the thread has exited, so it is kept for the exit log.
    const threadId = worker.threadId;
    worker.on('exit', (code) => this.#onExit(slot, worker, threadId, code));
    // An uncaught error outside a handler: the worker dies; the stack is logged here, the restart
    // happens on 'exit'.
    worker.on('error', (error: Error) => {
      if (slot.ready) this.#log.error(`✗ Pinned worker ${slot.index} (thread ${threadId}) crashed: ${error.stack ?? error.message}`);
    });
    const reply = await waitFor(worker, 'routes', deadline, slot.index);
    if (!reply.ok) return reply;
    return ok(reply.value.routes);
  }

  async #listen(slot: Slot, deadline: number): Promise<Result<number, StartError>> {
    const worker = slot.worker;
    if (worker === null) return err({ code: ErrorCode.WORKER_START, message: `pinned worker ${slot.index} is not running` });
    post(worker, { type: 'listen', mode: this.#mode, host: this.#options.host, port: this.#port });
    const reply = await waitFor(worker, 'listening', deadline, slot.index);
    if (!reply.ok) return reply;
    slot.ready = true;
    slot.readyAt = Date.now();
    if (workerReadyChannel.hasSubscribers) {
      workerReadyChannel.publish({ kind: 'pinned', index: slot.index, threadId: worker.threadId, port: reply.value.port } satisfies WorkerEvent);
    }
    return ok(reply.value.port);
  }

  #onExit(slot: Slot, worker: Worker, threadId: number, code: number): void {
    if (slot.worker !== worker) return;
    const wasReady = slot.ready;
    slot.ready = false;
    slot.worker = null;
    if (this.#closing !== null || !wasReady) return;
    if (workerExitChannel.hasSubscribers) {
      workerExitChannel.publish({ kind: 'pinned', index: slot.index, threadId, port: this.#port, exitCode: code } satisfies WorkerEvent);
    }
    if (Date.now() - slot.readyAt >= HEALTHY_UPTIME_MS) slot.backoff = RESTART_BACKOFF_MS[0];
    this.#log.warn(
      `↻ Pinned worker ${slot.index} (thread ${threadId}) exited with code ${code}; restarting in ${slot.backoff} ms (the other workers keep serving)`,
    );
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    const delay = slot.backoff;
    slot.backoff = Math.min(slot.backoff * 2, RESTART_BACKOFF_MS[1]);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      void this.#restart(slot);
    }, delay);
  }

  async #restart(slot: Slot): Promise<void> {
    if (this.#closing !== null) return;
    const deadline = Date.now() + this.#options.startupTimeout;
    const booted = await this.#boot(slot, deadline);
    let outcome: Result<number, StartError>;
    if (!booted.ok) outcome = booted;
    else if (!sameRoutes(booted.value, this.#routes)) outcome = err(routeMismatch(slot.index, this.#routes, booted.value));
    else outcome = await this.#listen(slot, deadline);
    if (this.#closing !== null) return;
    if (outcome.ok) {
      this.#log.info(`✓ Pinned worker ${slot.index} restarted (thread ${slot.worker?.threadId})`);
      return;
    }
    this.#log.error(`✗ Pinned worker ${slot.index} failed to restart: ${outcome.error.message}; retrying in ${slot.backoff} ms`);
    const failed = slot.worker;
    slot.worker = null;
    slot.ready = false;
    await failed?.terminate();
    this.#scheduleRestart(slot);
  }

  /** Acceptor mode: round-robin each accepted socket to a worker that is serving. */
  #handOver(socket: net.Socket): void {
    const count = this.#slots.length;
    for (let tries = 0; tries < count; tries++) {
      const slot = this.#slots[this.#nextAcceptor++ % count] as Slot;
      if (!slot.ready || slot.worker === null) continue;
      try {
        slot.worker.postMessage({ type: 'connection', socket } satisfies ToWorker, [socket as never]);
        return;
      } catch (thrown) {
        this.#log.debug(`socket hand-over to pinned worker ${slot.index} failed: ${(thrown as Error).message}`);
        if (socket.destroyed) return;
      }
    }
    socket.destroy();
  }
}

function post(worker: Worker, message: ToWorker): void {
  worker.postMessage(message);
}

/**
 * Waits for the worker's next lifecycle message of `type`. A `failed` message, an early exit, an
 * uncaught error or the deadline end the wait with an error instead.
 */
function waitFor<T extends FromWorker['type']>(
  worker: Worker,
  type: T,
  deadline: number,
  index: number,
): Promise<Result<Extract<FromWorker, { type: T }>, StartError>> {
  return new Promise((resolve) => {
    let lastError: Error | null = null;
    const done = (result: Result<Extract<FromWorker, { type: T }>, StartError>): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      resolve(result);
    };
    const onMessage = (message: FromWorker): void => {
      if (message.type === type) done(ok(message as Extract<FromWorker, { type: T }>));
      else if (message.type === 'failed') done(err({ code: message.code, message: message.message }));
    };
    const onError = (error: Error): void => {
      lastError = error;
    };
    const onExit = (code: number): void =>
      done(
        err({
          code: ErrorCode.WORKER_START,
          message: `pinned worker ${index} exited with code ${code} while starting${lastError === null ? '' : `: ${lastError.stack ?? lastError.message}`}`,
        }),
      );
    const timer = setTimeout(
      () =>
        done(
          err({
            code: ErrorCode.WORKER_START,
            message: `pinned worker ${index} did not start within the startup timeout (is the app module waiting on something at load time?)`,
          }),
        ),
      Math.max(0, deadline - Date.now()),
    );
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

function sameRoutes(a: readonly RouteInfo[], b: readonly RouteInfo[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function routeMismatch(index: number, expected: readonly RouteInfo[], got: readonly RouteInfo[]): StartError {
  const show = (routes: readonly RouteInfo[]): string => routes.map((r) => `${routeLabel(r)}#${r.id}`).join(', ') || '(none)';
  return {
    code: ErrorCode.ROUTE_TABLE_MISMATCH,
    message:
      `pinned worker ${index} built a different route table from worker 0; routes must be registered the same way ` +
      `in every isolate (at module level, not depending on timing or randomness).\n  worker 0: ${show(expected)}\n  worker ${index}: ${show(got)}`,
  };
}
