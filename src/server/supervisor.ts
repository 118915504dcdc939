/**
 * The supervisor, on the main thread: starts the pinned workers (and, through PoolSupervisor,
 * the pooled isolates), checks that every isolate built the same route table, gets the pinned
 * workers listening, restarts any that dies, and shuts everything down gracefully. It never
 * handles a request; in acceptor mode it only accepts sockets and hands them over.
 *
 *   start:   spawn P pinned + M pooled ──► each imports the app, reports its routes ──► compare
 *            ──► the supervisor checks the port is free ──► pinned 0 binds it (port 0 → a free
 *            one) ──► pinned 1..P-1 bind the same port with SO_REUSEPORT
 *            (acceptor mode: the supervisor binds; pinned workers just wait for sockets)
 *   crash:   a pinned worker exits ──► log ──► fresh pool rings for it ──► respawn after a
 *            backoff ──► same checks ──► listen
 *   stuck:   the watchdog sees a pinned worker's event loop blocked past the running handler's
 *            timeout (isolate-state.ts) ──► terminates it, which closes its listening socket
 *            (the kernel stops handing it connections) and cuts its requests ──► as for a crash
 *   close:   shutdown to every pinned worker ──► each drains within the grace period ──► then
 *            the pooled isolates, whose tasks all belonged to drained requests, are stopped
 */

import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import type { RouteInfo } from '../app/app.ts';
import type { ResolvedOptions } from '../config/options.ts';
import { ErrorCode } from '../core/errors.ts';
import { describeThrown } from '../core/describe.ts';
import type { Logger } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';
import { listen } from './listen.ts';
import type { FromWorker, ListenMode, PinnedWorkerData, ToWorker } from './messages.ts';
import { createIsolateState, IsolateState } from '../executor/isolate-state.ts';
import { SAMPLE_MS } from '../executor/isolate-metrics.ts';
import { TopicBusTopology } from '../executor/topic-topology.ts';
import type { RingPair } from '../executor/topology.ts';
import { seatHealth, type HealthReport } from './health.ts';
import type { SeatMetrics } from './metrics.ts';
import { PoolSupervisor } from './pool-supervisor.ts';
import { Seat, type Loss } from './seat.ts';
import { routeMismatch, sameRoutes, startWatchdog, waitFor, type StartError } from './worker-lifecycle.ts';

export type { StartError } from './worker-lifecycle.ts';

/**
 * Isolate lifecycle events on `node:diagnostics_channel`, for logs, metrics and tests:
 * `fasterapi:worker:ready` when an isolate starts serving after a restart or replacement (and
 * each pinned worker at startup), `fasterapi:worker:exit` when one stops unexpectedly. The
 * message is a `WorkerEvent`.
 */
export const workerReadyChannel = diagnostics.channel('fasterapi:worker:ready');
export const workerExitChannel = diagnostics.channel('fasterapi:worker:exit');

export interface WorkerEvent {
  readonly kind: 'pinned' | 'pooled';
  readonly index: number;
  readonly threadId: number;
  /** The port the server listens on, which tells servers in one process apart. */
  readonly port: number;
  /** Exit code, for `fasterapi:worker:exit` of a pinned worker. */
  readonly exitCode?: number;
  /** Why it stopped, for `fasterapi:worker:exit` of a pooled isolate, and of a pinned worker the watchdog terminated. */
  readonly reason?: string;
}

const WORKER_URL = new URL(`./pinned-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** A pinned worker's seat, with what the watchdog cut when it terminated the worker. */
class PinnedSeat extends Seat {
  /** Requests in flight when the watchdog terminated it: all cut. */
  cut = 0;
}

export class Supervisor {
  readonly #appUrl: string;
  readonly #options: ResolvedOptions;
  readonly #mode: ListenMode;
  readonly #log: Logger;
  readonly #seats: PinnedSeat[];
  readonly #pool: PoolSupervisor | null;
  /** The topic bus's shared memory: WebSocket publish/subscribe between every isolate. */
  readonly #topics: TopicBusTopology;
  #routes: readonly RouteInfo[] = [];
  #port = 0;
  #acceptor: net.Server | null = null;
  #nextAcceptor = 0;
  #closing: Promise<void> | null = null;
  /** Every isolate started and every pinned worker listened once. */
  #started = false;
  /** Pinned workers lost while serving (each is restarted); pooled replacements are counted by the pool. */
  #pinnedRestarts = 0;
  /** Each pinned worker's heartbeat and running handler, written by the worker, read by the watchdog. */
  readonly #stateBuffer: SharedArrayBuffer;
  readonly #epoch = Date.now();
  readonly #state: IsolateState;
  #watchdog: NodeJS.Timeout | null = null;
  /** Reads every isolate's counter words once a second, so that none wraps unseen (metrics.ts). */
  #sampler: NodeJS.Timeout | null = null;

  constructor(appUrl: string, options: ResolvedOptions, mode: ListenMode, log: Logger) {
    this.#appUrl = appUrl;
    this.#options = options;
    this.#mode = mode;
    this.#log = log;
    this.#seats = Array.from({ length: options.pinnedWorkers }, (_, index) => new PinnedSeat(index, `pinned worker ${index}`));
    this.#stateBuffer = createIsolateState(options.pinnedWorkers);
    this.#state = new IsolateState(this.#stateBuffer, this.#epoch);
    this.#topics = new TopicBusTopology(options.pinnedWorkers, options.pooledWorkers === 0 ? 0 : options.pooledIsolates);
    this.#pool =
      options.pooledWorkers === 0
        ? null
        : new PoolSupervisor(appUrl, options, options.pinnedWorkers, log, {
            down: (index, generation, threadId, reason) => {
              this.#broadcast({ type: 'pool-isolate-down', index, generation });
              if (reason !== null) publish(workerExitChannel, { kind: 'pooled', index, threadId, port: this.#port, reason });
            },
            up: (index, generation, threadId, column) => {
              for (const seat of this.#seats) {
                seat.worker?.postMessage({
                  type: 'pool-isolate-up',
                  index,
                  generation,
                  rings: column[seat.index] as RingPair,
                } satisfies ToWorker);
              }
              publish(workerReadyChannel, { kind: 'pooled', index, threadId, port: this.#port });
            },
            topicsRenewed: (updates) => {
              for (const seat of this.#seats) {
                const update = updates[seat.index];
                if (update !== null && update !== undefined) seat.worker?.postMessage({ type: 'topic-peer', update } satisfies ToWorker);
              }
            },
          }, this.#topics);
  }

  get routes(): readonly RouteInfo[] {
    return this.#routes;
  }
  get port(): number {
    return this.#port;
  }
  /** Thread ids of the pinned workers currently serving. */
  get threadIds(): number[] {
    return this.#seats.flatMap((seat) => (seat.ready && seat.worker !== null ? [seat.worker.threadId] : []));
  }
  /** Thread ids of the pooled isolates currently serving. */
  get pooledThreadIds(): number[] {
    return this.#pool?.threadIds ?? [];
  }
  /** Isolates lost while serving and replaced (or being replaced), by kind. */
  get restarts(): { pinned: number; pooled: number } {
    return { pinned: this.#pinnedRestarts, pooled: this.#pool?.restarts ?? 0 };
  }
  /** Liveness and readiness, for the admin listener (health.ts). */
  health(): HealthReport {
    const isolates = [...this.#seats.map((seat) => seatHealth('pinned', seat, this.#state)), ...(this.#pool?.health() ?? [])];
    const listening = this.#seats.filter((seat) => seat.ready).length;
    const notReady =
      this.#closing !== null
        ? 'the server is stopping'
        : !this.#started
          ? 'the server is starting'
          : listening < this.#seats.length
            ? `${this.#seats.length - listening} of ${this.#seats.length} pinned workers are not listening (being restarted)`
            : null;
    return { live: isolates.every((isolate) => isolate.live), ready: notReady === null, notReady, isolates };
  }

  /** Every seat's metrics, pinned then pooled, each read just now. */
  seatMetrics(): SeatMetrics[] {
    const pinned = this.#seats.map((seat): SeatMetrics => ({ kind: 'pinned', index: seat.index, serving: seat.ready, counts: seat.counts }));
    const seats = [...pinned, ...(this.#pool?.metrics() ?? [])];
    for (const seat of seats) seat.counts.sample();
    return seats;
  }

  /** Task slots per pooled isolate. */
  get poolSlots(): readonly number[] {
    return this.#pool?.taskSlots ?? [];
  }

  /**
   * Starts every isolate and the listeners; on failure nothing is left running. `join`: a reload's
   * new generation, which listens beside the generation serving now — on its port, with
   * SO_REUSEPORT, or taking over its acceptor — so that connections never find the port closed.
   */
  async start(join: Supervisor | null = null): Promise<Result<void, StartError>> {
    const deadline = Date.now() + this.#options.startupTimeout;
    // The pool is spawned first: the pinned workers' link data lists the isolates that exist.
    const pooledStarting = this.#pool?.start(deadline) ?? Promise.resolve(ok([]));
    const [pinned, pooled] = await Promise.all([Promise.all(this.#seats.map((seat) => this.#boot(seat, deadline))), pooledStarting]);
    const failed = pinned.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) return this.#abort(failed.error);
    if (!pooled.ok) return this.#abort(pooled.error);

    const tables = pinned.map((r) => (r.ok ? r.value : []));
    this.#routes = tables[0] ?? [];
    const mismatch = tables.findIndex((table) => !sameRoutes(table, this.#routes));
    if (mismatch !== -1) return this.#abort(routeMismatch(`pinned worker ${mismatch}`, this.#routes, tables[mismatch] ?? []));
    const poolMismatch = pooled.value.findIndex((table) => !sameRoutes(table, this.#routes));
    if (poolMismatch !== -1) {
      return this.#abort(routeMismatch(`pooled isolate ${poolMismatch}`, this.#routes, pooled.value[poolMismatch] ?? []));
    }
    this.#pool?.serving(this.#routes);

    if (join !== null) {
      // A shutdown begun meanwhile keeps its sockets: the new generation would close them early.
      if (join.#closing !== null) return this.#abort({ code: ErrorCode.RELOAD, message: 'the server is shutting down' });
      this.#port = join.port;
      if (this.#mode === 'acceptor') {
        const listening = await this.#listenAll(this.#seats, deadline);
        if (listening.ok) this.#acceptor = join.#giveAcceptor(this);
        return this.#watchOnce(listening);
      }
      // Each pinned worker takes over the listening socket of the worker in its seat, so that
      // no connection waiting to be accepted is reset, as it would be if that socket closed.
      const given: Array<{ index: number; worker: Worker }> = [];
      const listening = await Promise.all(
        this.#seats.map((seat) => {
          const giver = join.#giveListener(seat.index);
          if (giver !== null) given.push({ index: seat.index, worker: giver.worker });
          return this.#listen(seat, deadline, giver?.port ?? null);
        }),
      );
      const failed = listening.find((r) => !r.ok);
      if (failed !== undefined && !failed.ok) {
        // The generation serving now gave its sockets to one that failed: the same workers bind fresh ones.
        for (const { index, worker } of given) join.#rebind(index, worker);
        return this.#abort(failed.error);
      }
      return this.#watchOnce(ok(undefined));
    }

    if (this.#mode === 'acceptor') {
      const acceptor = net.createServer({ pauseOnConnect: true }, (socket) => this.#handOver(socket));
      const bound = await listen(acceptor, this.#options.host, this.#options.port, false);
      if (!bound.ok) return this.#abort(bound.error);
      this.#acceptor = acceptor;
      this.#port = bound.value;
      return this.#watchOnce(await this.#listenAll(this.#seats, deadline));
    }

    // reusePort lets any other SO_REUSEPORT socket of this user share the port, silently
    // splitting its traffic with another server: a plain bind first proves the port is free.
    if (this.#options.port !== 0) {
      const probe = net.createServer();
      const free = await listen(probe, this.#options.host, this.#options.port, false);
      if (!free.ok) return this.#abort(free.error);
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    }
    // The first worker binds the requested port (0 → a free one); the others join it.
    const [first, ...rest] = this.#seats;
    if (first === undefined) return ok(undefined);
    this.#port = this.#options.port;
    const firstBound = await this.#listen(first, deadline);
    if (!firstBound.ok) return this.#abort(firstBound.error);
    this.#port = firstBound.value;
    return this.#watchOnce(await this.#listenAll(rest, deadline));
  }

  /**
   * Once every pinned worker serves, the watchdog starts looking for stuck ones, to replace
   * pinned workers stuck past their handler's timeout. A blocked event loop cannot be
   * interrupted from inside, and while it is blocked the kernel keeps handing new connections to
   * its listening socket (SO_REUSEPORT hashes them over every socket in the group), where they
   * would wait for nothing. Terminating the thread stops its JavaScript and closes its sockets:
   * from then on new connections reach the live workers only. What the worker had in flight is
   * cut, and so are connections still in its accept queue (the kernel resets them, unless
   * `net.ipv4.tcp_migrate_req` is 1, when it moves them to another worker).
   */
  #watchOnce(started: Result<void, StartError>): Result<void, StartError> {
    if (started.ok) this.#started = true;
    if (started.ok && this.#sampler === null) {
      this.#sampler = setInterval(() => void this.seatMetrics(), SAMPLE_MS);
      this.#sampler.unref();
    }
    if (started.ok && this.#watchdog === null) {
      this.#watchdog = startWatchdog(this.#seats, this.#state, this.#routes, (seat) => {
        seat.cut = this.#state.load(seat.index);
      });
    }
    return started;
  }

  /**
   * Graceful shutdown: readiness turns off at once; the workers go on serving for the shutdown
   * delay (load balancers that probe readiness stop sending meanwhile), then every pinned worker
   * drains within the grace period and exits. Idempotent. `delay: false` drains at once: a
   * reload's old generation, whose port the new one already serves.
   */
  close(options: { readonly delay?: boolean } = {}): Promise<void> {
    return (this.#closing ??= this.#delayThenShutdown(options.delay !== false));
  }

  async #delayThenShutdown(withDelay: boolean): Promise<void> {
    const delay = withDelay ? this.#options.shutdownDelay : 0;
    if (delay > 0 && this.#started) {
      this.#log.info(`Not ready: serving for ${delay} ms more (the shutdown delay), then draining`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    await this.#shutdown();
  }

  async #listenAll(seats: readonly PinnedSeat[], deadline: number): Promise<Result<void, StartError>> {
    const listening = await Promise.all(seats.map((seat) => this.#listen(seat, deadline)));
    const failed = listening.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) return this.#abort(failed.error);
    return ok(undefined);
  }

  async #shutdown(): Promise<void> {
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    if (this.#sampler !== null) clearInterval(this.#sampler);
    this.#acceptor?.close();
    const grace = this.#options.gracePeriod;
    const began = performance.now();
    const totals = { received: 0, unanswered: 0, forced: 0 };
    await Promise.all(
      this.#seats.map(async (seat) => {
        seat.cancelReplacement();
        const worker = seat.worker;
        if (worker === null) return;
        if (!seat.ready) {
          await worker.terminate();
          return;
        }
        seat.ready = false;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.on('message', (message: FromWorker) => {
          if (message.type !== 'drained') return;
          totals.received += message.received;
          totals.unanswered += message.unanswered;
          totals.forced += message.forced;
          if (message.forced > 0) {
            this.#log.warn(
              `Pinned worker ${seat.index}: ${message.forced} connection(s) cut at the end of the grace period, ${message.unanswered} request(s) unanswered`,
            );
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
    // The pooled isolates' req.after() work gets what is left of the grace period.
    await this.#pool?.close(true, Math.max(0, grace - (performance.now() - began)));
    this.#log.info(
      `Drained: ${totals.received} request(s) received by the serving workers since they started, ${totals.unanswered} unanswered, ${totals.forced} connection(s) cut`,
    );
  }

  async #abort(error: StartError): Promise<Result<void, StartError>> {
    this.#closing = Promise.resolve();
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#acceptor?.close();
    await Promise.all([...this.#seats.map((seat) => seat.worker?.terminate()), this.#pool?.close()]);
    return err(error);
  }

  /** Starts a worker in the seat and waits for its route table. */
  #boot(seat: PinnedSeat, deadline: number): Promise<Result<readonly RouteInfo[], StartError>> {
    const o = this.#options;
    const data: PinnedWorkerData = {
      index: seat.index,
      appUrl: this.#appUrl,
      logLevel: o.logLevel,
      logFormat: o.logFormat,
      accessLog: o.accessLog,
      bodyLimit: o.bodyLimit,
      tls: o.tls,
      limits: {
        keepAliveTimeout: o.keepAliveTimeout,
        headersTimeout: o.headersTimeout,
        requestTimeout: o.requestTimeout,
        sessionIdleTimeout: o.sessionIdleTimeout,
        maxConcurrentStreams: o.maxConcurrentStreams,
        maxHeaderSize: o.maxHeaderSize,
        maxHeaderCount: o.maxHeaderCount,
        maxUrlLength: o.maxUrlLength,
        maxSessionMemory: o.maxSessionMemory,
      },
      handlerTimeout: o.handlerTimeout,
      exposeErrors: o.exposeErrors,
      spillInFlight: o.spillInFlight,
      spillLoopDelay: o.spillLoopDelay,
      maxInFlight: o.maxInFlight,
      state: { buffer: this.#stateBuffer, epoch: this.#epoch },
      pool: this.#pool?.linkFor(seat.index) ?? null,
      topics: this.#topics.forPinned(seat.index),
    };
    // Nothing the last worker in this seat published may be read as this one's.
    this.#state.reset(seat.index);
    const options = { workerData: data, name: `fasterapi-pinned-${seat.index}` };
    return seat.boot(WORKER_URL, options, deadline, (loss) => this.#onLost(seat, loss));
  }

  async #listen(seat: PinnedSeat, deadline: number, from: MessagePort | null = null): Promise<Result<number, StartError>> {
    const worker = seat.worker;
    if (worker === null) return err({ code: ErrorCode.WORKER_START, message: `pinned worker ${seat.index} is not running` });
    if (from === null) post(worker, { type: 'listen', mode: this.#mode, host: this.#options.host, port: this.#port });
    else worker.postMessage({ type: 'listen', mode: this.#mode, host: this.#options.host, port: this.#port, from } satisfies ToWorker, [from]);
    const reply = await waitFor(worker, 'listening', deadline, seat.label);
    if (!reply.ok) return reply;
    seat.serving();
    publish(workerReadyChannel, { kind: 'pinned', index: seat.index, threadId: worker.threadId, port: reply.value.port });
    return ok(reply.value.port);
  }

  /** A serving pinned worker exited: log why, and restart it after a backoff (unless the server is closing). */
  #onLost(seat: PinnedSeat, { threadId, exitCode, crash }: Loss): void {
    // An uncaught error outside a handler killed it: its stack, then the restart.
    if (crash !== null) this.#log.error(`✗ Pinned worker ${seat.index} (thread ${threadId}) crashed: ${describeThrown(crash)}`);
    if (this.#closing !== null) return;
    this.#pinnedRestarts++;
    const reason = seat.killedFor;
    publish(workerExitChannel, {
      kind: 'pinned',
      index: seat.index,
      threadId,
      port: this.#port,
      exitCode,
      ...(reason === null ? {} : { reason }),
    });
    const delay = seat.lossDelay();
    const what =
      reason === null
        ? `exited with code ${exitCode}`
        : `${reason}, so the watchdog terminated it; ${seat.cut} request(s) in flight on it were cut`;
    this.#log.warn(`↻ Pinned worker ${seat.index} (thread ${threadId}) ${what}; restarting in ${delay} ms (the other workers keep serving)`);
    seat.replaceIn(delay, {
      start: () => this.#restart(seat),
      failed: (error, retryMs) => this.#log.error(`✗ Pinned worker ${seat.index} failed to restart: ${error.message}; retrying in ${retryMs} ms`),
    });
  }

  /** Starts a replacement on fresh pool rings and gets it listening; null once it serves (or the server is closing). */
  async #restart(seat: PinnedSeat): Promise<StartError | null> {
    if (this.#closing !== null) return null;
    // The old worker's pool rings may hold half a record: the new one gets fresh ones.
    this.#pool?.renewPinned(seat.index);
    // The same for its topic rings; every other isolate reaches the new worker on the fresh ones.
    const updates = this.#topics.renewPinned(seat.index);
    for (const other of this.#seats) {
      const update = updates[other.index];
      if (other !== seat && update !== null && update !== undefined) other.worker?.postMessage({ type: 'topic-peer', update } satisfies ToWorker);
    }
    for (let j = 0; j < updates.length - this.#seats.length; j++) {
      const update = updates[this.#seats.length + j];
      if (update !== null && update !== undefined) this.#pool?.topicPeerRenewed(j, update);
    }
    const deadline = Date.now() + this.#options.startupTimeout;
    const booted = await this.#boot(seat, deadline);
    let outcome: Result<number, StartError>;
    if (!booted.ok) outcome = booted;
    else if (!sameRoutes(booted.value, this.#routes)) outcome = err(routeMismatch(seat.label, this.#routes, booted.value));
    else outcome = await this.#listen(seat, deadline);
    if (this.#closing !== null) return null;
    if (!outcome.ok) return outcome.error;
    this.#log.info(`✓ Pinned worker ${seat.index} restarted (thread ${seat.worker?.threadId})`);
    return null;
  }

  /**
   * A reload: asks pinned worker `index` to send its listening socket over a fresh channel, and
   * returns the other end for the next generation's worker; null when that worker does not serve.
   */
  #giveListener(index: number): { port: MessagePort; worker: Worker } | null {
    const seat = this.#seats[index];
    if (seat === undefined || !seat.ready || seat.worker === null || this.#closing !== null) return null;
    const { port1, port2 } = new MessageChannel();
    seat.worker.postMessage({ type: 'give-listener', port: port1 } satisfies ToWorker, [port1]);
    return { port: port2, worker: seat.worker };
  }

  /**
   * A reload that took this generation's listening sockets failed: the worker that gave seat
   * `index` its socket binds a new one (a worker that replaced it since has one of its own).
   */
  #rebind(index: number, worker: Worker): void {
    if (this.#seats[index]?.worker !== worker) return;
    worker.postMessage({ type: 'listen', mode: this.#mode, host: this.#options.host, port: this.#port } satisfies ToWorker);
  }

  /** Acceptor mode: the listening socket goes on, handing its sockets to `next` from now on. */
  #giveAcceptor(next: Supervisor): net.Server | null {
    const acceptor = this.#acceptor;
    this.#acceptor = null;
    acceptor?.removeAllListeners('connection');
    acceptor?.on('connection', (socket: net.Socket) => next.#handOver(socket));
    return acceptor;
  }

  /** Acceptor mode: round-robin each accepted socket to a worker that is serving. */
  #handOver(socket: net.Socket): void {
    const count = this.#seats.length;
    for (let tries = 0; tries < count; tries++) {
      const seat = this.#seats[this.#nextAcceptor++ % count] as PinnedSeat;
      if (!seat.ready || seat.worker === null) continue;
      try {
        seat.worker.postMessage({ type: 'connection', socket } satisfies ToWorker, [socket as never]);
        return;
      } catch (thrown) {
        this.#log.debug(`socket hand-over to pinned worker ${seat.index} failed: ${(thrown as Error).message}`);
        if (socket.destroyed) return;
      }
    }
    socket.destroy();
  }

  #broadcast(message: ToWorker): void {
    for (const seat of this.#seats) seat.worker?.postMessage(message);
  }
}

function post(worker: Worker, message: ToWorker): void {
  worker.postMessage(message);
}

function publish(channel: diagnostics.Channel, event: WorkerEvent): void {
  if (channel.hasSubscribers) channel.publish(event);
}
