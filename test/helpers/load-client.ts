/**
 * A load client that counts every request's fate, for the tests that must prove nothing is lost:
 * HTTP/1.1 keep-alive connections on raw sockets (so the exact moment of a reset is visible) and
 * HTTP/2 sessions with several streams in flight, each in a closed loop until stopped.
 *
 * Every request ends in exactly one bucket:
 *   status N       a complete response with that status
 *   truncated      the response started but the connection ended before it was complete (lost)
 *   unanswered     the connection ended after the request was written and before any response
 *                  byte: the server never took it (a keep-alive connection closed as idle just as
 *                  the request was sent, or a listener that was closing); clients retry these
 *   refused        HTTP/2: the server refused the stream (REFUSED_STREAM, or past GOAWAY's last
 *                  stream id) without processing it
 *   reset          HTTP/2: the stream was reset with any other code after the server took it (lost)
 *   timeout        no outcome within the request timeout (a hang)
 * Connection attempts are counted too: opened, and refused (ECONNREFUSED).
 */

import http2 from 'node:http2';
import net from 'node:net';

export interface LoadOptions {
  readonly port: number;
  readonly h1Connections: number;
  readonly h2Sessions: number;
  /** Streams in flight per HTTP/2 session. */
  readonly h2Streams: number;
  /** The path of each request. */
  readonly path: (protocol: 'h1' | 'h2') => string;
  /** A request with no outcome after this long counts as a timeout. */
  readonly requestTimeoutMs?: number;
  /** Pause between a connection's requests, ms (0: back to back). */
  readonly pauseMs?: number;
  /** Open connections in batches of this size, one batch per `rampMs`. */
  readonly rampBatch?: number;
  readonly rampMs?: number;
}

export interface LoadCounts {
  sent: number;
  byStatus: Record<number, number>;
  truncated: number;
  unanswered: number;
  refused: number;
  reset: number;
  timeout: number;
  connectionsOpened: number;
  connectionsRefused: number;
  /**
   * 200 responses whose body does not end with their own request's `x-request-id` (the load app
   * echoes it): a response delivered to the wrong request. Must always be 0.
   */
  mismatched: number;
  /** Time of each failed request (5xx, truncated, reset, timeout, unanswered), ms since `began`. */
  failureTimes: number[];
}

export interface Load {
  readonly counts: LoadCounts;
  /** `performance.now()` when the load started; `failureTimes` count from here. */
  readonly began: number;
  /** Connections currently open. */
  open(): number;
  /** Stops issuing requests, waits for those in flight, and closes every connection. */
  stop(): Promise<LoadCounts>;
}

export function startLoad(options: LoadOptions): Load {
  const counts: LoadCounts = {
    sent: 0,
    byStatus: {},
    truncated: 0,
    unanswered: 0,
    refused: 0,
    reset: 0,
    timeout: 0,
    connectionsOpened: 0,
    connectionsRefused: 0,
    mismatched: 0,
    failureTimes: [],
  };
  const began = performance.now();
  const timeoutMs = options.requestTimeoutMs ?? 15_000;
  let running = true;
  let inFlight = 0;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ClientHttp2Session>();
  let idle: (() => void) | null = null;
  let nextId = 1;
  /** Counts a 200 whose body is not its own request's (see `mismatched`). */
  const check = (status: number, body: string, id: number): void => {
    if (status === 200 && !body.endsWith(` ${id}`)) counts.mismatched++;
  };

  const done = (bucket: 'truncated' | 'unanswered' | 'reset' | 'timeout' | 'refused' | number): void => {
    inFlight--;
    if (typeof bucket === 'number') {
      counts.byStatus[bucket] = (counts.byStatus[bucket] ?? 0) + 1;
      if (bucket >= 500) counts.failureTimes.push(performance.now() - began);
    } else {
      counts[bucket]++;
      if (bucket !== 'refused') counts.failureTimes.push(performance.now() - began);
    }
    if (inFlight === 0) idle?.();
  };

  function h1Connection(): void {
    if (!running) return;
    const socket = net.connect(options.port, '127.0.0.1');
    let buffer = '';
    let pending: { answered: boolean; timer: NodeJS.Timeout; id: number } | null = null;
    let closeAfter = false;
    const send = (): void => {
      if (!running || closeAfter || socket.destroyed) {
        socket.end();
        return;
      }
      counts.sent++;
      inFlight++;
      const timer = setTimeout(() => {
        pending = null;
        done('timeout');
        socket.destroy();
      }, timeoutMs);
      const id = nextId++;
      pending = { answered: false, timer, id };
      socket.write(`GET ${options.path('h1')} HTTP/1.1\r\nHost: load\r\nX-Request-Id: ${id}\r\n\r\n`);
    };
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      counts.connectionsOpened++;
      sockets.add(socket);
      send();
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (pending !== null) pending.answered = true;
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffer.slice(0, end);
        const framed = /\r\ntransfer-encoding: chunked/i.test(head) ? dechunk(buffer, end + 4) : contentOf(buffer, end + 4, head);
        if (framed === null) return;
        const status = Number(head.slice(9, 12));
        closeAfter ||= /\r\nconnection: close/i.test(head);
        const body = framed.body;
        buffer = buffer.slice(framed.next);
        if (pending === null) return;
        check(status, body, pending.id);
        clearTimeout(pending.timer);
        pending = null;
        done(status);
        const pause = options.pauseMs ?? 0;
        if (pause > 0) setTimeout(send, pause);
        else send();
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') counts.connectionsRefused++;
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (pending !== null) {
        clearTimeout(pending.timer);
        done(pending.answered ? 'truncated' : 'unanswered');
        pending = null;
      }
      if (running) setTimeout(h1Connection, closeAfter ? 0 : 50);
    });
  }

  function h2Session(): void {
    if (!running) return;
    const session = http2.connect(`http://127.0.0.1:${options.port}`);
    let opened = false;
    session.on('connect', () => {
      opened = true;
      counts.connectionsOpened++;
      sessions.add(session);
      for (let i = 0; i < options.h2Streams; i++) stream();
    });
    session.on('error', (error: NodeJS.ErrnoException) => {
      if (!opened && error.code === 'ECONNREFUSED') counts.connectionsRefused++;
    });
    session.on('close', () => {
      sessions.delete(session);
      if (running) setTimeout(h2Session, 50);
    });
    const stream = (): void => {
      if (!running || session.closed || session.destroyed) return;
      counts.sent++;
      inFlight++;
      let settled = false;
      let answered = false;
      let status = 0;
      const settle = (bucket: Parameters<typeof done>[0]): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        done(bucket);
        if (typeof bucket === 'number') {
          const pause = options.pauseMs ?? 0;
          if (pause > 0) setTimeout(stream, pause);
          else stream();
        }
      };
      const timer = setTimeout(() => settle('timeout'), timeoutMs);
      let req: http2.ClientHttp2Stream;
      const id = nextId++;
      let body = '';
      try {
        req = session.request({ ':path': options.path('h2'), 'x-request-id': String(id) });
      } catch {
        settle('refused'); // the session is going away: the request never left
        return;
      }
      req.on('response', (h) => {
        answered = true;
        status = Number(h[':status']);
      });
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        if (answered) check(status, body, id);
        settle(answered ? status : 'truncated');
      });
      req.on('error', () => {});
      req.on('close', () => {
        if (settled) return;
        const code = req.rstCode;
        if (answered) settle('truncated');
        else if (code === http2.constants.NGHTTP2_REFUSED_STREAM || code === http2.constants.NGHTTP2_NO_ERROR || code === undefined) settle('refused');
        else settle('reset');
      });
    };
  }

  const batch = options.rampBatch ?? Number.MAX_SAFE_INTEGER;
  const rampMs = options.rampMs ?? 0;
  const starters: Array<() => void> = [
    ...Array.from({ length: options.h1Connections }, () => h1Connection),
    ...Array.from({ length: options.h2Sessions }, () => h2Session),
  ];
  let startedCount = 0;
  const ramp = (): void => {
    const next = starters.slice(startedCount, startedCount + batch);
    startedCount += next.length;
    for (const start of next) start();
    if (startedCount < starters.length && running) setTimeout(ramp, rampMs);
  };
  ramp();

  return {
    counts,
    began,
    open: () => sockets.size + sessions.size,
    async stop() {
      running = false;
      if (inFlight > 0) await new Promise<void>((resolve) => (idle = resolve));
      for (const socket of sockets) socket.destroy();
      for (const session of sessions) session.destroy();
      return counts;
    },
  };
}

/** A body framed by content-length (none: empty) from `at`; null until all of it is in `buffer`. */
function contentOf(buffer: string, at: number, head: string): { body: string; next: number } | null {
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
  return buffer.length < at + length ? null : { body: buffer.slice(at, at + length), next: at + length };
}

/** A chunked body (a streamed response) from `at`, without trailers; null until all of it is in `buffer`. */
function dechunk(buffer: string, at: number): { body: string; next: number } | null {
  let body = '';
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd === -1) return null;
    const size = Number.parseInt(buffer.slice(at, lineEnd), 16);
    if (size === 0) return buffer.length < lineEnd + 4 ? null : { body, next: lineEnd + 4 };
    if (buffer.length < lineEnd + 2 + size + 2) return null;
    body += buffer.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

export function totalAccounted(counts: LoadCounts): number {
  return (
    Object.values(counts.byStatus).reduce((a, b) => a + b, 0) +
    counts.truncated +
    counts.unanswered +
    counts.refused +
    counts.reset +
    counts.timeout
  );
}
