/**
 * The application: routes registered at module level, identified by ID in registration order.
 *
 * Every isolate imports the app module and builds the same table, so a route ID means the same
 * handler everywhere (closures cannot cross isolates). The server recognises an App by a
 * `Symbol.for` brand rather than `instanceof`, so an app built against another copy of this
 * package still works.
 */

import { ErrorCode, FasterApiError } from '../core/errors.ts';
import { ANY_METHOD, Router } from '../router/router.ts';
import type { IncomingHeaders, Query, Request } from './request.ts';
import type { Response } from './response.ts';
import { builtInRoutes } from './built-in.ts';
import type { Hooks, Lifespan, LifespanHook, OnErrorHook, OnRequestHook, OnResponseHook, Plugin, RequestInfo } from './hooks.ts';
import type { Reply } from './response.ts';
import { isStandardSchema, type InferInput, type InferOutput, type RouteSchema, type StandardSchemaV1 } from './schema.ts';

export type HandlerResult = unknown;

type Part<S extends RouteSchema, K extends keyof RouteSchema, Otherwise> = S[K] extends StandardSchemaV1 ? InferOutput<S[K]> : Otherwise;

/** The request a handler gets for a route with schemas `S`: validated and typed parts. */
export type RequestFor<S extends RouteSchema> = Request<
  Part<S, 'params', Readonly<Record<string, string>>>,
  Part<S, 'query', Query>,
  Part<S, 'headers', IncomingHeaders>,
  Part<S, 'body', undefined>
>;

/**
 * What a handler may return: anything, or with a `response` schema, what the schema accepts (or
 * a `reply(...)`, or nothing after setting `res`).
 */
export type ResultFor<S extends RouteSchema> = S['response'] extends StandardSchemaV1
  ? InferInput<S['response']> | Reply | undefined | void
  : HandlerResult;

/**
 * A route handler. Return a value (see `reply`), or set fields on `res` and return nothing.
 * It may be async. What it throws becomes a 500 with an error id (or an `HttpError`'s status).
 * With schemas, `req.params`, `req.query`, `req.headers` and `req.body` are validated and typed,
 * and so is the return value when there is a `response` schema.
 */
export type Handler<S extends RouteSchema = RouteSchema> = (req: RequestFor<S>, res: Response) => ResultFor<S> | Promise<ResultFor<S>>;

export interface RouteOptions<S extends RouteSchema = RouteSchema> {
  /**
   * Schemas for the request's params, query, headers and body, and for the response, through the
   * Standard Schema interface (zod 4, valibot, arktype…). Invalid requests get 422 before the
   * handler runs, inline or in the pool.
   */
  readonly schema?: S;
  /** One line for the OpenAPI document and the docs page. */
  readonly summary?: string;
  /** Longer text for the OpenAPI document (Markdown). */
  readonly description?: string;
  /** OpenAPI tags, which group routes on the docs page. */
  readonly tags?: readonly string[];
  /** What each status means, for the OpenAPI document: `{ 201: 'Created', 404: 'No such item' }`. */
  readonly responses?: Readonly<Record<number, string>>;
  /** OpenAPI operationId. @default method and path, e.g. `get_items_id` */
  readonly operationId?: string;
  /** Mark the operation deprecated in the OpenAPI document. */
  readonly deprecated?: boolean;
  /** Leave the route out of the OpenAPI document. */
  readonly hidden?: boolean;
  /**
   * Where the route runs. `true`: always on the pooled executor (for CPU-bound work), so it never
   * blocks the event loop of the worker that owns the connection. `false`: always inline on the
   * pinned worker. Unset: inline, but spilled to the pool while the pinned worker is saturated.
   * @default undefined
   */
  readonly pool?: boolean;
  /**
   * The route streams its body (it returns an async iterable, a Readable or a web ReadableStream,
   * or uses `sse()`): it always runs inline on the pinned worker that owns the connection, which
   * writes each chunk as the client takes the last. Streams cannot cross the pool's rings, so
   * `{ pool: true, stream: true }` is refused. Async generator handlers and `sse()` handlers are
   * known to stream without it.
   * @default false
   */
  readonly stream?: boolean;
  /**
   * Time the handler may take before the client gets a 504, in ms; 0 for no limit. A pooled
   * isolate stuck in synchronous code past it is replaced. Defaults to the server's `handlerTimeout`.
   */
  readonly timeout?: number;
}

export interface Route {
  readonly id: number;
  /** Uppercase method, or `*` for `all()`. */
  readonly method: string;
  readonly path: string;
  readonly handler: Handler;
  /** The route's schemas, if it declared any. */
  readonly schema: RouteSchema | undefined;
  /** What the route says about itself for OpenAPI. */
  readonly docs: Pick<RouteOptions, 'summary' | 'description' | 'tags' | 'responses' | 'operationId' | 'deprecated' | 'hidden'>;
  /** Which built-in route this is (the OpenAPI document, the docs page), or null for the app's own. */
  readonly builtIn: BuiltIn | null;
  /** `true` always pooled, `false` never (streaming routes), `undefined` inline with spill-over. */
  readonly pool: boolean | undefined;
  /** The route streams its body, so it never runs on the pool. */
  readonly stream: boolean;
  /** The streamed body's content type, when the handler says (`sse()`: `text/event-stream`). */
  readonly streamType: string | null;
  /** Per-route timeout in ms, or `undefined` for the server's `handlerTimeout`. */
  readonly timeout: number | undefined;
  /** The handler declares `(req, res)`, so it gets a `Response` of its own. */
  readonly wantsResponse: boolean;
}

/** The part of a route every isolate must agree on (handlers themselves cannot be compared). */
export interface RouteInfo {
  readonly id: number;
  readonly method: string;
  readonly path: string;
  readonly pool: boolean | undefined;
  readonly timeout: number | undefined;
  readonly builtIn: BuiltIn | null;
}

/** The routes an app gets for free (see built-in.ts). */
export type BuiltIn = 'openapi' | 'docs' | 'docs-assets';

const APP = Symbol.for('fasterapi.app');

/** How the app describes itself, for the OpenAPI document and the docs page. */
export interface AppOptions {
  /** @default 'FasterAPI' */
  readonly title?: string;
  /** @default '0.1.0' */
  readonly version?: string;
  /** Markdown shown at the top of the docs page. */
  readonly description?: string;
  /** Where the OpenAPI document is served; `false` for nowhere. @default '/openapi.json' */
  readonly openapiPath?: string | false;
  /** Where the interactive docs page is served (needs the swagger-ui-dist package); `false` for nowhere. @default '/docs' */
  readonly docsPath?: string | false;
  /**
   * Turns a schema into JSON Schema for the OpenAPI document, for libraries without the Standard
   * JSON Schema extension (valibot: `toJsonSchema` from @valibot/to-json-schema).
   */
  readonly toJsonSchema?: (schema: StandardSchemaV1) => object;
}

/** What the server reads from an App, through the brand. */
export interface AppTable {
  readonly routes: readonly Route[];
  readonly router: Router<Route>;
  readonly options: AppOptions;
  readonly hooks: Hooks;
  readonly lifespan: Lifespan;
  /** Refuses further registration (routes must exist when the module has loaded) and adds the built-in routes. */
  freeze(): void;
}

type Method = <S extends RouteSchema = RouteSchema>(path: string, handler: Handler<S>, options?: RouteOptions<S>) => App;

export class App {
  readonly #routes: Route[] = [];
  readonly #router = new Router<Route>();
  readonly #options: AppOptions;
  readonly #hooks = { onRequest: [] as OnRequestHook[], onResponse: [] as OnResponseHook[], onError: [] as OnErrorHook[] };
  readonly #lifespan = { startup: [] as LifespanHook[], shutdown: [] as LifespanHook[] };
  #frozen = false;

  constructor(options: AppOptions = {}) {
    this.#options = options;
  }

  readonly [APP]: () => AppTable = () => ({
    routes: this.#routes,
    router: this.#router,
    options: this.#options,
    hooks: this.#hooks,
    lifespan: this.#lifespan,
    freeze: () => {
      if (this.#frozen) return;
      this.#frozen = true;
      for (const route of builtInRoutes(this)) this.#register(route.method, route.path, route.handler, route.options, route.kind);
    },
  });

  readonly get: Method = (path, handler, options) => this.#add('GET', path, handler, options);
  readonly post: Method = (path, handler, options) => this.#add('POST', path, handler, options);
  readonly put: Method = (path, handler, options) => this.#add('PUT', path, handler, options);
  readonly patch: Method = (path, handler, options) => this.#add('PATCH', path, handler, options);
  readonly delete: Method = (path, handler, options) => this.#add('DELETE', path, handler, options);
  readonly head: Method = (path, handler, options) => this.#add('HEAD', path, handler, options);
  readonly options: Method = (path, handler, options) => this.#add('OPTIONS', path, handler, options);
  /** A route for every method not registered on the same path by a more specific call. */
  readonly all: Method = (path, handler, options) => this.#add(ANY_METHOD, path, handler, options);

  /** Runs before routing, on every request; the first hook that returns a reply answers it. */
  onRequest(hook: OnRequestHook): this {
    return this.#addHook(this.#hooks.onRequest, hook, 'an onRequest hook');
  }
  /** Runs on every answer before it is sent; may change its status, headers and body. */
  onResponse(hook: OnResponseHook): this {
    return this.#addHook(this.#hooks.onResponse, hook, 'an onResponse hook');
  }
  /** Runs for what a handler throws; the first hook that returns a reply answers the request. */
  onError(hook: OnErrorHook): this {
    return this.#addHook(this.#hooks.onError, hook, 'an onError hook');
  }
  /** Answers errors of one class (`instanceof`) with `handle`'s reply. */
  errorHandler<E>(type: abstract new (...args: never[]) => E, handle: (error: E, req: RequestInfo) => Reply | Promise<Reply>): this {
    return this.onError((error, req) => (isInstance(error, type) ? handle(error, req) : undefined));
  }
  /** Registers a plugin's hooks, e.g. `app.use(cors())`. */
  use(plugin: Plugin): this {
    if (plugin.onRequest !== undefined) this.onRequest(plugin.onRequest);
    if (plugin.onResponse !== undefined) this.onResponse(plugin.onResponse);
    if (plugin.onError !== undefined) this.onError(plugin.onError);
    return this;
  }
  /** Runs in every isolate once it has imported the app, before it serves; a throw stops the server from starting. */
  onStartup(fn: LifespanHook): this {
    return this.#addHook(this.#lifespan.startup, fn, 'an onStartup hook');
  }
  /** Runs in every isolate when the server shuts down, after its requests have finished. */
  onShutdown(fn: LifespanHook): this {
    return this.#addHook(this.#lifespan.shutdown, fn, 'an onShutdown hook');
  }

  /** The registered routes, in ID order. */
  routes(): RouteInfo[] {
    return this.#routes.map(routeInfo);
  }

  #addHook<H>(list: H[], hook: H, what: string): this {
    this.#checkOpen(what);
    if (typeof hook !== 'function') throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `${what} must be a function`);
    list.push(hook);
    return this;
  }

  #checkOpen(what: string): void {
    if (this.#frozen) {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `cannot add ${what} after the server started: add it when the app module loads`);
    }
  }

  #add<S extends RouteSchema>(method: string, path: string, handler: Handler<S>, options: RouteOptions<S> | undefined): this {
    this.#checkOpen(`${method === ANY_METHOD ? 'ALL' : method} ${String(path)}`);
    this.#register(method, path, handler as unknown as Handler, options as RouteOptions | undefined, null);
    return this;
  }

  #register(method: string, path: string, handler: Handler, options: RouteOptions | undefined, builtIn: BuiltIn | null): void {
    const where = `${method === ANY_METHOD ? 'ALL' : method} ${String(path)}`;
    if (typeof handler !== 'function') {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the handler for ${where} must be a function`);
    }
    const timeout = options?.timeout;
    // At most what a timer can wait (2^31 − 1 ms, about 24.8 days): a longer one would fire at
    // once, and would not fit the watchdog's 32-bit words.
    if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_TIMEOUT_MS)) {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the timeout of ${where} must be a whole number of ms from 0 to ${MAX_TIMEOUT_MS} (0 for none)`);
    }
    const pool = options?.pool;
    if (pool !== undefined && typeof pool !== 'boolean') {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the pool option of ${where} must be true or false`);
    }
    const declaredStream = options?.stream;
    if (declaredStream !== undefined && typeof declaredStream !== 'boolean') {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the stream option of ${where} must be true or false`);
    }
    const knownType = streamType(handler);
    const stream = declaredStream ?? knownType !== null;
    if (stream && pool === true) {
      throw new FasterApiError(
        ErrorCode.ROUTE_DEFINITION,
        `${where} streams its body, so it cannot run on the pool (streams cannot cross the pool's rings): ` +
          'remove pool: true, or return the whole body',
      );
    }
    const schema = options?.schema;
    if (schema !== undefined) {
      for (const [part, value] of Object.entries(schema)) {
        if (value !== undefined && !isStandardSchema(value)) {
          throw new FasterApiError(
            ErrorCode.ROUTE_DEFINITION,
            `schema.${part} of ${where} is not a Standard Schema (zod 4, valibot, arktype… implement it)`,
          );
        }
      }
    }
    const { summary, description, tags, responses, operationId, deprecated, hidden } = options ?? {};
    const docs = Object.fromEntries(
      Object.entries({ summary, description, tags, responses, operationId, deprecated, hidden }).filter(([, v]) => v !== undefined),
    ) as Route['docs'];
    const route: Route = {
      id: this.#routes.length,
      method,
      path,
      handler,
      pool: stream ? false : pool,
      stream,
      streamType: stream ? knownType : null,
      timeout,
      wantsResponse: handler.length >= 2,
      schema,
      docs,
      builtIn,
    };
    const added = this.#router.add(method, path, route);
    if (!added.ok) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, added.error);
    this.#routes.push(route);
  }
}

const STREAMS = Symbol.for('fasterapi.handler.streams');

/**
 * Marks a handler as one that streams its body, so its route runs inline; `contentType` is what
 * the OpenAPI document says it answers with (`sse()` marks its handlers `text/event-stream`).
 */
export function markStreaming<H extends (...args: never[]) => unknown>(handler: H, contentType = 'application/octet-stream'): H {
  Object.defineProperty(handler, STREAMS, { value: contentType });
  return handler;
}

/** What a handler is known to stream: marked by `markStreaming`, or an async generator function (bytes). */
function streamType(handler: Handler): string | null {
  const marked = (handler as unknown as Record<symbol, unknown>)[STREAMS];
  if (typeof marked === 'string') return marked;
  return Object.prototype.toString.call(handler) === '[object AsyncGeneratorFunction]' ? 'application/octet-stream' : null;
}

/** The comparable part of a route. */
export function routeInfo({ id, method, path, pool, timeout, builtIn }: Route): RouteInfo {
  return { id, method, path, pool, timeout, builtIn };
}

/** The table behind an App-like value, or `null` if `value` is not an App. */
export function appTable(value: unknown): AppTable | null {
  if (typeof value !== 'object' || value === null) return null;
  const accessor = (value as Record<symbol, unknown>)[APP];
  return typeof accessor === 'function' ? (accessor as () => AppTable)() : null;
}

/** How a route is shown in the banner and in logs: `GET:/items/:id`, `ALL:/x`. */
export function routeLabel(route: { readonly method: string; readonly path: string }): string {
  return `${route.method === ANY_METHOD ? 'ALL' : route.method}:${route.path}`;
}

/** The longest timeout a route may have, in ms: the most a Node.js timer can wait. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** `value instanceof type`, false where the check itself throws (a revoked Proxy was thrown). */
function isInstance<E>(value: unknown, type: abstract new (...args: never[]) => E): value is E {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}
