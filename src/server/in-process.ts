/**
 * The in-process runtime behind `app.request()` and `inProcess(app)`: one request lifecycle on
 * the calling thread, built as a pinned worker builds its own (pinned-worker.ts), fed by the
 * in-process protocol (protocol/memory.ts) instead of sockets. No port is opened and no worker
 * isolate is started; `{ pool: true }` routes run on an `InProcessPool` (executor/in-process-pool.ts),
 * which carries them through the pool's codec and a real ring pair on this thread.
 *
 *   app.request(input, init) ─► memoryIncoming ─► admit (lifecycle) ─► ... ─► respond ─► web Response
 *
 * The app's lifespan is the process's: its onStartup hooks run once, before the first
 * in-process request of any client (and the app takes no more routes from then on, as after
 * `serve()`); `close()` of any client runs its onShutdown hooks once, after which every client of
 * the app refuses requests. A failed onStartup hook makes every request reject with
 * `FA_ERR_STARTUP_HOOK`.
 *
 * The isolate state and metrics live on small SharedArrayBuffers as a worker's do, but no
 * supervisor reads them: there is no watchdog in-process, and a handler that blocks the event
 * loop blocks the caller.
 */

import { threadId } from 'node:worker_threads';
import { appTable, type AppTable } from '../app/app.ts';
import { installInProcessRunner } from '../app/in-process.ts';
import { runShutdownHooks, runStartupHooks } from '../app/load.ts';
import type { IsolateInfo } from '../app/request.ts';
import { DEFAULTS, resolveOptions, type ResolvedOptions, type ServeOptions } from '../config/options.ts';
import { ErrorCode, FasterApiError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import type { Result } from '../core/result.ts';
import { InProcessPool } from '../executor/in-process-pool.ts';
import { localTaskRunner, remoteTaskRunner } from '../app/task.ts';
import { IsolateMetrics } from '../executor/isolate-metrics.ts';
import { createIsolateState, IsolateState } from '../executor/isolate-state.ts';
import { admit } from '../lifecycle/admit.ts';
import { createLifecycle, type Lifecycle } from '../lifecycle/context.ts';
import { refuse } from '../protocol/incoming.ts';
import { memoryIncoming, type RequestInput } from '../protocol/memory.ts';

/** The server options that mean something in-process; the others (ports, workers, TLS…) do not. */
const IN_PROCESS_OPTIONS = ['bodyLimit', 'maxUrlLength', 'maxHeaderCount', 'handlerTimeout', 'exposeErrors', 'logLevel', 'logFormat', 'accessLog', 'poolRingSize'] as const;

/**
 * Options of an in-process client, as `serve()` takes them and with its defaults, except
 * `logLevel`, which defaults to `'error'`: a 500's log line (with its error id) is shown on
 * stderr, nothing else. `'silent'` hides it too.
 */
export type InProcessOptions = Pick<ServeOptions, (typeof IN_PROCESS_OPTIONS)[number]>;

export interface InProcessClient {
  /** Answers one request in-process; see `App.request`. Rejects only for what is not an HTTP answer (a bad `input`, an aborted `signal`, a failed onStartup hook, a closed client). */
  request(input: RequestInput, init?: RequestInit): Promise<Response>;
  /** Runs the app's onShutdown hooks (once, if it started); afterwards requests to the app are refused. */
  close(): Promise<void>;
}

/** The app's in-process lifespan, shared by all its clients. */
interface Lifespan {
  readonly table: AppTable;
  started: Promise<Result<void, string>> | null;
  closed: Promise<void> | null;
}

const lifespans = new WeakMap<object, Lifespan>();
/** The client `app.request()` uses, per app. */
const defaults = new WeakMap<object, InProcessClient>();

const PINNED: IsolateInfo = Object.freeze({ kind: 'pinned', index: 0, threadId });
const POOLED: IsolateInfo = Object.freeze({ kind: 'pooled', index: 0, threadId });

/**
 * An in-process client for `app`, with server options (see `InProcessOptions`): what
 * `app.request()` does with the defaults. Throws a `FasterApiError` for an unknown option or an
 * invalid value (`FA_ERR_INVALID_OPTION`), or a value that is not an App.
 */
export function inProcess(app: object, options: InProcessOptions = {}): InProcessClient {
  const table = appTable(app);
  if (table === null) throw new FasterApiError(ErrorCode.IN_PROCESS, 'inProcess() needs an App (new App() from fasterapi)');
  for (const name of Object.keys(options)) {
    if (!(IN_PROCESS_OPTIONS as readonly string[]).includes(name)) {
      throw new FasterApiError(ErrorCode.INVALID_OPTION, `unknown option ${JSON.stringify(name)} for inProcess(): it takes ${IN_PROCESS_OPTIONS.join(', ')}`);
    }
  }
  const resolved = resolveOptions(options);
  if (!resolved.ok) throw new FasterApiError(ErrorCode.INVALID_OPTION, resolved.error.message);
  let lifespan = lifespans.get(app);
  if (lifespan === undefined) {
    lifespan = { table, started: null, closed: null };
    lifespans.set(app, lifespan);
  }
  const logLevel = options.logLevel ?? 'error';
  const log = createLogger({ level: logLevel, format: options.logFormat ?? 'pretty', isolate: 'in-process' });
  return new Client(lifespan, resolved.value, log);
}

class Client implements InProcessClient {
  readonly #lifespan: Lifespan;
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  #lifecycle: Lifecycle | null = null;

  constructor(lifespan: Lifespan, options: ResolvedOptions, log: Logger) {
    this.#lifespan = lifespan;
    this.#options = options;
    this.#log = log;
  }

  async request(input: RequestInput, init?: RequestInit): Promise<Response> {
    const lifecycle = await this.#ready();
    const incoming = await memoryIncoming(input, init);
    const signal = init?.signal ?? (input instanceof Request ? input.signal : null);
    if (signal !== null && signal !== undefined) {
      signal.throwIfAborted();
      const onAbort = (): void => incoming.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      incoming.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    // The engines count header fields before anything else sees the request (http1.ts, http2.ts).
    const { maxHeaderCount } = this.#options;
    if (Object.keys(incoming.headers).length > maxHeaderCount) refuse(incoming, 431, `Request Header Fields Too Large: the limit is ${maxHeaderCount} headers`);
    else admit(lifecycle, incoming);
    return incoming.response;
  }

  async close(): Promise<void> {
    const lifespan = this.#lifespan;
    if (lifespan.closed === null) {
      lifespan.closed = (async () => {
        const started = await lifespan.started;
        // As a server's shutdown does: req.after() work under way finishes first (within the
        // default grace period), then the onShutdown hooks run.
        const lifecycle = this.#lifecycle;
        if (lifecycle !== null) {
          const began = performance.now();
          await lifecycle.afterWork.settled(DEFAULTS.gracePeriod);
          const pool = lifecycle.pool as InProcessPool | null;
          await pool?.afterWork.settled(DEFAULTS.gracePeriod - (performance.now() - began));
        }
        if (started?.ok === true) await runShutdownHooks(lifespan.table, PINNED, this.#log.error);
      })();
    }
    return lifespan.closed;
  }

  /** The lifecycle, made on the first request, once the app's onStartup hooks have run. */
  async #ready(): Promise<Lifecycle> {
    const lifespan = this.#lifespan;
    if (lifespan.closed !== null) throw closedError();
    if (lifespan.started === null) {
      lifespan.table.freeze();
      lifespan.started = runStartupHooks(lifespan.table, PINNED);
    }
    const started = await lifespan.started;
    if (!started.ok) throw new FasterApiError(ErrorCode.STARTUP_HOOK, `an onStartup hook failed: ${started.error}`);
    if (lifespan.closed !== null) throw closedError();
    return (this.#lifecycle ??= this.#createLifecycle());
  }

  #createLifecycle(): Lifecycle {
    const { table } = this.#lifespan;
    const options = this.#options;
    // Two isolates' words: the pinned side (0) and the pooled side (1).
    const state = new IsolateState(createIsolateState(2), Date.now());
    const context = { log: this.#log, exposeErrors: options.exposeErrors, onError: table.hooks.onError };
    // Only an app with `{ pool: true }` routes or pooled tasks gets a pool, so an app without
    // them is placed exactly as on a server without a pool.
    const pool =
      table.routes.some((route) => route.pool === true) || table.tasks.length > 0
        ? new InProcessPool({ table, site: { isolate: POOLED, state, index: 1, context }, ringSize: options.poolRingSize })
        : null;
    // app.run() from a handler: through the pool's codec and rings, as on a server with a pool.
    table.setTaskRunner(
      pool === null
        ? localTaskRunner(options.handlerTimeout)
        : remoteTaskRunner((task, input, timeoutMs) => pool.runTask(task, input, timeoutMs), options.handlerTimeout),
    );
    return createLifecycle({
      table,
      bodyLimit: options.bodyLimit,
      isolate: PINNED,
      log: this.#log,
      exposeErrors: options.exposeErrors,
      maxUrlLength: options.maxUrlLength,
      handlerTimeout: options.handlerTimeout,
      pool,
      spillInFlight: DEFAULTS.spillInFlight,
      spillLoopDelay: DEFAULTS.spillLoopDelay,
      maxInFlight: DEFAULTS.maxInFlight,
      state,
      // No watchdog reads it in-process.
      loopLimit: 0,
      metrics: IsolateMetrics.create(table.routes.length),
      accessLog: options.accessLog,
    });
  }
}

function closedError(): FasterApiError {
  return new FasterApiError(ErrorCode.IN_PROCESS, 'the app was closed in-process (close() ran its onShutdown hooks): it takes no more in-process requests');
}

installInProcessRunner({
  request(app, input, init) {
    let client = defaults.get(app);
    if (client === undefined) {
      client = inProcess(app);
      defaults.set(app, client);
    }
    return client.request(input, init);
  },
});
