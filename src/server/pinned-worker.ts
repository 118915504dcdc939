/**
 * A pinned worker isolate: imports the app, builds its route table, owns its connections and runs
 * handlers inline on its own event loop. It talks to the supervisor only about its lifecycle
 * (see messages.ts); requests never leave this thread.
 */

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type http2 from 'node:http2';
import { parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import type { AppTable } from '../app/table.ts';
import type { IsolateInfo } from '../app/request.ts';
import { createLogger } from '../core/log.ts';
import { createHttp1Engine } from '../protocol/http1.ts';
import { createHttp2Engine } from '../protocol/http2.ts';
import type { Engines } from '../protocol/connection.ts';
import type { Incoming } from '../protocol/incoming.ts';
import type { UpgradeIncoming } from '../protocol/upgrade.ts';
import { IsolateState, startHeartbeat } from '../executor/isolate-state.ts';
import { M_TOPIC_DROPPED, startSampling, type IsolateMetrics } from '../executor/isolate-metrics.ts';
import { PoolClient } from '../executor/pool-client.ts';
import { localTaskRunner, remoteTaskRunner } from '../app/task.ts';
import { TopicBus } from '../executor/topic-bus.ts';
import { describeThrown } from '../core/describe.ts';
import { admit } from '../lifecycle/admit.ts';
import { admitUpgrade, SocketHub } from '../lifecycle/upgrade.ts';
import { createLifecycle, endStreams } from '../lifecycle/context.ts';
import { WorkerConnections } from './connections.ts';
import { listen } from './listen.ts';
import { runShutdownHooks } from '../app/load.ts';
import { loadAndReport } from '../executor/messages.ts';
import type { FromWorker, PinnedWorkerData, ToWorker } from './messages.ts';

/** How often the event-loop delay is sampled for the spill-over decision, in ms. */
const LOOP_SAMPLE_MS = 10;

const port = parentPort;
if (port === null) throw new Error('pinned-worker.ts runs only as a worker thread');
const data = workerData as PinnedWorkerData;
const log = createLogger({ level: data.logLevel, format: data.logFormat, isolate: `pinned-${data.index}` });

function send(message: FromWorker): void {
  port!.postMessage(message);
}

const isolate: IsolateInfo = { kind: 'pinned', index: data.index, threadId };
const loaded = await loadAndReport(data.appUrl, isolate);
if (loaded !== null) startServing(loaded.table, loaded.metrics);

function startServing(table: AppTable, metrics: IsolateMetrics): void {
  const pool = data.pool === null ? null : new PoolClient(data.pool, log);
  const state = new IsolateState(data.state.buffer, data.state.epoch);
  const loopLimit = longestTimeout(table.routes, data.handlerTimeout);
  const lifecycle = createLifecycle({
    table,
    bodyLimit: data.bodyLimit,
    isolate,
    log,
    exposeErrors: data.exposeErrors,
    maxUrlLength: data.limits.maxUrlLength,
    handlerTimeout: data.handlerTimeout,
    pool,
    spillInFlight: data.spillInFlight,
    spillLoopDelay: data.spillLoopDelay,
    maxInFlight: data.maxInFlight,
    state,
    loopLimit,
    metrics,
    accessLog: data.accessLog,
  });
  // Proof that this event loop turns: the supervisor's watchdog replaces the worker when the
  // stamp goes stale for longer than `loopLimit` (outside a handler's synchronous part, which it
  // judges by that route's own timeout).
  state.setLoopLimit(data.index, loopLimit);
  startHeartbeat(state, data.index);
  if (pool !== null) {
    // The event-loop delay: how late a timer fires. It decays by half per sample, so one long
    // block counts for a few samples and then fades.
    let expected = performance.now() + LOOP_SAMPLE_MS;
    setInterval(() => {
      const now = performance.now();
      lifecycle.loopDelay = Math.max(now - expected, lifecycle.loopDelay / 2);
      expected = now + LOOP_SAMPLE_MS;
    }, LOOP_SAMPLE_MS).unref();
  }
  const onIncoming = (incoming: Incoming): void => admit(lifecycle, incoming);
  // WebSockets: the engines take upgrades only where the app has WebSocket routes.
  const hub = new SocketHub(table, isolate, { log, exposeErrors: data.exposeErrors }, data.limits.maxUrlLength, metrics);
  table.setPublisher((topic, message) => hub.topics.publish(topic, message, null));
  table.setTaskRunner(
    pool === null
      ? localTaskRunner(data.handlerTimeout)
      : remoteTaskRunner((task, input, timeoutMs) => pool.runTask(task, input, timeoutMs), data.handlerTimeout),
  );
  // Topics reach the other isolates through the topic bus; without WebSocket routes nothing can
  // subscribe anywhere, and there is no bus.
  const bus =
    table.sockets.length === 0
      ? null
      : new TopicBus(data.topics, {
          deliver: (topic, message) => hub.topics.deliverRemote(topic, message),
          onError: (thrown) => log.error(`✗ delivering a published message failed: ${describeThrown(thrown)}`),
        });
  if (bus !== null) hub.topics.connect(bus);
  startSampling(metrics, () => metrics.set(M_TOPIC_DROPPED, (bus?.dropped ?? 0) >>> 0));
  const onUpgrade = table.sockets.length === 0 ? null : (upgrade: UpgradeIncoming): void => admitUpgrade(hub, upgrade);
  const sessions = new Set<http2.ServerHttp2Session>();
  const engines: Engines = {
    h1: createHttp1Engine(data.limits, onIncoming, onUpgrade),
    h2: createHttp2Engine(data.limits, sessions, onIncoming, onUpgrade),
  };
  // A connection accepted before the listener closed but whose first request arrives during the
  // shutdown is still served: HTTP/1.1 answers it with `connection: close`, and an HTTP/2
  // session gets GOAWAY once the streams that came with its preface are under way.
  engines.h2.on('session', (session: http2.ServerHttp2Session) => {
    if (lifecycle.draining) setImmediate(() => session.close());
  });
  // Open connections by protocol, for the metrics: each engine is handed the connections it serves.
  for (const [engine, protocol] of [[engines.h1, 'http/1.1'], [engines.h2, 'h2']] as const) {
    engine.on('connection', (socket: net.Socket) => {
      metrics.connection(protocol, 1);
      socket.once('close', () => metrics.connection(protocol, -1));
    });
  }
  const connections = new WorkerConnections(engines, sessions, data.tls, data.limits.headersTimeout);
  const onConnection = (socket: net.Socket): void => connections.accept(socket);

  let listener: net.Server | null = null;

  /** Binds a listening socket of this worker's own in the port's SO_REUSEPORT group (or keeps the one it has). */
  function bindListener(host: string, port: number): void {
    if (listener !== null) {
      send({ type: 'listening', port });
      return;
    }
    const server = net.createServer(onConnection);
    listener = server;
    void listen(server, host, port, true).then((bound) => {
      if (bound.ok) send({ type: 'listening', port: bound.value });
      else send({ type: 'failed', code: bound.error.code, message: bound.error.message });
    });
  }

  /** A reload: takes the listening socket the previous generation's worker sends, or binds one. */
  function adoptListener(from: MessagePort, host: string, port: number): void {
    let settled = false;
    from.once('message', ({ server }: { server: net.Server | null }) => {
      settled = true;
      from.close();
      if (server === null) {
        bindListener(host, port);
        return;
      }
      listener = server;
      server.on('connection', onConnection);
      send({ type: 'listening', port });
    });
    // The previous worker died before it answered: its socket closed with it; bind one.
    from.once('close', () => {
      if (!settled) bindListener(host, port);
    });
  }

  port!.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'listen':
        if (message.mode === 'acceptor') {
          send({ type: 'listening', port: message.port });
          return;
        }
        if (message.from !== undefined) {
          adoptListener(message.from, message.host, message.port);
          return;
        }
        bindListener(message.host, message.port);
        return;
      case 'give-listener':
        // The listening socket moves to the next generation's worker as it is, with the
        // connections waiting in its accept queue: closing it would reset those.
        try {
          message.port.postMessage({ server: listener }, listener === null ? [] : [listener as never]);
          listener = null;
        } catch {
          message.port.postMessage({ server: null });
        }
        message.port.close();
        return;
      case 'connection':
        onConnection(message.socket);
        return;
      case 'shutdown':
        void drain(message.graceMs);
        return;
      case 'pool-isolate-down':
        pool?.isolateDown(message.index, message.generation);
        return;
      case 'pool-isolate-up':
        pool?.isolateUp(message.index, message.generation, message.rings);
        return;
      case 'topic-peer':
        bus?.peerRenewed(message.update);
        return;
    }
  });

  /**
   * Graceful shutdown: stop accepting, end event streams (they may never end by themselves; an
   * EventSource reconnects, to another server or to this one once it is back), close WebSockets
   * with 1001 (their clients reconnect the same way), let the connections and then the
   * `req.after()` work finish within `graceMs`, then run the onShutdown hooks.
   */
  async function drain(graceMs: number): Promise<void> {
    lifecycle.draining = true;
    listener?.close();
    endStreams(lifecycle);
    void hub.closeAll();
    const began = performance.now();
    const forced = await connections.drain(graceMs);
    // req.after() work still running gets what is left of the grace period.
    await lifecycle.afterWork.settled(graceMs - (performance.now() - began));
    bus?.close();
    await runShutdownHooks(table, isolate, log.error);
    // The supervisor terminates this thread on `drained`: what the log holds is written first.
    log.flush();
    send({ type: 'drained', forced, received: lifecycle.received, unanswered: lifecycle.inFlight });
  }
}

/**
 * The longest time any request may legitimately keep this event loop busy: the longest of the
 * default handler timeout and every route's own, ignoring routes with none (0), which lift the
 * limit while they run instead. 0 when nothing has a timeout.
 */
function longestTimeout(routes: readonly { readonly timeout: number | undefined }[], handlerTimeout: number): number {
  let longest = handlerTimeout;
  for (const route of routes) if (route.timeout !== undefined && route.timeout > longest) longest = route.timeout;
  return longest;
}
