/**
 * Opening a WebSocket: from a protocol engine's upgrade request to an open `ServerWebSocket`.
 *
 *   upgrade ─► 414 / 400 (target), 404 (no WebSocket route) ────────────────────► refuse
 *          └─► handshake (protocol/websocket-handshake.ts): 405 / 400 / 426 / 403 ► refuse
 *          └─► the route's `upgrade` check, then `open` — a throw or `false` ─────► refuse
 *          └─► accept: 101 (HTTP/1.1) or 200 (HTTP/2), frames to ws, `message`s flow
 *
 * A refusal is an ordinary HTTP answer with the server's JSON error body. The sockets this
 * isolate holds are in its `SocketHub`, which the shutdown closes with 1001.
 */

import { faultFromThrown, faultResponse, errorResponse, type Reporter } from '../app/boundary.ts';
import { Request, requestIdOf, type IsolateInfo } from '../app/request.ts';
import type { AppTable } from '../app/table.ts';
import type { IsolateMetrics } from '../executor/isolate-metrics.ts';
import type { UpgradeIncoming } from '../protocol/upgrade.ts';
import { normalizePath } from '../router/normalize.ts';
import { negotiate } from '../protocol/websocket-handshake.ts';
import type { SocketRoute } from '../app/websocket/route.ts';
import { ServerWebSocket } from '../app/websocket/socket.ts';
import { Topics } from '../app/websocket/topics.ts';
import { LibWebSocket, PerMessageDeflate, type Deflate } from '../app/websocket/ws-lib.ts';

const NO_BODY = new Uint8Array(0);

/**
 * How long a socket that has sent its close frame waits for the client's before cutting the
 * connection, in ms (ws's own default; it must be given: ws takes it from the options of each
 * socket, and a server-side socket made outside its WebSocketServer would otherwise have none).
 */
const CLOSE_TIMEOUT_MS = 30_000;

/** This isolate's WebSockets: the open ones (for shutdown) and their topics. */
export class SocketHub {
  readonly table: AppTable;
  readonly isolate: IsolateInfo;
  readonly reporter: Reporter;
  readonly maxUrlLength: number;
  /** Counts open sockets (as `websocket` connections) for the metrics. */
  readonly metrics: IsolateMetrics;
  readonly topics = new Topics<ServerWebSocket>();
  readonly open = new Set<ServerWebSocket>();
  /** Set by `closeAll`: new handshakes are refused with 503. */
  #closing = false;
  #onEmpty: (() => void) | null = null;

  constructor(table: AppTable, isolate: IsolateInfo, reporter: Reporter, maxUrlLength: number, metrics: IsolateMetrics) {
    this.metrics = metrics;
    this.table = table;
    this.isolate = isolate;
    this.reporter = reporter;
    this.maxUrlLength = maxUrlLength;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** The server is shutting down: every socket gets close 1001; resolves when all have closed. */
  closeAll(): Promise<void> {
    this.#closing = true;
    for (const ws of this.open) ws.close(1001, 'server shutting down');
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onEmpty = resolve;
    });
  }

  added(ws: ServerWebSocket): void {
    this.open.add(ws);
    this.metrics.connection('websocket', 1);
  }

  removed(ws: ServerWebSocket): void {
    if (!this.open.delete(ws)) return;
    this.metrics.connection('websocket', -1);
    if (this.open.size === 0) this.#onEmpty?.();
  }
}

/** Takes one upgrade request from a protocol engine to an open socket, or to its refusal. */
export function admitUpgrade(hub: SocketHub, upgrade: UpgradeIncoming): void {
  const { target } = upgrade;
  const q = target.indexOf('?');
  const rawQuery = q === -1 ? '' : target.slice(q + 1);
  const path = normalizePath(q === -1 ? target : target.slice(0, q));
  if (target.length > hub.maxUrlLength) return upgrade.refuse(errorResponse(414, `URI Too Long: the limit is ${hub.maxUrlLength} bytes`));
  if (path === null) return upgrade.refuse(errorResponse(400, 'Bad Request: the path has an encoded separator or climbs above the root'));
  if (hub.closing) return upgrade.refuse(errorResponse(503, 'Service Unavailable: the server is shutting down', { headers: { 'retry-after': '1' } }));
  const match = hub.table.socketRouter.find('GET', path);
  if (match.kind !== 'found') return upgrade.refuse(errorResponse(404, 'Not Found: no WebSocket route here'));
  const route = match.value;
  const agreed = negotiate(upgrade.protocol, upgrade.method, upgrade.headers, route.options);
  if (!agreed.ok) return upgrade.refuse(errorResponse(agreed.status, agreed.message, agreed.headers === undefined ? undefined : { headers: agreed.headers }));

  // The handshake's id names the socket's faults in the log, as a request's id does.
  const id = requestIdOf(upgrade.headers);
  const req = new Request('GET', path, rawQuery, match.params, upgrade.headers, NO_BODY, 0, hub.isolate);
  const ws = new ServerWebSocket(match.params, () => req.query, upgrade.headers, hub.isolate, upgrade.protocol === 'h2' ? 'h2' : 'http/1.1', agreed.protocol, {
    sendBufferLimit: route.options.sendBufferLimit,
    idleTimeout: route.options.idleTimeout,
    topics: hub.topics,
    onDrain: (socket) => call(hub, route, 'drain', id, () => route.handlers.drain?.(socket)),
    onClose: (socket, code, reason) => {
      hub.removed(socket);
      call(hub, route, 'close', id, () => route.handlers.close?.(socket, code, reason));
    },
  });
  const refuse = (thrown: unknown, what: string): void => {
    ws.abandon();
    agreed.deflate?.cleanup();
    upgrade.refuse(faultResponse(faultFromThrown(thrown, label(route), what, hub.reporter, id)));
  };
  void (async () => {
    try {
      if (route.handlers.upgrade !== undefined && (await route.handlers.upgrade(req)) === false) {
        ws.abandon();
        agreed.deflate?.cleanup();
        upgrade.refuse(errorResponse(403, 'Forbidden: the WebSocket was refused'));
        return;
      }
    } catch (thrown) {
      refuse(thrown, 'the upgrade check threw');
      return;
    }
    try {
      await route.handlers.open?.(ws, req);
    } catch (thrown) {
      refuse(thrown, 'the open handler threw');
      return;
    }
    accept(hub, route, upgrade, ws, agreed.headers, agreed.deflate);
  })();
}

function accept(hub: SocketHub, route: SocketRoute, upgrade: UpgradeIncoming, ws: ServerWebSocket, headers: Record<string, string>, deflate: Deflate | null): void {
  const tunnel = upgrade.accept(headers);
  if (tunnel === null) {
    ws.abandon();
    deflate?.cleanup();
    return;
  }
  const lib = new LibWebSocket(null, undefined, { autoPong: true, closeTimeout: CLOSE_TIMEOUT_MS });
  lib._protocol = ws.protocol;
  if (deflate !== null) lib._extensions = { [PerMessageDeflate.extensionName]: deflate };
  lib.setSocket(tunnel.socket, tunnel.head, { maxPayload: route.options.maxPayload });
  hub.added(ws);
  ws.attach(lib, (data, isBinary) => {
    const message = route.handlers.message;
    if (message === undefined) return;
    const payload = isBinary ? data : data.toString('utf8');
    try {
      const result = message(ws, payload, isBinary);
      if (result instanceof Promise) result.catch((thrown: unknown) => failed(hub, route, ws, thrown));
    } catch (thrown) {
      failed(hub, route, ws, thrown);
    }
  });
  // A close asked for while `open` ran (ws.close() inside it) happens now that there is a socket.
  const early = ws.closedEarly;
  if (early !== null) {
    if (early.code === 1006) ws.terminate();
    else ws.close(early.code, early.reason);
  }
}

/** A `message` handler threw: the error is logged under the handshake's id and the socket closed with 1011. */
function failed(hub: SocketHub, route: SocketRoute, ws: ServerWebSocket, thrown: unknown): void {
  const fault = faultFromThrown(thrown, label(route), 'the message handler threw', hub.reporter, ws.headers['x-request-id'] as string);
  ws.close(1011, fault.kind === 'internal' ? `internal error ${fault.errorId}`.slice(0, 123) : 'internal error');
}

/** Runs a `close` or `drain` handler: what it throws or rejects with is logged, and nothing else happens. */
function call(hub: SocketHub, route: SocketRoute, name: string, id: string, run: () => unknown): void {
  const report = (thrown: unknown): void => void faultFromThrown(thrown, label(route), `the ${name} handler threw`, hub.reporter, id);
  try {
    const result = run();
    if (result instanceof Promise) result.catch(report);
  } catch (thrown) {
    report(thrown);
  }
}

function label(route: SocketRoute): string {
  return `WS:${route.path}`;
}
