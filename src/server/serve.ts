/**
 * `serve()`: the programmatic twin of `fasterapi serve`. Starts the supervisor and its pinned
 * workers on the app module, prints the banner, and returns a handle to the running server.
 */

import { existsSync, statSync } from 'node:fs';
import type http from 'node:http';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSecureContext } from 'node:tls';
import { routeLabel } from '../app/app.ts';
import { swaggerUiDir } from '../app/built-in.ts';
import { resolveOptions, type ResolvedOptions, type ServeOptions } from '../config/options.ts';
import { ErrorCode, FasterApiError } from '../core/errors.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { adminRoutes, startAdmin, stopAdmin } from './admin.ts';
import { chooseListenMode } from './listener-mode.ts';
import type { ListenMode } from './messages.ts';
import { Generations, type Reloaded } from './generations.ts';
import { Supervisor } from './supervisor.ts';
import { watchApp } from './watch.ts';

export interface Server {
  /** The interface listened on, as configured. */
  readonly host: string;
  /** The bound port (the real one when `port: 0` was asked for). */
  readonly port: number;
  /** A URL that reaches the server from this machine, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** `reuseport` or `acceptor`. */
  readonly listener: ListenMode;
  /** The resolved options, with automatic values filled in. */
  readonly options: ResolvedOptions;
  /** Thread ids of the pinned workers serving now. */
  readonly workerThreadIds: readonly number[];
  /** Thread ids of the pooled isolates serving now. */
  readonly pooledThreadIds: readonly number[];
  /**
   * Isolates replaced since the server started, by kind: a crash, `process.exit`, running out of
   * memory, or the watchdog cutting a loop blocked past its handler's timeout. User code that
   * throws or rejects never counts here: it answers 500 and the isolate lives on.
   */
  readonly restarts: { readonly pinned: number; readonly pooled: number };
  /** The admin listener's bound port (`/healthz`, `/readyz`); null without one. */
  readonly adminPort: number | null;
  /** A URL that reaches the admin listener from this machine; null without one. */
  readonly adminUrl: string | null;
  /** The generation of isolates serving now: 1, and one more after each reload. */
  readonly generation: number;
  /**
   * Reloads without downtime: a new generation of pinned and pooled isolates imports the app
   * afresh and, once all of it listens, the old one drains. Resolves when the new one serves;
   * rejects with a `FasterApiError` saying why it was refused (the app fails to load, its
   * isolates disagree on the routes), and the old generation serves on. SIGHUP does the same.
   */
  reload(): Promise<Reloaded>;
  /**
   * Graceful shutdown: `/readyz` turns 503, the server keeps serving for `shutdownDelay`, then
   * stops accepting and lets in-flight requests finish within `gracePeriod`.
   */
  close(): Promise<void>;
}

/**
 * Serves the app module at `appModule` (a path or file URL whose default export is an `App`).
 * Rejects with a `FasterApiError` whose `code` says what went wrong (see docs/errors.md).
 */
export async function serve(appModule: string | URL, options?: ServeOptions): Promise<Server> {
  const resolved = resolveOptions(options);
  if (!resolved.ok) throw new FasterApiError(ErrorCode.INVALID_OPTION, resolved.error.message);
  const opts = resolved.value;
  // Node makes stdout and stderr non-blocking pipes when they are first touched; done here, the
  // isolates' writes to them (core/line-writer.ts) never wait in a thread of libuv's pool.
  void process.stdout;
  void process.stderr;
  const log = createLogger({ level: opts.logLevel, format: opts.logFormat, isolate: 'supervisor' });

  const appUrl = locateApp(appModule);
  if (opts.tls !== null) checkTls(opts.tls);
  const mode = chooseListenMode(opts.listener);
  if (!mode.ok) throw new FasterApiError(mode.error.code, mode.error.message);

  const supervisor = new Supervisor(appUrl, opts, mode.value, log);
  const generations = new Generations(supervisor, () => new Supervisor(appUrl, opts, mode.value, log), log);
  // The admin listener comes first: probes answer "not ready" while the isolates start, and a
  // port in use fails before any isolate is spawned.
  let admin: { server: http.Server; port: number } | null = null;
  if (opts.adminPort !== null) {
    const bound = await startAdmin(opts.adminHost, opts.adminPort, adminRoutes(() => generations.health(), () => generations.metricsText()));
    if (!bound.ok) throw new FasterApiError(bound.error.code, bound.error.message);
    admin = bound.value;
  }
  const started = await supervisor.start();
  if (!started.ok) {
    if (admin !== null) await stopAdmin(admin.server);
    throw new FasterApiError(started.error.code, started.error.message);
  }

  const url = urlOf(opts.tls === null ? 'http' : 'https', opts.host, supervisor.port);
  const adminUrl = admin === null ? null : urlOf('http', opts.adminHost, admin.port);
  printBanner(log, supervisor, opts, mode.value, url);
  if (adminUrl !== null) log.info(`Admin: ${adminUrl} (/metrics, /healthz, /readyz)`);

  let signalCleanup = (): void => {};
  let watcher: { close(): void } | null = null;
  const server: Server = {
    host: opts.host,
    port: supervisor.port,
    url,
    listener: mode.value,
    options: opts,
    get workerThreadIds() {
      return generations.current.threadIds;
    },
    get pooledThreadIds() {
      return generations.current.pooledThreadIds;
    },
    get restarts() {
      return generations.restarts;
    },
    get generation() {
      return generations.generation;
    },
    adminPort: admin?.port ?? null,
    adminUrl,
    async reload() {
      const reloaded = await generations.reload();
      if (!reloaded.ok) throw new FasterApiError(reloaded.error.code, reloaded.error.message);
      return reloaded.value;
    },
    async close() {
      signalCleanup();
      watcher?.close();
      await generations.close();
      if (admin !== null) await stopAdmin(admin.server);
    },
  };
  if (opts.handleSignals) signalCleanup = handleSignals(server, log, opts.gracePeriod, () => void generations.reload());
  if (opts.watch) watcher = watchApp(fileURLToPath(appUrl), log, () => void generations.reload());
  return server;
}

/** A URL that reaches `host:port` from this machine (a wildcard address is reached on loopback). */
function urlOf(scheme: string, host: string, port: number): string {
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${scheme}://${connectHost.includes(':') ? `[${connectHost}]` : connectHost}:${port}`;
}

function locateApp(appModule: string | URL): string {
  let path: string;
  try {
    path = appModule instanceof URL || appModule.startsWith('file:') ? fileURLToPath(appModule) : resolvePath(appModule);
  } catch {
    throw new FasterApiError(ErrorCode.APP_NOT_FOUND, `app module ${String(appModule)} is not a file path or file: URL`);
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new FasterApiError(ErrorCode.APP_NOT_FOUND, `app module not found: ${path}`);
  }
  return pathToFileURL(path).href;
}

function checkTls(tls: { readonly cert: string; readonly key: string }): void {
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (thrown) {
    throw new FasterApiError(ErrorCode.TLS, `the TLS certificate and key cannot be used: ${(thrown as Error).message}`);
  }
}

function printBanner(log: Logger, supervisor: Supervisor, opts: ResolvedOptions, mode: ListenMode, url: string): void {
  for (const route of supervisor.routes) {
    if (route.builtIn !== null) continue;
    const what = route.method === 'WS' ? 'WebSocket' : route.method === 'TASK' ? 'task' : 'handler';
    log.info(`✓ Registered ${what}: ${routeLabel(route)} (ID: ${route.id})${route.pool ? ' [pool]' : ''}`);
  }
  const protocols = opts.tls === null ? 'h2c + HTTP/1.1' : 'TLS: h2 + HTTP/1.1 via ALPN';
  log.info(`Starting HTTP/2 server on ${opts.host}:${supervisor.port} (${protocols})`);
  log.info(`Event loop workers: ${opts.pinnedWorkers}`);
  log.info(`Pinned isolates: ${opts.pinnedWorkers}`);
  log.info(`Pooled workers: ${opts.pooledWorkers}`);
  log.info(`Pooled isolates: ${opts.pooledIsolates}`);
  log.info(
    `Listener: ${mode === 'reuseport' ? 'SO_REUSEPORT, one listening socket per pinned worker' : 'acceptor on the main thread, sockets handed to pinned workers'}`,
  );
  if (opts.pooledWorkers > 0) {
    log.info(
      `Pool: ${supervisor.poolSlots.join(' + ')} task slots, up to ${opts.poolQueueLimit} queued per isolate; ` +
        `spill-over when a pinned worker has > ${opts.spillInFlight} requests in flight or > ${opts.spillLoopDelay} ms event-loop delay`,
    );
  } else if (supervisor.routes.some((r) => r.pool === true)) {
    log.warn('Routes marked { pool: true } and tasks run on the pinned workers: there is no pool (start with --pooled N to have one)');
  }
  log.info(`Ready: ${url}`);
  const base = url.replace(/\/$/, '');
  const openapi = supervisor.routes.find((route) => route.builtIn === 'openapi');
  const docs = supervisor.routes.find((route) => route.builtIn === 'docs');
  if (docs !== undefined) {
    log.info(`Docs: ${base}${docs.path}${swaggerUiDir() === null ? ' (answers 501 until swagger-ui-dist is installed)' : ''}`);
  }
  if (openapi !== undefined) log.info(`OpenAPI: ${base}${openapi.path}`);
}

/** SIGINT/SIGTERM: graceful close, then exit 0. A second signal exits at once. SIGHUP: reload. */
function handleSignals(server: Server, log: Logger, grace: number, reload: () => void): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = true;
    log.info(`${signal}: shutting down gracefully (up to ${grace} ms for in-flight requests; ${signal} again to exit now)`);
    void server.close().then(() => {
      log.info('Server closed');
      process.exit(0);
    });
  };
  const onHangUp = (): void => {
    if (stopping) return;
    log.info('SIGHUP: reloading the app');
    reload();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHangUp);
  return () => {
    process.off('SIGHUP', onHangUp);
    if (stopping) return;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
