/**
 * The route table's shapes: what a route is, what its handler gets and may return, and what the
 * server reads from an App (`AppTable`). The App builds it (app.ts); the built-in routes, the
 * OpenAPI document and the server read it.
 */

import type { Router } from '../router/router.ts';
import { ANY_METHOD } from '../router/router.ts';
import type { SocketRoute } from './websocket/route.ts';
import type { TaskDefinition, TaskRunner } from './task.ts';
import type { Hooks, Lifespan } from './hooks.ts';
import type { ResolvedFormOptions, RouteFormOptions } from './form-options.ts';
import type { IncomingHeaders, Query, Request } from './request.ts';
import type { Reply, Response } from './response.ts';
import type { InferInput, InferOutput, RouteSchema, StandardSchemaV1 } from './schema.ts';

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
  /**
   * The most bytes this route's request body may have, instead of the server's `bodyLimit`: an
   * upload route takes more (`50 * 1024 * 1024`), a route that takes a few fields less. 413 past
   * it, checked against Content-Length up front and counted while reading.
   * @default the server's bodyLimit (1 MiB)
   */
  readonly bodyLimit?: number;
  /**
   * The route takes a form (`multipart/form-data` or `application/x-www-form-urlencoded`):
   * `schema.body` then validates the form's fields (strings, or lists of strings for repeated
   * names) rather than a JSON body, the OpenAPI document describes the form, and these options
   * are the defaults of `req.form()` on this route. `true` for the default limits.
   * @default undefined (the body is JSON, as far as schema.body and the document are concerned)
   */
  readonly form?: true | RouteFormOptions;
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
  /** The route's own body limit in bytes, or `undefined` for the server's `bodyLimit`. */
  readonly bodyLimit: number | undefined;
  /** The route's form options, when it takes a form; null when it does not. */
  readonly form: ResolvedFormOptions | null;
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
  /** WebSocket routes, in registration order, and the router that finds them by path. */
  readonly sockets: readonly SocketRoute[];
  readonly socketRouter: Router<SocketRoute>;
  /** Where the app's `publish` goes in this isolate (set once it serves). */
  setPublisher(publisher: (topic: string, data: string | Uint8Array) => void): void;
  /** Pooled tasks (`app.task`), in registration order. */
  readonly tasks: readonly TaskDefinition[];
  /** Where the app's `run` sends tasks in this isolate (set once it serves). */
  setTaskRunner(runner: TaskRunner): void;
  /** Refuses further registration (routes must exist when the module has loaded) and adds the built-in routes. */
  freeze(): void;
}

/**
 * Every route an isolate built, as the supervisor compares and lists them: the HTTP routes, then
 * the WebSocket routes (method `WS`, IDs after the HTTP routes'), then the pooled tasks (method
 * `TASK`, their name as the path).
 */
export function reportedRoutes(table: AppTable): RouteInfo[] {
  const base = table.routes.length;
  return [
    ...table.routes.map(routeInfo),
    ...table.sockets.map((socket): RouteInfo => ({ id: base + socket.id, method: 'WS', path: socket.path, pool: false, timeout: undefined, builtIn: null })),
    ...table.tasks.map((task): RouteInfo => ({ id: taskRouteId(table, task), method: 'TASK', path: task.name, pool: true, timeout: task.timeout, builtIn: null })),
  ];
}

/** A task's ID among the reported routes (after the HTTP and WebSocket routes'): what the watchdog names when it is stuck. */
export function taskRouteId(table: AppTable, task: TaskDefinition): number {
  return table.routes.length + table.sockets.length + task.index;
}

/** The comparable part of a route. */
export function routeInfo({ id, method, path, pool, timeout, builtIn }: Route): RouteInfo {
  return { id, method, path, pool, timeout, builtIn };
}

/** How a route is shown in the banner and in logs: `GET:/items/:id`, `ALL:/x`. */
export function routeLabel(route: { readonly method: string; readonly path: string }): string {
  return `${route.method === ANY_METHOD ? 'ALL' : route.method}:${route.path}`;
}
