/**
 * The in-process protocol: an `Incoming` made from a web `Request`, whose answer becomes a web
 * `Response`, with no socket in between. It is what `app.request()` feeds the request lifecycle
 * (server/in-process.ts), so everything above this line runs as it does for HTTP/1.1 and HTTP/2.
 *
 * The response is what a client of the real engines would see, less what belongs to a
 * connection: status, header fields (repeated values kept apart, `set-cookie` included), and
 * `content-length` for a whole body (also on a HEAD answer, where the body is left out), as
 * http1.ts and http2.ts send them. Not added: `date`, and the hop-by-hop fields
 * (`connection`, `keep-alive`, `transfer-encoding`) that only describe the connection.
 *
 * A streamed body becomes a `ReadableStream` the caller pulls from: `pipeBody` (body.ts) writes
 * it to a Writable that takes one chunk each time the reader asks for one, so a reader that
 * stops reading stops the source, as a slow client does. Cancelling the reader is a client
 * going away: the source is released and the request's `signal` aborts.
 */

import { Readable, Writable } from 'node:stream';
import type { IncomingHeaders } from '../app/request.ts';
import { disposeBody, isBodyStream, type Outgoing } from '../app/response.ts';
import { emptyRecord } from '../core/record.ts';
import { bodyLength, pipeBody, streamLength } from './body.ts';
import { ignore, type Incoming, type RespondOptions } from './incoming.ts';

/** What a request needs besides its web `Request`: the target as sent, and its body. */
export interface MemoryRequestParts {
  /** Origin form, as a client would send it: the path and `?query`. */
  readonly target: string;
  readonly headers: IncomingHeaders;
  /** The body as a stream, or null when the request has none. */
  readonly body: Readable | null;
}

/** What `app.request()` accepts as its first argument. */
export type RequestInput = string | URL | globalThis.Request;

/**
 * The `Incoming` for a web request. `input` is a path (`/users/1?x=2`, sent as it is, like a
 * client that does not normalise it), a URL (its host becomes the Host header), or a `Request`.
 * A body given as a ReadableStream or an async iterable is streamed, without content-length, as
 * a chunked upload is; any other body (a string, bytes, a Blob, FormData, URLSearchParams, a
 * `Request`'s body) is read first and gets the content-length a client would send.
 */
export async function memoryIncoming(input: RequestInput, init: RequestInit | undefined): Promise<MemoryIncoming> {
  const asPath = typeof input === 'string' && input.startsWith('/');
  const streamed = init?.body !== undefined && init.body !== null && isStreamSource(init.body);
  const from = asPath ? `http://localhost${input}` : input;
  const request = new globalThis.Request(from, streamed ? ({ ...init, duplex: 'half' } as RequestInit) : init);
  const url = new URL(request.url);
  const parsed = `${url.pathname}${url.search}`;
  // A path is sent as given, unless it holds what no request line may (spaces, controls,
  // non-ASCII): then as the URL parser encoded it, as a client would have to.
  const target = asPath && !/[^\x21-\x7e]/.test(input) ? input : parsed;
  const headers = emptyRecord<string | string[]>();
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const cookies = request.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  headers['host'] ??= url.host;
  let body: Readable | null = null;
  if (request.body !== null) {
    if (streamed) {
      body = Readable.fromWeb(request.body as import('node:stream/web').ReadableStream<Uint8Array>);
    } else {
      const bytes = Buffer.from(await request.arrayBuffer());
      headers['content-length'] ??= String(bytes.byteLength);
      if (bytes.byteLength > 0) body = Readable.from([bytes], { objectMode: false });
    }
  }
  return new MemoryIncoming(request.method.toUpperCase(), { target, headers, body });
}

function isStreamSource(body: unknown): boolean {
  if (body instanceof ReadableStream) return true;
  return typeof body === 'object' && body !== null && typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

export class MemoryIncoming implements Incoming {
  readonly protocol = 'memory';
  readonly method: string;
  readonly target: string;
  readonly headers: IncomingHeaders;
  readonly body: Readable;
  readonly bodyless: boolean;
  /** Settles with the response once the lifecycle answers (the head; a streamed body follows). */
  readonly response: Promise<globalThis.Response>;
  #resolve!: (response: globalThis.Response) => void;
  #reject!: (reason: unknown) => void;
  #answered = false;
  #closed = false;
  #onClose: Array<() => void> = [];
  /** The streamed body's writer, while it streams. */
  #out: Writable | null = null;

  constructor(method: string, parts: MemoryRequestParts) {
    this.method = method;
    this.target = parts.target;
    this.headers = parts.headers;
    this.bodyless = parts.body === null;
    this.body = parts.body ?? Readable.from([], { objectMode: false });
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  once(_event: 'close', listener: () => void): this {
    if (this.#closed) queueMicrotask(listener);
    else this.#onClose.push(listener);
    return this;
  }

  /**
   * The caller gave up (its `signal` aborted): as a client that closed its connection. A
   * response not yet given rejects with `reason`; a body being streamed stops.
   */
  abort(reason: unknown): void {
    if (!this.#answered) {
      this.#answered = true;
      this.#reject(reason);
    }
    this.#out?.destroy();
    this.#close();
  }

  respond(outgoing: Outgoing, options: RespondOptions): void | Promise<void> {
    const body = outgoing.body;
    if (this.#answered) {
      disposeBody(body);
      return;
    }
    const headers = webHeaders(outgoing.headers);
    if (isBodyStream(body)) {
      // A stream of known length (a file) goes out with its content-length, as over HTTP/1.1 and
      // HTTP/2; HEAD says what GET would send.
      const length = streamLength(body);
      if (length !== undefined && !nullBodyStatus(outgoing.status)) headers.set('content-length', String(length));
      if (options.head) {
        this.#answer(new globalThis.Response(null, { status: outgoing.status, headers }));
        disposeBody(body);
        this.#close();
        return;
      }
      const { out, stream } = pullWriter();
      // Throws before anything is answered if the status or headers cannot make a Response.
      const response = new globalThis.Response(stream, { status: outgoing.status, headers });
      this.#out = out;
      out.once('close', () => this.#close());
      // A cut body reaches the reader as the stream's error (see `fail`); the Writable's own is not news.
      out.on('error', ignore);
      this.#answer(response);
      return pipeBody(body, out, false, options.stop);
    }
    if (body !== null) headers.set('content-length', String(bodyLength(body)));
    const sent = body === null || options.head || nullBodyStatus(outgoing.status) ? null : body;
    // Bytes, never a string: given a string, the web Response would add a content-type of its own.
    const bytes = typeof sent === 'string' ? Buffer.from(sent, 'utf8') : sent;
    this.#answer(new globalThis.Response(bytes, { status: outgoing.status, headers }));
    this.#close();
    return undefined;
  }

  fail(): void {
    if (!this.#answered) {
      this.#answer(new globalThis.Response(Buffer.from('Internal Server Error'), { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
      this.#close();
      return;
    }
    // The body was under way: it errors for the reader, as a cut connection does.
    this.#out?.destroy(new Error('the response was cut'));
  }

  #answer(response: globalThis.Response): void {
    this.#answered = true;
    this.#resolve(response);
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const listeners = this.#onClose;
    this.#onClose = [];
    for (const listener of listeners) listener();
  }
}

/** 204, 205 and 304 carry no body; the lifecycle already sends none with them. */
function nullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

/** Hop-by-hop fields: they describe a connection, which an in-process answer does not have. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

function webHeaders(outgoing: Outgoing['headers']): Headers {
  const headers = new Headers();
  for (const name in outgoing) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = outgoing[name];
    if (value === undefined) continue;
    if (typeof value === 'object') for (const item of value) headers.append(name, item);
    else headers.append(name, String(value));
  }
  return headers;
}

/**
 * A Writable whose chunks a ReadableStream hands out one per read: `write()` returns false for
 * every chunk (a high-water mark of one byte), so `pipeBody` waits for 'drain', which comes when
 * the reader has taken the chunk. Cancelling the reader destroys the Writable, which `pipeBody`
 * sees as a client gone. Destroying it with an error errors the reader.
 */
function pullWriter(): { out: Writable; stream: ReadableStream<Uint8Array> } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pending: { chunk: Uint8Array; taken: () => void } | null = null;
  let wanted: (() => void) | null = null;
  let settled = false;
  const hand = (): void => {
    if (pending === null || wanted === null) return;
    const { chunk, taken } = pending;
    const wake = wanted;
    pending = null;
    wanted = null;
    controller.enqueue(chunk);
    wake();
    taken();
  };
  const settle = (how: () => void): void => {
    if (settled) return;
    settled = true;
    how();
    wanted?.();
    wanted = null;
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        if (settled) return undefined;
        return new Promise<void>((resolve) => {
          wanted = resolve;
          hand();
        });
      },
      cancel() {
        settled = true;
        out.destroy();
      },
    },
    { highWaterMark: 0 },
  );
  const out = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, taken) {
      // A copy: a Buffer may be a view of a shared slab, which the reader should not see.
      pending = { chunk: new Uint8Array(chunk), taken: () => taken() };
      hand();
    },
    final(done) {
      settle(() => controller.close());
      done();
    },
    destroy(error, done) {
      if (error !== null) settle(() => controller.error(error));
      else settle(() => controller.error(new Error('the response was cut')));
      done(error);
    },
  });
  return { out, stream };
}
