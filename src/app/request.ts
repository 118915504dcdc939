/**
 * What a handler receives: the request, the same shape over HTTP/1.1, h2c and TLS h2.
 *
 * Everything a handler may not need is computed on first use: the query object, the headers
 * without HTTP/2 pseudo-headers, and the body (read from the socket, limited to `bodyLimit`).
 */

import { parse as parseQueryString } from 'node:querystring';
import type { Readable } from 'node:stream';
import { ErrorCode, HttpError } from '../core/errors.ts';

export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;
export type Query = Readonly<Record<string, string | string[]>>;

/** Where a handler is running. */
export interface IsolateInfo {
  /** `pinned`: inline on the worker that owns the connection. */
  readonly kind: 'pinned' | 'pooled';
  /** Index of the isolate within its kind, from 0. */
  readonly index: number;
  /** `worker_threads.threadId` of the isolate. */
  readonly threadId: number;
}

/**
 * Where the body comes from: the protocol's request stream (read on demand, at most `bodyLimit`
 * bytes), or bytes that were read already.
 */
export type BodySource = Readable | Uint8Array;

const EMPTY_BYTES = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: false });

export class Request {
  /** Uppercase method, e.g. `GET`. A HEAD request served by a GET route still says `HEAD`. */
  readonly method: string;
  /** The path without the query string, as sent (not decoded). */
  readonly path: string;
  /** Path params, percent-decoded; `*` holds what a trailing wildcard matched. */
  readonly params: Readonly<Record<string, string>>;
  /** The isolate running the handler. */
  readonly isolate: IsolateInfo;
  /** The query string without `?`, as sent. */
  readonly rawQuery: string;

  #query: Query | undefined;
  #rawHeaders: IncomingHeaders;
  #hasPseudoHeaders: boolean;
  #headers: IncomingHeaders | undefined;
  #body: BodySource;
  #bodyLimit: number;
  #bytes: Promise<Uint8Array> | undefined;

  constructor(
    method: string,
    path: string,
    rawQuery: string,
    params: Readonly<Record<string, string>>,
    headers: IncomingHeaders,
    hasPseudoHeaders: boolean,
    body: BodySource,
    bodyLimit: number,
    isolate: IsolateInfo,
  ) {
    this.method = method;
    this.path = path;
    this.rawQuery = rawQuery;
    this.params = params;
    this.isolate = isolate;
    this.#rawHeaders = headers;
    this.#hasPseudoHeaders = hasPseudoHeaders;
    this.#body = body;
    this.#bodyLimit = bodyLimit;
  }

  /** Query params; a key given more than once maps to an array of its values. */
  get query(): Query {
    return (this.#query ??= this.rawQuery === '' ? Object.create(null) : parseQueryString(this.rawQuery));
  }

  /** Request headers with lowercase names (HTTP/2 pseudo-headers such as `:path` left out). */
  get headers(): IncomingHeaders {
    if (this.#headers === undefined) {
      if (!this.#hasPseudoHeaders) {
        this.#headers = this.#rawHeaders;
      } else {
        const copy: Record<string, string | string[] | undefined> = Object.create(null);
        for (const name in this.#rawHeaders) if (name.charCodeAt(0) !== 58 /* ':' */) copy[name] = this.#rawHeaders[name];
        this.#headers = copy;
      }
    }
    return this.#headers;
  }

  /** One header as a string (repeated values joined), or `undefined`. Case-insensitive name. */
  header(name: string): string | undefined {
    const value = this.#rawHeaders[name.toLowerCase()];
    if (value === undefined || typeof value === 'string') return value;
    return value.join(name.toLowerCase() === 'cookie' ? '; ' : ', ');
  }

  /** The body as bytes. Rejects with a 413 `HttpError` past `bodyLimit`. Can be called again. */
  bytes(): Promise<Uint8Array> {
    return (this.#bytes ??= readBody(this.#body, this.#bodyLimit));
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

export function bodyTooLarge(limit: number): HttpError {
  return new HttpError(413, `Request body is larger than the limit of ${limit} bytes`, {
    code: ErrorCode.BODY_TOO_LARGE,
  });
}

/** Reads a whole body, at most `limit` bytes; rejects with a 413 or 400 `HttpError`. */
export function readBody(stream: BodySource, limit: number): Promise<Uint8Array> {
  if (stream instanceof Uint8Array) return Promise.resolve(stream);
  if (stream.readableEnded) return Promise.resolve(EMPTY_BYTES);
  // A stream that is already gone will emit nothing more.
  if (stream.destroyed || stream.readableAborted || stream.errored !== null) {
    return Promise.reject(new HttpError(400, 'The request was closed before its body was complete', { code: ErrorCode.BAD_REQUEST }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the protocol layer closes or resets what is left after the 413 is sent.
        stream.pause();
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new HttpError(400, 'The request body could not be read', { code: ErrorCode.BAD_REQUEST, cause: error }));
    };
    const onClose = (): void => {
      cleanup();
      reject(new HttpError(400, 'The request was closed before its body was complete', { code: ErrorCode.BAD_REQUEST }));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
