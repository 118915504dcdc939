/**
 * Server-Sent Events (the WHATWG HTML `text/event-stream` format) from an async iterable:
 *
 *   app.get('/ticks', sse(async function* (req) {
 *     for (let n = 0; ; n++) {
 *       yield { event: 'tick', id: String(n), data: { n } };
 *       await setTimeout(1000);
 *     }
 *   }));
 *
 * Each event is written when the client has taken the one before (the stream is pulled, not
 * pushed), so a slow client holds at most one event plus the socket's buffer. A comment line is
 * sent while the source is quiet, so proxies and the server's own idle timeouts keep the
 * connection open. When the client goes away the source is returned, so its `finally` blocks run
 * once it next yields or settles its own wait; a source that waits on something else (a message
 * bus) passes `req.signal` to that wait, to stop at once. When the server shuts down, event
 * streams end cleanly and clients reconnect.
 */

import { markStreaming, type RequestFor } from './app.ts';
import { reply, type OutgoingHeaders, type Reply } from './response.ts';
import type { RouteSchema } from './schema.ts';

/** One event. A bare string is the same as `{ data: string }`. */
export interface ServerSentEvent {
  /** The payload: a string is sent as is (one `data:` line per line), anything else as JSON. */
  readonly data?: unknown;
  /** The event type the client listens for (`addEventListener(event, ...)`); default `message`. */
  readonly event?: string;
  /** The id the client sends back in `Last-Event-ID` when it reconnects. */
  readonly id?: string;
  /** How long the client waits before it reconnects, in ms. */
  readonly retry?: number;
  /** A comment line, which clients ignore. */
  readonly comment?: string;
}

export interface SseOptions {
  /** Send a comment line after this many ms without an event; 0 for never. @default 15000 */
  readonly heartbeat?: number;
  /** More response headers. */
  readonly headers?: OutgoingHeaders;
}

type EventSource = AsyncIterable<ServerSentEvent | string>;

/**
 * A handler that answers with an event stream: `source` is called with the request and returns
 * the events (an async generator, usually). The route always runs inline (see `stream`).
 */
export function sse<S extends RouteSchema = RouteSchema>(
  source: (req: RequestFor<S>) => EventSource | Promise<EventSource>,
  options: SseOptions = {},
): (req: RequestFor<S>) => Promise<Reply> {
  const heartbeat = options.heartbeat ?? 15_000;
  if (!Number.isInteger(heartbeat) || heartbeat < 0) {
    throw new TypeError(`sse(): heartbeat must be a whole number of ms (0 for none), got ${String(heartbeat)}`);
  }
  const headers = { 'cache-control': 'no-cache', 'x-accel-buffering': 'no', ...options.headers };
  return markStreaming(
    async (req: RequestFor<S>) => reply(eventStream(await source(req), heartbeat), { contentType: EVENT_STREAM, headers }),
    EVENT_STREAM,
  );
}

/** One event in the wire format, ending with the blank line that dispatches it. */
export function formatEvent(event: ServerSentEvent | string): string {
  if (typeof event === 'string') return dataLines(event) + '\n';
  let out = '';
  if (event.comment !== undefined) for (const line of event.comment.split(LINE_BREAK)) out += `: ${line}\n`;
  if (event.event !== undefined) out += `event: ${singleLine('event', event.event)}\n`;
  if (event.id !== undefined) out += `id: ${singleLine('id', event.id)}\n`;
  if (event.retry !== undefined) {
    if (!Number.isInteger(event.retry) || event.retry < 0) throw new TypeError(`an SSE retry must be a whole number of ms, got ${String(event.retry)}`);
    out += `retry: ${event.retry}\n`;
  }
  if (event.data !== undefined) out += dataLines(typeof event.data === 'string' ? event.data : JSON.stringify(event.data));
  // Clients dispatch only events with a data field: a named event without data gets an empty one.
  else if (event.event !== undefined) out += 'data: \n';
  return out + '\n';
}

const EVENT_STREAM = 'text/event-stream';
const LINE_BREAK = /\r\n|\r|\n/;
const HEARTBEAT = ': keep-alive\n\n';
const TICK = Symbol('tick');
const STOP = Symbol('stop');

function dataLines(data: string): string {
  let out = '';
  for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  return out;
}

/** An event name or id: a line break would end the field early, and a NUL in an id is ignored by clients. */
function singleLine(field: string, value: string): string {
  if (/[\r\n]/.test(value) || (field === 'id' && value.includes('\0'))) {
    throw new TypeError(`an SSE ${field} may not contain a line break${field === 'id' ? ' or NUL' : ''}: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The formatted events, with a heartbeat while the source is quiet. Written by hand rather than
 * as an async generator so that `return()` (the client left) takes effect at once, even while
 * the source is waiting for its next event.
 *
 * The source's pending `next()` gets one handler when it is asked for, which hands the outcome to
 * whichever `next()` of ours is waiting, or keeps it for the next one (a heartbeat may have come
 * first). Each of our waits is a promise that settles, so nothing piles up per event or per
 * heartbeat on a stream that lives for days.
 */
function eventStream(events: EventSource, heartbeat: number): AsyncIterableIterator<string> {
  const source = events[Symbol.asyncIterator]();
  type Outcome = { readonly ok: true; readonly step: IteratorResult<ServerSentEvent | string> } | { readonly ok: false; readonly error: unknown };
  let asked = false; // the source is working on a next()
  let arrived: Outcome | null = null; // its answer, not yet taken
  let wake: ((outcome: Outcome | typeof TICK | typeof STOP) => void) | null = null;
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const end: IteratorReturnResult<undefined> = { done: true, value: undefined };

  const deliver = (outcome: Outcome): void => {
    asked = false;
    if (wake !== null) wake(outcome);
    else arrived = outcome;
  };

  const stream: AsyncIterableIterator<string> = {
    [Symbol.asyncIterator]: () => stream,
    async next() {
      if (done) return end;
      if (arrived === null && !asked) {
        asked = true;
        source.next().then(
          (step) => deliver({ ok: true, step }),
          (error: unknown) => deliver({ ok: false, error }),
        );
      }
      let outcome: Outcome | typeof TICK | typeof STOP;
      if (arrived !== null) {
        outcome = arrived;
        arrived = null;
      } else {
        outcome = await new Promise((resolve) => {
          wake = resolve;
          if (heartbeat > 0) timer = setTimeout(resolve, heartbeat, TICK);
        });
        wake = null;
        clearTimeout(timer);
      }
      if (done || outcome === STOP) return end;
      if (outcome === TICK) return { done: false, value: HEARTBEAT };
      if (!outcome.ok) {
        done = true;
        throw outcome.error;
      }
      if (outcome.step.done === true) {
        done = true;
        return end;
      }
      return { done: false, value: formatEvent(outcome.step.value) };
    },
    async return() {
      if (!done) {
        done = true;
        wake?.(STOP);
        void Promise.resolve(source.return?.()).catch(() => {});
      }
      return end;
    },
  };
  return stream;
}
