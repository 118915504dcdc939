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
import { builtInRoutes } from './built-in.ts';
import { inProcessRunner } from './in-process.ts';
import type { LifespanHook, OnErrorHook, OnRequestHook, OnResponseHook, Plugin, RequestInfo } from './hooks.ts';
import { isStandardSchema, type RouteSchema } from './schema.ts';
import { FORM_DEFAULTS, resolveFormOptions, type ResolvedFormOptions } from './form-options.ts';
import type { Reply } from './response.ts';
import { encodeTaskInput, settleTask, type RunOptions, type TaskDefinition, type TaskFunction, type TaskOptions, type TaskRunner } from './task.ts';
import { staticHandler } from './static/handler.ts';
import { resolveStatic, type StaticOptions } from './static/options.ts';
import { resolveSocketRoute, type SocketRoute, type WebSocketHandlers, type WebSocketOptions } from './websocket/route.ts';
import { routeInfo, type AppOptions, type AppTable, type BuiltIn, type Handler, type Route, type RouteInfo, type RouteOptions } from './table.ts';

export type { AppOptions, AppTable, BuiltIn, Handler, HandlerResult, RequestFor, ResultFor, Route, RouteInfo, RouteOptions } from './table.ts';
export { reportedRoutes, routeInfo, routeLabel, taskRouteId } from './table.ts';
export type { StaticOptions } from './static/options.ts';

const APP = Symbol.for('fasterapi.app');

type Method = <S extends RouteSchema = RouteSchema>(path: string, handler: Handler<S>, options?: RouteOptions<S>) => App;

export class App {
  readonly #routes: Route[] = [];
  readonly #router = new Router<Route>();
  readonly #options: AppOptions;
  readonly #hooks = { onRequest: [] as OnRequestHook[], onResponse: [] as OnResponseHook[], onError: [] as OnErrorHook[] };
  readonly #lifespan = { startup: [] as LifespanHook[], shutdown: [] as LifespanHook[] };
  readonly #sockets: SocketRoute[] = [];
  readonly #socketRouter = new Router<SocketRoute>();
  /** Where `publish` goes in this isolate once it serves (set by the server); null before. */
  #publisher: ((topic: string, data: string | Uint8Array) => void) | null = null;
  readonly #tasks: TaskDefinition[] = [];
  readonly #taskByName = new Map<string, TaskDefinition>();
  /** Where `run` sends tasks in this isolate once it serves (set by the server); null before. */
  #taskRunner: TaskRunner | null = null;
  #frozen = false;

  constructor(options: AppOptions = {}) {
    this.#options = options;
  }

  readonly [APP]: () => AppTable = () => {
    const table: AppTable = {
      routes: this.#routes,
      router: this.#router,
      options: this.#options,
      hooks: this.#hooks,
      lifespan: this.#lifespan,
      sockets: this.#sockets,
      socketRouter: this.#socketRouter,
      setPublisher: (publisher) => {
        this.#publisher = publisher;
      },
      tasks: this.#tasks,
      setTaskRunner: (runner) => {
        this.#taskRunner = runner;
      },
      freeze: () => {
        if (this.#frozen) return;
        this.#frozen = true;
        for (const route of builtInRoutes(table)) this.#register(route.method, route.path, route.handler, route.options, route.kind);
      },
    };
    return table;
  };

  readonly get: Method = (path, handler, options) => this.#add('GET', path, handler, options);
  readonly post: Method = (path, handler, options) => this.#add('POST', path, handler, options);
  readonly put: Method = (path, handler, options) => this.#add('PUT', path, handler, options);
  readonly patch: Method = (path, handler, options) => this.#add('PATCH', path, handler, options);
  readonly delete: Method = (path, handler, options) => this.#add('DELETE', path, handler, options);
  readonly head: Method = (path, handler, options) => this.#add('HEAD', path, handler, options);
  readonly options: Method = (path, handler, options) => this.#add('OPTIONS', path, handler, options);
  /** A route for every method not registered on the same path by a more specific call. */
  readonly all: Method = (path, handler, options) => this.#add(ANY_METHOD, path, handler, options);

  /**
   * A WebSocket route, over HTTP/1.1 (Upgrade) and HTTP/2 (extended CONNECT, RFC 8441) alike:
   *
   *     app.ws('/chat/:room', {
   *       open(ws) { ws.subscribe(`room:${ws.params.room}`); },
   *       message(ws, data) { ws.publish(`room:${ws.params.room}`, data); },
   *     }, { maxPayload: 64 * 1024 });
   *
   * Sockets live on the pinned isolate that holds their connection; `{ pool: true }` is refused.
   */
  ws<Data = unknown>(path: string, handlers: WebSocketHandlers<Data>, options?: WebSocketOptions): this {
    this.#checkOpen(`WS ${String(path)}`);
    const resolved = resolveSocketRoute(path, handlers, options);
    const route: SocketRoute = { id: this.#sockets.length, path, handlers: resolved.handlers as WebSocketHandlers, options: resolved.options };
    const added = this.#socketRouter.add('GET', path, route);
    if (!added.ok) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, added.error);
    this.#sockets.push(route);
    return this;
  }

  /**
   * Sends `data` (a string as text, bytes as binary) to every WebSocket subscribed to `topic`, on
   * every isolate. Callable from any handler, hook or WebSocket callback, pinned or pooled, once
   * the server serves; before that (while the module loads) it throws.
   */
  publish(topic: string, data: string | Uint8Array): void {
    if (typeof topic !== 'string') throw new TypeError('the topic must be a string');
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new TypeError('the data must be a string or a Uint8Array');
    if (this.#publisher === null) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, 'publish() works once the server serves the app, not while its module loads');
    this.#publisher(topic, data);
  }

  /**
   * Registers a pooled task: a module-level function that `run` executes on a pooled isolate,
   * off the event loop of the isolate that asks for it.
   *
   *     app.task('resize', async ({ bytes, width }: { bytes: Uint8Array; width: number }) => sharpish(bytes, width));
   *     app.post('/thumb', async (req) => app.run('resize', { bytes: await req.bytes(), width: 128 }));
   *
   * Like a route, a task is registered when the app module loads, in every isolate alike.
   */
  task<In, Out>(name: string, fn: TaskFunction<In, Out>, options?: TaskOptions): this {
    this.#checkOpen(`task ${JSON.stringify(String(name))}`);
    if (typeof name !== 'string' || name === '') throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, 'a task name must be a non-empty string');
    if (this.#taskByName.has(name)) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `task "${name}" is already registered`);
    if (typeof fn !== 'function') throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `task "${name}" must be a function`);
    // A TASK record names its task in 16 bits (executor/codec.ts).
    if (this.#tasks.length >= MAX_TASKS) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `an app has at most ${MAX_TASKS} tasks: "${name}" is one more`);
    const timeout = options?.timeout;
    if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_TIMEOUT_MS)) {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the timeout of task "${name}" must be a whole number of ms from 0 to ${MAX_TIMEOUT_MS} (0 for none)`);
    }
    const task: TaskDefinition = { index: this.#tasks.length, name, fn: fn as TaskFunction<unknown, unknown>, timeout };
    this.#tasks.push(task);
    this.#taskByName.set(name, task);
    return this;
  }

  /**
   * Runs task `name` with `input` on the pool and resolves to its result. The input and the
   * result are structured-clone-able values (bytes cross as bytes); what the task throws is
   * rethrown here. When the pool cannot run it, `run` rejects with an HttpError a handler may
   * catch, or let through to answer with its status: 503 `FA_ERR_POOL_OVERLOADED` (the pool and
   * its queues are full), 503 `FA_ERR_POOL_UNAVAILABLE` (its isolate died), 504
   * `FA_ERR_TASK_TIMEOUT`. Callable once the server serves, from any handler, hook or WebSocket
   * callback; on a pooled isolate, and on a server without a pool, the task runs on the calling
   * isolate.
   */
  async run<Out = unknown>(name: string, input?: unknown, options?: RunOptions): Promise<Out> {
    const task = this.#taskByName.get(name);
    if (task === undefined) throw new FasterApiError(ErrorCode.TASK, `no task is registered as ${JSON.stringify(String(name))}: register it with app.task() when the app module loads`);
    const runner = this.#taskRunner;
    if (runner === null) throw new FasterApiError(ErrorCode.TASK, `run("${name}") works once the server serves the app, not while its module loads`);
    const timeout = options?.timeout ?? task.timeout;
    if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_TIMEOUT_MS)) {
      throw new RangeError(`the timeout of run("${name}") must be a whole number of ms from 0 to ${MAX_TIMEOUT_MS} (0 for none)`);
    }
    const outcome = await runner(task, encodeTaskInput(task, input), timeout ?? -1);
    return settleTask(task, outcome) as Out;
  }

  /**
   * Serves the files under `dir` at `prefix`: `app.static('/assets', new URL('./public', import.meta.url))`
   * answers `GET /assets/app.css` with `public/app.css`. `dir` is a `file:` URL or a path, a
   * relative path being resolved against `process.cwd()`; it must exist when the app module
   * loads. One GET route `prefix/*` (HEAD too) that runs inline, never on the pool, and is left
   * out of the OpenAPI document. See `StaticOptions` and the README's "Static files".
   */
  static(prefix: string, dir: string | URL, options?: StaticOptions): this {
    this.#checkOpen(`static ${String(prefix)}`);
    const { routePath, config } = resolveStatic(prefix, dir, options);
    this.#register('GET', routePath, staticHandler(config) as unknown as Handler, STATIC_ROUTE, null);
    return this;
  }

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

  /**
   * Answers one request in-process, as the server would, with web `Request`/`Response` types:
   * no port, no socket, no worker isolate. `input` is a path (`'/users/1?x=2'`), a URL, or a
   * `Request`; `init` as for `fetch`. The whole request lifecycle runs (limits, hooks, routing,
   * validation, the handler, serialisation, plugins); `{ pool: true }` routes cross the pool's
   * codec on this thread. The app's onStartup hooks run before the first request, and the app
   * takes no more routes after it. See README, "Testing with app.request()".
   */
  request(input: string | URL | globalThis.Request, init?: RequestInit): Promise<globalThis.Response> {
    try {
      return inProcessRunner().request(this, input, init);
    } catch (thrown) {
      return Promise.reject(thrown);
    }
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
    const bodyLimit = options?.bodyLimit;
    if (bodyLimit !== undefined && (!Number.isSafeInteger(bodyLimit) || bodyLimit < 0)) {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the bodyLimit of ${where} must be a whole number of bytes from 0`);
    }
    const form = formOf(options?.form, where);
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
      bodyLimit,
      form,
      schema,
      docs,
      builtIn,
    };
    const added = this.#router.add(method, path, route);
    if (!added.ok) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, added.error);
    this.#routes.push(route);
  }
}

/** Static routes stream files (so they never run on the pool) and are not API operations. */
const STATIC_ROUTE: RouteOptions = { stream: true, hidden: true };

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

/** A route's `form` option, resolved over the defaults; throws naming the option when it is wrong. */
function formOf(given: unknown, where: string): ResolvedFormOptions | null {
  if (given === undefined || given === false) return null;
  if (given === true) return FORM_DEFAULTS;
  const resolved = resolveFormOptions(given as never, FORM_DEFAULTS);
  if (typeof resolved === 'string') throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the form option of ${where}: ${resolved}`);
  return resolved;
}

/** The table behind an App-like value, or `null` if `value` is not an App. */
export function appTable(value: unknown): AppTable | null {
  if (typeof value !== 'object' || value === null) return null;
  const accessor = (value as Record<symbol, unknown>)[APP];
  return typeof accessor === 'function' ? (accessor as () => AppTable)() : null;
}

/** How many tasks an app may register: a TASK record carries the task's index in a u16. */
const MAX_TASKS = 0x1_0000;

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
