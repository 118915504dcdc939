/**
 * What a handler receives: the request, the same shape over HTTP/1.1, h2c and TLS h2.
 *
 * Everything a handler may not need is computed on first use: the query object and the body
 * (read from the socket, limited to `bodyLimit`).
 */

import { randomBytes } from 'node:crypto';
import { parse as parseQueryString } from 'node:querystring';
import { ErrorCode, HttpError } from '../core/errors.ts';
import type { AfterFunction, AfterWork } from './after.ts';
import { parseCookies } from './cookies.ts';
import { readBody, type BodySource } from './body.ts';
import { parseForm, type Form } from './form.ts';
import { FORM_DEFAULTS, resolveFormOptions, type FormOptions, type ResolvedFormOptions } from './form-options.ts';
import { TempDir } from './uploaded-file.ts';

export { bodyTooLarge, readBody, type BodySource } from './body.ts';

export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;
export type Query = Readonly<Record<string, string | string[]>>;

/**
 * A client's `x-request-id` is kept when it is 1 to 128 letters, digits and `. _ : @ / + = -`
 * (UUIDs, trace ids, `Root=1-…` as load balancers send them); anything else is replaced, so an
 * id never carries a space, a quote, a bracket or a line break into a log line.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * Ids this isolate makes: 12 random hex digits drawn when it starts, a dash, and a count in base
 * 36 (`3f9a1c2b7d4e-1z`). They are unique within the isolate, and across isolates, restarts and
 * servers with the odds of a 48-bit draw; a UUID per request measured as 1.5 % of a pinned
 * worker's time under load, and its 36 bytes go out in every response's `x-request-id`.
 */
const ID_PREFIX = randomBytes(6).toString('hex');
let idCount = 0;

export function newRequestId(): string {
  return `${ID_PREFIX}-${(++idCount).toString(36)}`;
}

/**
 * The request's id: the client's `x-request-id` when it is sane, else a new one (`newRequestId`),
 * which is put in the headers in its place, so handlers (inline or pooled, which get the headers
 * over the ring) read the same id as the log lines and the response.
 */
export function requestIdOf(headers: IncomingHeaders): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && SANE_REQUEST_ID.test(given)) return given;
  const id = newRequestId();
  (headers as Record<string, string | string[] | undefined>)['x-request-id'] = id;
  return id;
}

/** Where a handler is running. */
export interface IsolateInfo {
  /** `pinned`: inline on the worker that owns the connection. */
  readonly kind: 'pinned' | 'pooled';
  /** Index of the isolate within its kind, from 0. */
  readonly index: number;
  /** `worker_threads.threadId` of the isolate. */
  readonly threadId: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Where the server puts values that passed a route's schemas (see `applyValidated`). */
const VALIDATED = Symbol.for('fasterapi.request.validated');
/** How the server reads a body that needs no waiting for (see `bodyAtHand`). */
const AT_HAND = Symbol.for('fasterapi.request.body-at-hand');
/** Where the server puts the route's `form` options, the defaults of `req.form()` (see `useRouteForm`). */
const ROUTE_FORM = Symbol.for('fasterapi.request.route-form');
/** How the server says a request is over where it cannot watch a connection (see `endRequest`). */
const END = Symbol.for('fasterapi.request.end');
/** How the server starts the functions `after` collected, once the response is sent (see `runAfter`). */
const RUN_AFTER = Symbol.for('fasterapi.request.run-after');

/**
 * What a request came in on, as far as its `signal` needs (a protocol engine's `Incoming`): it
 * emits 'close' when the response is done or the client has gone.
 */
export interface Closable {
  readonly closed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

export interface ValidatedParts {
  params?: unknown;
  query?: unknown;
  headers?: unknown;
  body?: unknown;
}

/**
 * The request. Its type parameters are what the route's schemas produce (see `RouteSchema`): a
 * route without schemas gets strings for params and query, and no `body`.
 */
/**
 * Headers decoded on first use: a pooled request's are read from its ring record only if the
 * handler (or its validation) asks for them. `decode()` is called at most once per request.
 */
export abstract class HeaderSource {
  abstract decode(): IncomingHeaders;
}

export class Request<
  Params = Readonly<Record<string, string>>,
  QueryOf = Query,
  Headers = IncomingHeaders,
  Body = undefined,
> {
  /** Uppercase method, e.g. `GET`. A HEAD request served by a GET route still says `HEAD`. */
  readonly method: string;
  /** The path without the query string, normalised (see docs/limits.md), not decoded. */
  readonly path: string;
  /** Path params, percent-decoded; `*` holds what a trailing wildcard matched. Validated when the route has a `params` schema. */
  readonly params: Params;
  /** The body, parsed as JSON and validated, when the route has a `body` schema. */
  readonly body: Body = undefined as Body;
  /** The isolate running the handler. */
  readonly isolate: IsolateInfo;
  /** The query string without `?`, as sent. */
  readonly rawQuery: string;

  #query: QueryOf | undefined;
  #rawHeaders: IncomingHeaders | HeaderSource;
  #body: BodySource;
  #bodyLimit: number;
  #bytes: Promise<Uint8Array> | undefined;
  #form: Promise<Form> | undefined;
  #formDefaults: ResolvedFormOptions = FORM_DEFAULTS;
  #incoming: Closable | null;
  #over: AbortController | undefined;

  constructor(
    method: string,
    path: string,
    rawQuery: string,
    params: Readonly<Record<string, string>>,
    headers: IncomingHeaders | HeaderSource,
    body: BodySource,
    bodyLimit: number,
    isolate: IsolateInfo,
    incoming: Closable | null = null,
  ) {
    this.method = method;
    this.path = path;
    this.rawQuery = rawQuery;
    this.params = params as Params;
    this.isolate = isolate;
    this.#rawHeaders = headers;
    this.#body = body;
    this.#bodyLimit = bodyLimit;
    this.#incoming = incoming;
  }

  /**
   * Aborted when the request is over: the client went away, or its response has been sent (on
   * the pool: the request timed out, or its answer went back). Long waits and streamed bodies
   * listen to it to stop early: `await setTimeout(60_000, null, { signal: req.signal })`, or
   * `events.on(emitter, 'message', { signal: req.signal })` in an event stream's source.
   */
  get signal(): AbortSignal {
    if (this.#over === undefined) {
      const over = (this.#over = new AbortController());
      const incoming = this.#incoming;
      if (incoming?.closed === true) over.abort();
      else incoming?.once('close', () => over.abort());
    }
    return this.#over.signal;
  }

  /**
   * The request's id: the client's `x-request-id` when it sent a sane one, else one the server
   * made. It is echoed in the response's `x-request-id`, names the request in log lines, and is
   * the `errorId` of a 500 this request gets.
   */
  get id(): string {
    const id = this.#received()['x-request-id'];
    return typeof id === 'string' ? id : (this.#id ??= newRequestId());
  }

  #id: string | undefined;

  /** The server's side of `signal` where there is no connection to watch (a pooled request). */
  [END](): void {
    this.#over?.abort();
  }

  #after: AfterFunction[] | null = null;
  /** Where `after` sends functions once the response has been sent; null before. */
  #afterWork: AfterWork | null = null;
  /** The run of the functions added last: one added from now on waits for it. */
  #afterRun: Promise<void> | null = null;

  /**
   * Runs `fn` on this isolate once the response has been sent (for a streamed body: once its last
   * chunk went out, or the client left): work the client should not wait for. Functions run one
   * after another in the order they were added; what one throws or rejects with is logged under
   * the request's id, and the next still runs. A graceful shutdown waits for them within its
   * grace period. Called once the response is already sent (from an `after` function, say), `fn`
   * runs as soon as the functions added before it have finished (on the next turn if they have).
   * On a pooled isolate they run once the answer has been handed to the pinned worker.
   */
  after(fn: AfterFunction): void {
    if (typeof fn !== 'function') throw new TypeError('req.after() takes a function');
    if (this.#afterWork !== null) this.#afterRun = this.#afterWork.run([fn], `${this.method} ${this.path}`, this.id, this.#afterRun);
    else (this.#after ??= []).push(fn);
  }

  [RUN_AFTER](work: AfterWork): void {
    this.#afterWork = work;
    const fns = this.#after;
    this.#after = null;
    if (fns !== null) this.#afterRun = work.run(fns, `${this.method} ${this.path}`, this.id, null);
    const cleanups = this.#overCleanups;
    this.#overCleanups = null;
    if (cleanups !== null) void this.#afterSettled().then(() => cleanups.forEach((cleanup) => cleanup()));
  }

  /** Cleanups of a request that ended before its after() functions were started. */
  #overCleanups: (() => void)[] | null = null;

  /**
   * Runs `cleanup` once the request is over (`signal` aborted) and the after() functions it
   * added have finished. The request usually ends before they start (a pooled request ends as
   * its answer goes back), so a cleanup then waits for `RUN_AFTER`, which the server calls once
   * the response is sent or the client left (on the pool: once the handler settled, so one
   * that never does keeps its files, as it keeps its form). An after() function that never
   * settles keeps them until the isolate ends.
   */
  #whenOver(cleanup: () => void): void {
    const ended = (): void => {
      if (this.#after !== null) (this.#overCleanups ??= []).push(cleanup);
      else void this.#afterSettled().then(cleanup);
    };
    const over = this.signal;
    if (over.aborted) ended();
    else over.addEventListener('abort', ended, { once: true });
  }

  /** Resolves once the after() work has finished, with the functions added while it ran; never rejects. */
  async #afterSettled(): Promise<void> {
    let run = this.#afterRun;
    while (run !== null) {
      await run;
      run = run === this.#afterRun ? null : this.#afterRun;
    }
  }

  /** Query params; a key given more than once maps to an array of its values. Validated when the route has a `query` schema. */
  get query(): QueryOf {
    return (this.#query ??= (this.rawQuery === '' ? Object.create(null) : parseQueryString(this.rawQuery)) as QueryOf);
  }

  /**
   * Request headers with lowercase names: the header fields only, over every protocol (HTTP/2's
   * pseudo-headers such as `:path` are the protocol's, and never get here). Validated when the
   * route has a `headers` schema.
   */
  get headers(): Headers {
    return this.#validatedHeaders ?? (this.#received() as Headers);
  }

  #received(): IncomingHeaders {
    const raw = this.#rawHeaders;
    if (raw instanceof HeaderSource) return (this.#rawHeaders = raw.decode());
    return raw;
  }

  #validatedHeaders: Headers | undefined;

  /** The server sets what passed the route's schemas here, before the handler runs. */
  [VALIDATED](parts: ValidatedParts): void {
    const self = this as { params: unknown; body: unknown };
    if ('params' in parts) self.params = parts.params;
    if ('body' in parts) self.body = parts.body;
    if ('query' in parts) this.#query = parts.query as QueryOf;
    if ('headers' in parts) this.#validatedHeaders = parts.headers as Headers;
  }

  /** The body if it needs no reading (a pooled request's, carried over the ring), else undefined. */
  [AT_HAND](): Uint8Array | undefined {
    return this.#body instanceof Uint8Array ? this.#body : undefined;
  }

  /**
   * The request's cookies by name, parsed from its `Cookie` header(s) on first use and then kept:
   * a frozen object that inherits nothing, so `__proto__` or `constructor` are cookie names like
   * any other. The first cookie of a name wins; values are not percent-decoded (see
   * `parseCookies`). Signed cookies are read with `signedCookies(...).get(req, name)`.
   */
  get cookies(): Readonly<Record<string, string>> {
    return (this.#cookies ??= Object.freeze(parseCookies(headerValue(this.#received(), 'cookie'))));
  }

  #cookies: Readonly<Record<string, string>> | undefined;

  /** One header as a string (repeated values joined), or `undefined`. Case-insensitive name. */
  header(name: string): string | undefined {
    return headerValue(this.#received(), name);
  }

  /** The body as bytes. Rejects with a 413 `HttpError` past `bodyLimit`. Can be called again. */
  bytes(): Promise<Uint8Array> {
    return (this.#bytes ??= readBody(this.#body, this.#bodyLimit));
  }

  /**
   * The body parsed as a form (`multipart/form-data` or `application/x-www-form-urlencoded`):
   * its fields and its files (see `Form`, `UploadedFile`). `options` override the route's `form`
   * options, which override the defaults (docs/limits.md); the first call's options are the ones
   * that count, later calls get the same form. Rejects with an `HttpError`: 415 for another
   * content type, 400 for a malformed form or one past a count limit, 413 past a size limit or
   * the body limit (the route's `bodyLimit`, else the server's).
   *
   * A multipart body is parsed as it arrives, not read into memory first. Files larger than
   * `memoryLimit` go to temporary files, which are deleted when the request is over unless the
   * handler moved them with `file.moveTo(dest)`. The body is read once: after `form()`,
   * `bytes()` has nothing more to read unless it was called first.
   */
  form(options?: FormOptions): Promise<Form> {
    return (this.#form ??= this.#parseForm(options));
  }

  async #parseForm(options: FormOptions | undefined): Promise<Form> {
    const resolved = resolveFormOptions(options, this.#formDefaults);
    if (typeof resolved === 'string') throw new TypeError(`req.form(): ${resolved}`);
    const temp = new TempDir(resolved.tmpDir);
    // The request's end deletes its temporary files, wherever the form got to by then, but not
    // under its after() functions, which may still read them.
    this.#whenOver(() => void temp.end());
    const body = this.#bytes !== undefined ? await this.#bytes : this.#body;
    return parseForm({ body, contentType: this.header('content-type'), bodyLimit: this.#bodyLimit, temp }, resolved);
  }

  /** The route's `form` options, the defaults of `form()`. */
  [ROUTE_FORM](options: ResolvedFormOptions): void {
    this.#formDefaults = options;
  }

  /** The body decoded as UTF-8. */
  async text(): Promise<string> {
    return utf8.decode(await this.bytes());
  }

  /** The body parsed as JSON. Rejects with a 400 `HttpError` when it is not valid JSON. */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (thrown) {
      throw new HttpError(400, 'Request body is not valid JSON', { code: ErrorCode.INVALID_JSON, cause: thrown });
    }
  }
}

/**
 * One header of `headers` as a string, or `undefined`; case-insensitive name. Repeated values
 * are joined as their field allows: cookies with `; ` (RFC 9113 §8.2.3), others with `, `
 * (RFC 9110 §5.3). `Request.header` and the hooks' `header` both read headers this way.
 */
export function headerValue(headers: IncomingHeaders, name: string): string | undefined {
  const lower = name.toLowerCase();
  const value = headers[lower];
  if (value === undefined || typeof value === 'string') return value;
  return value.join(lower === 'cookie' ? '; ' : ', ');
}

/** The request's body when it is already in memory, so validation can run without a promise. */
export function bodyAtHand(req: Request<unknown, unknown, unknown, unknown>): Uint8Array | undefined {
  return req[AT_HAND]();
}

/** Makes `options` (a route's `form`) the defaults of `req.form()`. */
export function useRouteForm(req: Request<unknown, unknown, unknown, unknown>, options: ResolvedFormOptions): void {
  req[ROUTE_FORM](options);
}

/** Ends `req`'s `signal`: its answer went back, or the pinned worker gave up on it. */
export function endRequest(req: Request<unknown, unknown, unknown, unknown>): void {
  req[END]();
}

/**
 * The response to `req` has been sent: its `after` functions run on `work` (and any added from now
 * on run at once). Nothing is allocated for a request that added none.
 */
export function runAfter(req: Request<unknown, unknown, unknown, unknown>, work: AfterWork): void {
  req[RUN_AFTER](work);
}

/** Gives `req` the values that passed its route's schemas. */
export function applyValidated(req: Request<unknown, unknown, unknown, unknown>, parts: ValidatedParts): void {
  req[VALIDATED](parts);
}
