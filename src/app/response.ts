/**
 * What a handler gives back, and how it becomes one protocol-neutral `Outgoing` response.
 *
 * A handler may return:
 *   string                       → 200 text/plain; charset=utf-8
 *   Uint8Array / ArrayBuffer     → 200 application/octet-stream
 *   an async iterable of strings or bytes, a Node.js Readable or a web ReadableStream
 *                                → 200 application/octet-stream, streamed (see `Body`)
 *   reply(body, { status, ... }) → its status, headers and content type
 *   any other value (not undefined) → 200 application/json
 *   undefined                    → whatever it set on `res` (FasterAPI's `(req, res)` style)
 */

import { validateHeaderName, validateHeaderValue } from 'node:http';
import { inspectSafely, messageOf } from '../core/describe.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, ok, type Result } from '../core/result.ts';
import { clearCookie, setCookie, type ClearCookieOptions, type CookieOptions } from './cookies.ts';

export type HeaderValue = string | number | readonly string[];
export type OutgoingHeaders = Record<string, HeaderValue>;

/**
 * A streamed body: chunks written as they come, with backpressure (the next chunk is asked for
 * only once the client has taken the last), over chunked HTTP/1.1 or HTTP/2 DATA frames.
 */
export type BodyStream = AsyncIterable<string | Uint8Array>;

/** A response ready for the wire: lowercase, validated header names; body already encoded. */
export interface Outgoing {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** `null` for no body. Strings are sent as UTF-8. */
  readonly body: string | Uint8Array | BodyStream | null;
}

/** A response whose body is all in memory: what crosses from a pooled isolate over a ring. */
export interface BufferedOutgoing extends Outgoing {
  readonly body: string | Uint8Array | null;
}

/**
 * A streamed body whose length is known before its first byte (a file): it is sent with a
 * `content-length` rather than chunked (HTTP/1.1), and a HEAD request gets that length without
 * the body being read. It must yield exactly `length` bytes, or throw, which cuts the response
 * (a client must never take a short body for a whole one). Only bodies made by the server are
 * sized: an app's stream, or one a plugin wraps around this one, is sent as a plain stream.
 */
export abstract class SizedBody implements AsyncIterable<Uint8Array> {
  /** How many bytes the body yields. */
  abstract readonly length: number;
  abstract [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
  /** Releases what the body holds (a file descriptor) without sending it; may be called more than once. */
  abstract destroy(): void;
}

/**
 * Whether `value` is a streamed body (an async iterable). Never throws: a value whose
 * `Symbol.asyncIterator` cannot be read (a revoked Proxy, a getter that throws) is not one.
 */
export function isBodyStream(value: unknown): value is BodyStream {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
  } catch {
    return false;
  }
}

/**
 * Releases a streamed body that will not be sent (HEAD, 204/304, a client gone, an answer that
 * became an error): a Readable is destroyed (its file descriptor closed), a web ReadableStream
 * cancelled, a generator returned. Anything else is left alone. Never throws.
 */
export function disposeBody(body: unknown): void {
  if (!isBodyStream(body)) return;
  const handle = body as { destroy?: unknown; cancel?: unknown; return?: unknown; locked?: boolean };
  try {
    if (typeof handle.destroy === 'function') {
      (handle.destroy as () => void).call(body);
    } else if (typeof handle.cancel === 'function' && handle.locked !== true) {
      void Promise.resolve((handle.cancel as () => unknown).call(body)).catch(() => {});
    } else {
      const iterator = typeof handle.return === 'function' ? (body as unknown as AsyncIterator<unknown>) : body[Symbol.asyncIterator]();
      void Promise.resolve(iterator.return?.()).catch(() => {});
    }
  } catch {
    // The body's own cleanup failed; there is nothing more to release.
  }
}

/**
 * FasterAPI's `(req, res)` style: set fields on `res` and return nothing. A handler gets its own
 * `res` when it declares two parameters; others share a frozen, empty one.
 */
export class Response {
  /** @default 200 */
  status = 200;
  /** Overrides the content type derived from the body. */
  contentType: string | undefined = undefined;
  /** The response body; typed like a handler's return value. */
  body: unknown = undefined;
  #headers: OutgoingHeaders | undefined;

  /** Response headers to send; names are case-insensitive. */
  get headers(): OutgoingHeaders {
    return (this.#headers ??= {});
  }
  set headers(value: OutgoingHeaders) {
    this.#headers = value;
  }

  /**
   * Adds a `Set-Cookie` field; each call adds one, sent as a field of its own. Throws a
   * TypeError for an invalid name, value or option (see `serializeCookie`).
   */
  cookie(name: string, value: string, options?: CookieOptions): this {
    setCookie(this.#own('cookie').headers, name, value, options);
    return this;
  }

  /** Adds a `Set-Cookie` field that drops the cookie `name` (same `path` and `domain` as it was set with). */
  clearCookie(name: string, options?: ClearCookieOptions): this {
    clearCookie(this.#own('clearCookie').headers, name, options);
    return this;
  }

  /** This response, when it belongs to one request: not the shared `NO_RESPONSE`. */
  #own(method: string): this {
    if (Object.isFrozen(this)) {
      throw new TypeError(`res.${method}() needs a response of the handler's own: declare the handler with two parameters, (req, res)`);
    }
    return this;
  }

  /** Whether `headers` was ever touched, so an untouched response skips header validation. */
  get hasHeaders(): boolean {
    return this.#headers !== undefined;
  }
}

/** What handlers that declare fewer than two parameters get as `res`: status 200, no body. */
export const NO_RESPONSE = Object.freeze(new Response()) as Response;

const REPLY = Symbol.for('fasterapi.reply');

export interface ReplyInit {
  /** @default 200 */
  readonly status?: number;
  readonly headers?: OutgoingHeaders;
  /** Overrides the content type derived from the body. */
  readonly contentType?: string;
}

export interface Reply extends ReplyInit {
  readonly [REPLY]: true;
  readonly body: unknown;
}

/** A response value with a status, headers and a body: `return reply({ id }, { status: 201 })`. */
export function reply(body: unknown, init: ReplyInit = {}): Reply {
  return { [REPLY]: true, body, ...init };
}

export function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[REPLY] === true;
}

/** Why a handler's output could not become a response; it is answered 500. */
export interface InvalidOutput {
  readonly code: typeof ErrorCode.HANDLER | typeof ErrorCode.INVALID_RESPONSE_HEADER;
  readonly message: string;
}

const TEXT = 'text/plain; charset=utf-8';
export const JSON_TYPE = 'application/json; charset=utf-8';
const BINARY = 'application/octet-stream';

/**
 * Headers a handler may not set, left out of the response: framing and hop-by-hop headers the
 * server manages itself (content-length is computed, keep-alive is the server's), and request-only
 * or HTTP/2-forbidden ones that one of the protocols would refuse to send. `connection` is kept
 * for HTTP/1.1 (`connection: close`) and dropped by the HTTP/2 engine.
 */
const SERVER_MANAGED = new Set([
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
]);

/** Headers that may appear once per response (node:http2 refuses a list for them). */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age',
  'authorization', 'content-encoding', 'content-language', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
  'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent',
  'x-content-type-options',
]);

/**
 * What a handler answered, each part read once. A reply's or `res`'s fields are the app's
 * objects: a getter could answer differently on each read (a status that reads 500 for the
 * response-schema check and 200 when sent), so everything after this works on the snapshot.
 */
export interface Answer {
  readonly status: unknown;
  readonly body: unknown;
  readonly contentType: unknown;
  readonly headers: OutgoingHeaders | undefined;
}

/** Reads `returned` (and `res`) once into an `Answer`. May throw (a getter): call it in a `try`. */
export function answerOf(returned: unknown, res: Response): Answer {
  if (isReply(returned)) {
    const { status, body, contentType, headers } = returned;
    return { status: status ?? 200, body, contentType, headers };
  }
  if (returned !== undefined) return { status: 200, body: returned, contentType: undefined, headers: undefined };
  return { status: res.status, body: res.body, contentType: res.contentType, headers: res.hasHeaders ? res.headers : undefined };
}

/** Turns a handler's return value (and its `res`) into an `Outgoing`. May throw: call it in a `try`. */
export function toOutgoing(returned: unknown, res: Response): Result<Outgoing, InvalidOutput> {
  return fromAnswer(answerOf(returned, res));
}

/** Turns an `Answer` into an `Outgoing`, checking every part. */
export function fromAnswer(answer: Answer): Result<Outgoing, InvalidOutput> {
  const { status, body, contentType, headers } = answer;
  if (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599) {
    return err({ code: ErrorCode.HANDLER, message: `invalid response status ${inspectSafely(status)} (expected 200-599)` });
  }
  if (contentType !== undefined && typeof contentType !== 'string') {
    return err({ code: ErrorCode.INVALID_RESPONSE_HEADER, message: `invalid content type ${inspectSafely(contentType)}: it must be a string` });
  }
  let bytes: string | Uint8Array | BodyStream | null;
  let derivedType: string | null;
  // The common bodies first, without the generic encoder's allocations.
  if (typeof body === 'string') {
    bytes = body;
    derivedType = TEXT;
  } else {
    const encoded = encodeBody(body);
    if (!encoded.ok) return encoded;
    [bytes, derivedType] = encoded.value;
  }
  const noBody = status === 204 || status === 304;

  const out: Record<string, string | readonly string[]> = {};
  const type = contentType ?? derivedType;
  if (type !== null && !noBody) out['content-type'] = type;
  if (headers !== undefined) {
    const copied = copyHeaders(headers, out);
    if (!copied.ok) return copied;
  }
  if (contentType !== undefined) {
    const checked = checkHeader('content-type', contentType);
    if (!checked.ok) return checked;
  }
  if (noBody) disposeBody(bytes);
  return ok({ status: status as number, headers: out, body: noBody ? null : bytes });
}

/**
 * Checks a response after onResponse hooks have changed it, by the rules a handler's answer
 * follows: a status from 200 to 599, valid headers (copied with lowercase names, framing headers
 * left out), a body that is a string, bytes, a stream or null, and none on 204 and 304.
 */
export function checkDraft(draft: {
  readonly status: number;
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly body: unknown;
}): Result<Outgoing, InvalidOutput> {
  // Each field of the draft is read once (a hook may have left getters on it).
  const { status, body: left } = draft;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    return err({ code: ErrorCode.HANDLER, message: `invalid response status ${inspectSafely(status)} (expected 200-599)` });
  }
  let body: Outgoing['body'];
  if (left instanceof Uint8Array) {
    const own = ownBytes(left);
    if (!own.ok) return own;
    body = own.value;
  } else if (left === null || typeof left === 'string' || isBodyStream(left)) {
    body = left;
  } else {
    return err({ code: ErrorCode.HANDLER, message: `the body must be a string, bytes, a stream or null, not ${left === undefined ? 'undefined' : typeof left}` });
  }
  const headers = copyHeaders(draft.headers as OutgoingHeaders, {});
  if (!headers.ok) return headers;
  if (status === 204 || status === 304) {
    disposeBody(body);
    return ok({ status, headers: headers.value, body: null });
  }
  return ok({ status, headers: headers.value, body });
}

/**
 * Validates handler-set `headers` and copies them into `into` with lowercase names, leaving out
 * framing headers (the server computes them) and empty lists.
 */
export function copyHeaders(
  headers: OutgoingHeaders,
  into: Record<string, string | readonly string[]>,
): Result<Record<string, string | readonly string[]>, InvalidOutput> {
  for (const name in headers) {
    const checked = checkHeader(name, headers[name] as HeaderValue);
    if (!checked.ok) return checked;
    const lower = name.toLowerCase();
    if (SERVER_MANAGED.has(lower)) continue;
    let value = checked.value;
    if (typeof value !== 'string') {
      if (value.length === 0) continue;
      if (value.length === 1) value = value[0] as string;
      else if (SINGLE_VALUE.has(lower)) {
        return err({
          code: ErrorCode.INVALID_RESPONSE_HEADER,
          message: `invalid response header ${JSON.stringify(name)}: it may have one value, got ${value.length}`,
        });
      }
    }
    // A plain assignment of `__proto__` would set the object's prototype, not a header.
    if (lower === '__proto__') Object.defineProperty(into, lower, { value, enumerable: true, writable: true, configurable: true });
    else into[lower] = value;
  }
  return ok(into);
}

type Encoded = readonly [body: string | Uint8Array | BodyStream | null, contentType: string | null];

// The engine's own accessors for buffers and views: they read internal slots, so a subclass or
// an own property of the app's cannot lie about where the bytes are or how many there are.
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (proto: object, name: string): ((this: unknown) => unknown) =>
  Object.getOwnPropertyDescriptor(proto, name)!.get as (this: unknown) => unknown;
const taBuffer = intrinsic(TYPED_ARRAY, 'buffer');
const taOffset = intrinsic(TYPED_ARRAY, 'byteOffset');
const taLength = intrinsic(TYPED_ARRAY, 'byteLength');
const dvBuffer = intrinsic(DataView.prototype, 'buffer');
const dvOffset = intrinsic(DataView.prototype, 'byteOffset');
const dvLength = intrinsic(DataView.prototype, 'byteLength');
const abLength = intrinsic(ArrayBuffer.prototype, 'byteLength');
const abResizable = intrinsic(ArrayBuffer.prototype, 'resizable');
const abDetached = intrinsic(ArrayBuffer.prototype, 'detached');
const sabLength = intrinsic(SharedArrayBuffer.prototype, 'byteLength');
const sabGrowable = intrinsic(SharedArrayBuffer.prototype, 'growable');

/**
 * The bytes of a body the app handed over, as a plain Uint8Array of ours: a fresh view over the
 * same memory (no copy), so no subclass getter, own property or method of the app's is ever
 * read again — not by the content-length, not by the pool's codec. A buffer that can still
 * change size (resizable, growable) is copied, since its bytes would change under the writer;
 * a detached one cannot be sent.
 */
function ownBytes(view: ArrayBufferView): Result<Uint8Array, InvalidOutput> {
  const isTyped = !(view instanceof DataView);
  const buffer = (isTyped ? taBuffer : dvBuffer).call(view) as ArrayBufferLike;
  const offset = (isTyped ? taOffset : dvOffset).call(view) as number;
  const length = (isTyped ? taLength : dvLength).call(view) as number;
  return bufferBytes(buffer, offset, length);
}

function bufferBytes(buffer: ArrayBufferLike, offset: number, length: number | undefined): Result<Uint8Array, InvalidOutput> {
  // A buffer whose prototype was swapped fails the accessor's own check (a TypeError, a 500).
  const shared = buffer instanceof SharedArrayBuffer;
  if (!shared && abDetached.call(buffer) === true) {
    return err({ code: ErrorCode.HANDLER, message: 'the response body is a detached buffer (transferred or released), which has no bytes to send' });
  }
  const size = length ?? ((shared ? sabLength : abLength).call(buffer) as number);
  const view = new Uint8Array(buffer, offset, size);
  if ((shared ? sabGrowable : abResizable).call(buffer) !== true) return ok(view);
  const copy = new Uint8Array(size);
  copy.set(view);
  return ok(copy);
}

function encodeBody(body: unknown): Result<Encoded, InvalidOutput> {
  // Strings never get here: `fromAnswer` handles them first.
  if (body === undefined) return ok([null, null]);
  if (body instanceof Uint8Array || ArrayBuffer.isView(body)) {
    const own = ownBytes(body as ArrayBufferView);
    return own.ok ? ok([own.value, BINARY]) : own;
  }
  if (body instanceof ArrayBuffer || body instanceof SharedArrayBuffer) {
    const own = bufferBytes(body, 0, undefined);
    return own.ok ? ok([own.value, BINARY]) : own;
  }
  if (isBodyStream(body)) return ok([body, BINARY]);
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (thrown) {
    // A BigInt, a cycle, or whatever a `toJSON` threw.
    return err({ code: ErrorCode.HANDLER, message: `the response body could not be serialised as JSON: ${messageOf(thrown)}` });
  }
  if (json === undefined) {
    return err({ code: ErrorCode.HANDLER, message: `a ${typeof body} cannot be sent as a response body` });
  }
  return ok([json, JSON_TYPE]);
}

function checkHeader(name: string, value: HeaderValue): Result<string | readonly string[], InvalidOutput> {
  try {
    if (value === undefined || value === null) return err({ code: ErrorCode.INVALID_RESPONSE_HEADER, message: `invalid response header ${JSON.stringify(name)}: the value is missing` });
    validateHeaderName(name);
    // Each value is converted once and what was checked is what is sent: a `toString` or an
    // iterator of the app's could answer differently on a second read.
    if (Array.isArray(value)) {
      const items: string[] = [];
      const count = value.length;
      for (let i = 0; i < count; i++) {
        const item = String(value[i]);
        validateHeaderValue(name, item);
        items.push(item);
      }
      return ok(items);
    }
    const text = String(value);
    validateHeaderValue(name, text);
    return ok(text);
  } catch (thrown) {
    // Node's own TypeError for an invalid name or value, or whatever a value's toString threw.
    return err({ code: ErrorCode.INVALID_RESPONSE_HEADER, message: `invalid response header ${JSON.stringify(name)}: ${messageOf(thrown)}` });
  }
}
