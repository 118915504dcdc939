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
import type { Request } from './request.ts';
import type { Response } from './response.ts';

export type HandlerResult = unknown;

/**
 * A route handler. Return a value (see `reply`), or set fields on `res` and return nothing.
 * It may be async. What it throws becomes a 500 with an error id (or an `HttpError`'s status).
 */
export type Handler = (req: Request, res: Response) => HandlerResult | Promise<HandlerResult>;

export interface RouteOptions {
  /**
   * Where the route runs. `true`: always on the pooled executor (for CPU-bound work), so it never
   * blocks the event loop of the worker that owns the connection. `false`: always inline on the
   * pinned worker. Unset: inline, but spilled to the pool while the pinned worker is saturated.
   * @default undefined
   */
  readonly pool?: boolean;
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
  /** `true` always pooled, `false` never, `undefined` inline with spill-over. */
  readonly pool: boolean | undefined;
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
}

const APP = Symbol.for('fasterapi.app');

/** What the server reads from an App, through the brand. */
export interface AppTable {
  readonly routes: readonly Route[];
  readonly router: Router<Route>;
  /** Refuses further registration: routes must exist when the module has loaded. */
  freeze(): void;
}

export class App {
  readonly #routes: Route[] = [];
  readonly #router = new Router<Route>();
  #frozen = false;

  readonly [APP]: () => AppTable = () => ({
    routes: this.#routes,
    router: this.#router,
    freeze: () => {
      this.#frozen = true;
    },
  });

  get(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('GET', path, handler, options);
  }
  post(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('POST', path, handler, options);
  }
  put(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('PUT', path, handler, options);
  }
  patch(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('PATCH', path, handler, options);
  }
  delete(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('DELETE', path, handler, options);
  }
  head(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('HEAD', path, handler, options);
  }
  options(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add('OPTIONS', path, handler, options);
  }
  /** A route for every method not registered on the same path by a more specific call. */
  all(path: string, handler: Handler, options?: RouteOptions): this {
    return this.#add(ANY_METHOD, path, handler, options);
  }

  /** The registered routes, in ID order. */
  routes(): RouteInfo[] {
    return this.#routes.map(routeInfo);
  }

  #add(method: string, path: string, handler: Handler, options: RouteOptions | undefined): this {
    const where = `${method === ANY_METHOD ? 'ALL' : method} ${String(path)}`;
    if (this.#frozen) {
      throw new FasterApiError(
        ErrorCode.ROUTE_DEFINITION,
        `cannot register ${where} after the server started: register routes when the app module loads`,
      );
    }
    if (typeof handler !== 'function') {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the handler for ${where} must be a function`);
    }
    const timeout = options?.timeout;
    if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0)) {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the timeout of ${where} must be a whole number of ms (0 for none)`);
    }
    const pool = options?.pool;
    if (pool !== undefined && typeof pool !== 'boolean') {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `the pool option of ${where} must be true or false`);
    }
    const route: Route = { id: this.#routes.length, method, path, handler, pool, timeout, wantsResponse: handler.length >= 2 };
    const added = this.#router.add(method, path, route);
    if (!added.ok) throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, added.error);
    this.#routes.push(route);
    return this;
  }
}

/** The comparable part of a route. */
export function routeInfo({ id, method, path, pool, timeout }: Route): RouteInfo {
  return { id, method, path, pool, timeout };
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
