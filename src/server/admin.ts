/**
 * The admin listener: metrics and probes for monitoring, orchestrators and load balancers, on a port of their own
 * (`adminPort`, off by default; `adminHost`, 127.0.0.1 by default), served by the supervisor on
 * the main thread. A probe never waits behind the app's requests on a pinned worker, never runs
 * the app's hooks, and is never exposed beside the app's routes.
 *
 *   GET /metrics   every isolate's counters, histograms and gauges, in the Prometheus text
 *                  format (metrics.ts), read from shared memory at scrape time
 *   GET /healthz   200 while every isolate is live, else 503 (health.ts says what live means)
 *   GET /readyz    200 while every pinned worker listens and the server is not stopping, else 503
 *
 * The probes answer JSON that says why, with `cache-control: no-store`; HEAD is answered as GET
 * without a body. Other paths are 404, other methods 405.
 */

import http from 'node:http';
import { err, ok, type Result } from '../core/result.ts';
import type { HealthReport } from './health.ts';
import { listen, type ListenError } from './listen.ts';

/** What an admin route answers. */
interface AdminAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

type AdminRoute = () => AdminAnswer;

function json(status: number, value: unknown): AdminAnswer {
  return { status, body: `${JSON.stringify(value)}\n`, contentType: 'application/json' };
}

/** The content type of the Prometheus text exposition format. */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** The admin routes over a source of health reports and of metrics. */
export function adminRoutes(report: () => HealthReport, metrics: () => string): ReadonlyMap<string, AdminRoute> {
  return new Map<string, AdminRoute>([
    ['/metrics', () => ({ status: 200, body: metrics(), contentType: PROMETHEUS_TEXT })],
    [
      '/healthz',
      () => {
        const r = report();
        return json(r.live ? 200 : 503, { status: r.live ? 'live' : 'not live', isolates: r.isolates });
      },
    ],
    [
      '/readyz',
      () => {
        const r = report();
        return json(r.ready ? 200 : 503, r.ready ? { status: 'ready' } : { status: 'not ready', reason: r.notReady });
      },
    ],
  ]);
}

/** Starts the admin listener on `host:port` (0: a free port); resolves with the server and its bound port. */
export async function startAdmin(
  host: string,
  port: number,
  routes: ReadonlyMap<string, AdminRoute>,
): Promise<Result<{ server: http.Server; port: number }, ListenError>> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    const route = routes.get(path);
    let answer: AdminAnswer;
    if (route === undefined) answer = json(404, { status: 'not found', paths: [...routes.keys()] });
    else if (req.method !== 'GET' && req.method !== 'HEAD') answer = json(405, { status: 'method not allowed' });
    else answer = route();
    res.writeHead(answer.status, {
      'content-type': answer.contentType,
      'content-length': Buffer.byteLength(answer.body),
      'cache-control': 'no-store',
      ...(answer.status === 405 ? { allow: 'GET, HEAD' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  });
  // Probes come often and go: keep-alive connections must not hold the process open at shutdown.
  server.keepAliveTimeout = 5_000;
  const bound = await listen(server, host, port, false);
  if (!bound.ok) {
    return err({ code: bound.error.code, message: `admin listener: ${bound.error.message.replace('--port', '--admin-port')}` });
  }
  return ok({ server, port: bound.value });
}

/** Stops the admin listener: no new connections, and the open ones are closed. */
export function stopAdmin(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
