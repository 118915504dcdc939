/**
 * Stable error codes. Code and docs match them by `code`, never by message text, and errors that
 * cross isolates are recognised by the `Symbol.for` brand, never by `instanceof` on a class from
 * another realm. `docs/errors.md` lists every code; a test keeps the two in step.
 */

export const ErrorCode = {
  /** An option has an unknown name or an invalid value. The CLI exits with 2. */
  INVALID_OPTION: 'FA_ERR_INVALID_OPTION',
  /** The app module file does not exist. */
  APP_NOT_FOUND: 'FA_ERR_APP_NOT_FOUND',
  /** Importing the app module threw. */
  APP_LOAD: 'FA_ERR_APP_LOAD',
  /** The app module has no default export that is an `App`. */
  APP_EXPORT: 'FA_ERR_APP_EXPORT',
  /** A route was registered twice or with an invalid path. */
  ROUTE_DEFINITION: 'FA_ERR_ROUTE_DEFINITION',
  /** Two isolates that imported the same app module built different route tables. */
  ROUTE_TABLE_MISMATCH: 'FA_ERR_ROUTE_TABLE_MISMATCH',
  /** The port is already in use by another process. */
  PORT_IN_USE: 'FA_ERR_PORT_IN_USE',
  /** Listening failed for another reason (permission, address not available). */
  LISTEN: 'FA_ERR_LISTEN',
  /** The TLS certificate or key could not be read or used. */
  TLS: 'FA_ERR_TLS',
  /** An onStartup hook of the app threw in one of the isolates. */
  STARTUP_HOOK: 'FA_ERR_STARTUP_HOOK',
  /** A worker isolate failed before it was ready to serve. */
  WORKER_START: 'FA_ERR_WORKER_START',
  /** Acceptor mode needs socket transfer between threads, which this Node.js lacks. */
  ACCEPTOR_UNSUPPORTED: 'FA_ERR_ACCEPTOR_UNSUPPORTED',
  /** A reload could not run: the server is shutting down. (A new generation that fails to start says why with its own code.) */
  RELOAD: 'FA_ERR_RELOAD',
  /** The running Node.js is older than the supported minimum. */
  NODE_VERSION: 'FA_ERR_NODE_VERSION',
  /** The request body is larger than `bodyLimit` (413). */
  BODY_TOO_LARGE: 'FA_ERR_BODY_TOO_LARGE',
  /** The request does not match the route's schemas (422, FastAPI's `detail` list). */
  VALIDATION: 'FA_ERR_VALIDATION',
  /** The request body is not valid JSON (400). */
  INVALID_JSON: 'FA_ERR_INVALID_JSON',
  /** The request cannot be understood, e.g. a malformed percent-encoding in the path (400). */
  BAD_REQUEST: 'FA_ERR_BAD_REQUEST',
  /** The body is not the form the route reads: not `multipart/form-data` or `application/x-www-form-urlencoded` (415). */
  UNSUPPORTED_MEDIA_TYPE: 'FA_ERR_UNSUPPORTED_MEDIA_TYPE',
  /** A form is malformed: a multipart body without its boundary, cut short, or with a broken part header (400). */
  INVALID_FORM: 'FA_ERR_INVALID_FORM',
  /** A form is past one of its limits: a size (`fileSize`, `fieldSize`, `fieldNameSize`: 413) or a count (`files`, `fields`, `parts`: 400), or has a file in a field the route's `fileFields` do not list (400). */
  FORM_LIMIT: 'FA_ERR_FORM_LIMIT',
  /** A handler threw or returned something that cannot be sent (500). */
  HANDLER: 'FA_ERR_HANDLER',
  /** A handler set a response header with an invalid name or value (500). */
  INVALID_RESPONSE_HEADER: 'FA_ERR_INVALID_RESPONSE_HEADER',
  /** An error raised by `HttpError` in user code, answered with its status. */
  HTTP: 'FA_ERR_HTTP',
  /** `app.run()`: every pooled isolate and its queue is full, so the task was not run (503 + Retry-After). */
  POOL_OVERLOADED: 'FA_ERR_POOL_OVERLOADED',
  /** `app.run()`: the isolate running the task died or was replaced before it answered (503 + Retry-After). */
  POOL_UNAVAILABLE: 'FA_ERR_POOL_UNAVAILABLE',
  /** `app.run()`: the task did not finish within its timeout (504). */
  TASK_TIMEOUT: 'FA_ERR_TASK_TIMEOUT',
  /** `app.run()` named a task the app never registered, or was called while the app module loads. */
  TASK: 'FA_ERR_TASK',
  /** `app.request()` cannot run: no in-process runtime is installed, or the in-process client was closed. */
  IN_PROCESS: 'FA_ERR_IN_PROCESS',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const BRAND = Symbol.for('fasterapi.error');

/** An error with a stable `code`, thrown only at the public edges (serve(), App registration). */
export class FasterApiError extends Error {
  readonly code: ErrorCode;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FasterApiError';
    this.code = code;
  }
}

export function isFasterApiError(value: unknown): value is FasterApiError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

const HTTP_BRAND = Symbol.for('fasterapi.http-error');

/**
 * Throw from a handler to answer with a given status, FastAPI's `HTTPException`:
 * `throw new HttpError(404, 'Item not found')` answers `404 {"detail":"Item not found"}`.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly [HTTP_BRAND] = true;

  constructor(
    status: number,
    detail: string,
    options?: { headers?: Record<string, string>; code?: ErrorCode; cause?: unknown },
  ) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`HttpError status must be an integer from 400 to 599, got ${status}`);
    }
    this.name = 'HttpError';
    this.status = status;
    this.code = options?.code ?? ErrorCode.HTTP;
    this.headers = options?.headers;
  }
}

export function isHttpError(value: unknown): value is HttpError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[HTTP_BRAND] === true;
}

