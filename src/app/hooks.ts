/**
 * The request lifecycle around a handler, and the hooks that plug into it:
 *
 *   connection ─► onRequest hooks ─► route ─► validation ─► handler ─► onResponse hooks ─► wire
 *                 (pinned worker;     │        (where the handler runs:        (pinned worker,
 *                  may answer at once)│         inline, or in the pool)         every answer)
 *                                     └─ 404 / 405 ───────────────────────────────┘
 *                 a handler that throws ─► onError hooks ─► error handler's answer, or 500
 *                                          (where the handler runs)
 *
 * onRequest hooks run in registration order and the first that returns a reply answers the
 * request (CORS preflights, authentication). onResponse hooks run in registration order on every
 * answer, also 404s and errors, and may change its status, headers and body (CORS headers,
 * compression), and what they leave is checked like a handler's answer. onError hooks run, in
 * order, for what a handler throws; the first that returns a reply answers the request.
 *
 * A hook answers only with `reply(...)`; returning nothing, `null` or a boolean passes on (so
 * `cond && reply(...)` works), and any other value is a bug answered 500. A hook that returns a
 * promise gets `handlerTimeout` to settle (onError hooks: the route's timeout, with the handler);
 * one that does not is answered 504, so no hook can hold a request, and its place in the worker's
 * `maxInFlight`, forever.
 */

import type { IsolateInfo } from './request.ts';
import type { Reply } from './response.ts';

/** What onRequest and onResponse hooks see of a request (they run before routing). */
export interface RequestInfo {
  /** The request's id (`req.id`): the client's sane `x-request-id`, or one the server made. */
  readonly id: string;
  readonly method: string;
  /** The normalised path, without the query string. */
  readonly path: string;
  readonly rawQuery: string;
  /** One header as a string, or `undefined`; case-insensitive name. */
  header(name: string): string | undefined;
}

/** A response on its way out, as onResponse hooks may change it. */
export interface ResponseDraft {
  status: number;
  /** Lowercase names. */
  headers: Record<string, string | readonly string[]>;
  /** `null` for none; a string or bytes; or a stream of chunks (see `Body`). */
  body: string | Uint8Array | AsyncIterable<string | Uint8Array> | null;
}

export type OnRequestHook = (req: RequestInfo) => Reply | undefined | null | boolean | void | Promise<Reply | undefined | null | boolean | void>;
export type OnResponseHook = (req: RequestInfo, res: ResponseDraft) => void | Promise<void>;
export type OnErrorHook = (error: unknown, req: RequestInfo) => Reply | undefined | null | boolean | void | Promise<Reply | undefined | null | boolean | void>;

/** A bundle of hooks, as `cors()` and `compression()` make: `app.use(plugin)`. */
export interface Plugin {
  readonly name: string;
  readonly onRequest?: OnRequestHook;
  readonly onResponse?: OnResponseHook;
  readonly onError?: OnErrorHook;
}

export interface Hooks {
  readonly onRequest: readonly OnRequestHook[];
  readonly onResponse: readonly OnResponseHook[];
  readonly onError: readonly OnErrorHook[];
}

/**
 * A lifespan hook: runs in every isolate (pinned and pooled), once it has imported the app and
 * before it serves (startup), or after its last request (shutdown). It is told which isolate it
 * runs in, e.g. to size a connection pool per isolate kind.
 */
export type LifespanHook = (isolate: IsolateInfo) => void | Promise<void>;

export interface Lifespan {
  readonly startup: readonly LifespanHook[];
  readonly shutdown: readonly LifespanHook[];
}
