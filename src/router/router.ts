/**
 * The route table: method + path → value (a route), with path params and a trailing wildcard.
 *
 * Fast path: a path without params is one `Map` lookup, and the match object it returns is built
 * once at registration, so a static route allocates nothing per request. Paths with params live in
 * a segment trie searched with backtracking, in priority order static > `:param` > `*` at every
 * level, so `/users/me` beats `/users/:id`, which beats `/users/*`.
 *
 * The router matches the path it is given byte for byte (no normalisation); params are
 * percent-decoded, and a malformed escape in a param makes the request a 400.
 */

import { err, ok, type Result } from '../core/result.ts';

/** Matches any method; registered by `App.all()`. */
export const ANY_METHOD = '*';

export type Match<T> =
  | { readonly kind: 'found'; readonly value: T; readonly params: Readonly<Record<string, string>> }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'method-not-allowed'; readonly allow: string }
  | { readonly kind: 'bad-request'; readonly reason: string };

const NOT_FOUND = Object.freeze({ kind: 'not-found' as const });
const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze(Object.create(null));

/** The routes registered on one path shape, by method. */
class Endpoint<T> {
  readonly byMethod = new Map<string, T>();
  /** One prebuilt match per method, for static paths (no params to fill in). */
  readonly staticMatches = new Map<string, Match<T>>();
  readonly paramNames: readonly string[];
  constructor(paramNames: readonly string[]) {
    this.paramNames = paramNames;
  }

  lookup(method: string): T | undefined {
    return (
      this.byMethod.get(method) ??
      (method === 'HEAD' ? this.byMethod.get('GET') : undefined) ??
      this.byMethod.get(ANY_METHOD)
    );
  }

  methods(): string[] {
    const list = [...this.byMethod.keys()];
    if (list.includes('GET') && !list.includes('HEAD')) list.push('HEAD');
    return list;
  }
}

class TrieNode<T> {
  readonly statics = new Map<string, TrieNode<T>>();
  param: TrieNode<T> | null = null;
  /** Endpoint for a path that ends at this node. */
  endpoint: Endpoint<T> | null = null;
  /** Endpoint for `<this node>/*`: the rest of the path, possibly empty. */
  wildcard: Endpoint<T> | null = null;
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Segment = { kind: 'static'; text: string } | { kind: 'param'; name: string } | { kind: 'wildcard' };

function parsePath(path: string): Result<Segment[], string> {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    return err(`route path must be a string starting with "/", got ${JSON.stringify(path)}`);
  }
  if (path.includes('?') || path.includes('#')) {
    return err(`route path must not contain "?" or "#": ${path}`);
  }
  const parts = path.slice(1).split('/');
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '*') {
      if (i !== parts.length - 1) return err(`"*" may only be the last segment of a route path: ${path}`);
      segments.push({ kind: 'wildcard' });
    } else if (part.startsWith(':')) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name)) return err(`invalid param name "${part}" in route path ${path}`);
      if (names.has(name)) return err(`param "${name}" appears twice in route path ${path}`);
      names.add(name);
      segments.push({ kind: 'param', name });
    } else {
      segments.push({ kind: 'static', text: part });
    }
  }
  return ok(segments);
}

function decodeParam(raw: string): string | null {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

export class Router<T> {
  readonly #statics = new Map<string, Endpoint<T>>();
  readonly #root = new TrieNode<T>();

  /** Registers `value` for `method` (uppercase, or `ANY_METHOD`) on `path`. */
  add(method: string, path: string, value: T): Result<void, string> {
    const parsed = parsePath(path);
    if (!parsed.ok) return parsed;
    const segments = parsed.value;
    const paramNames = segments.flatMap((s) => (s.kind === 'param' ? [s.name] : s.kind === 'wildcard' ? ['*'] : []));

    let endpoint: Endpoint<T>;
    if (paramNames.length === 0) {
      endpoint = this.#statics.get(path) ?? new Endpoint<T>([]);
      this.#statics.set(path, endpoint);
    } else {
      let node = this.#root;
      for (const segment of segments) {
        if (segment.kind === 'wildcard') break;
        if (segment.kind === 'param') {
          node = node.param ??= new TrieNode<T>();
        } else {
          let next = node.statics.get(segment.text);
          if (next === undefined) node.statics.set(segment.text, (next = new TrieNode<T>()));
          node = next;
        }
      }
      const isWildcard = segments[segments.length - 1]?.kind === 'wildcard';
      const existing = isWildcard ? node.wildcard : node.endpoint;
      endpoint = existing ?? new Endpoint<T>(paramNames);
      if (isWildcard) node.wildcard = endpoint;
      else node.endpoint = endpoint;
      if (existing !== null && existing.paramNames.join() !== paramNames.join()) {
        return err(
          `route ${method === ANY_METHOD ? 'ALL' : method} ${path} names its params differently from an ` +
            `earlier route on the same path shape (${existing.paramNames.join(', ')})`,
        );
      }
    }

    if (endpoint.byMethod.has(method)) {
      return err(`route ${method === ANY_METHOD ? 'ALL' : method} ${path} is registered twice`);
    }
    endpoint.byMethod.set(method, value);
    if (paramNames.length === 0) {
      endpoint.staticMatches.set(method, Object.freeze({ kind: 'found', value, params: EMPTY_PARAMS }));
    }
    return ok(undefined);
  }

  /** Finds the route for a request. `path` is the request path without the query string. */
  find(method: string, path: string): Match<T> {
    const staticEndpoint = this.#statics.get(path);
    if (staticEndpoint !== undefined) {
      const hit =
        staticEndpoint.staticMatches.get(method) ??
        (method === 'HEAD' ? staticEndpoint.staticMatches.get('GET') : undefined) ??
        staticEndpoint.staticMatches.get(ANY_METHOD);
      if (hit !== undefined) return hit;
    }
    const values: string[] = [];
    const found = this.#search(this.#root, path, 1, method, values);
    if (found !== null) {
      const params: Record<string, string> = Object.create(null);
      for (let i = 0; i < found.paramNames.length; i++) {
        const decoded = decodeParam(values[i] as string);
        if (decoded === null) return { kind: 'bad-request', reason: 'malformed percent-encoding in the path' };
        params[found.paramNames[i] as string] = decoded;
      }
      return { kind: 'found', value: found.lookup(method) as T, params };
    }
    return this.#notFoundOrNotAllowed(path, staticEndpoint);
  }

  /**
   * Depth-first search from `node` for the segment starting at `start`, preferring static
   * children, then the param child, then a wildcard. Only endpoints that serve `method` count,
   * so a static sibling without that method does not hide a param route that has it.
   * `values` collects param values; it is unwound on backtracking.
   */
  #search(node: TrieNode<T>, path: string, start: number, method: string, values: string[]): Endpoint<T> | null {
    if (start > path.length) {
      return node.endpoint !== null && node.endpoint.lookup(method) !== undefined ? node.endpoint : null;
    }
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const segment = path.slice(start, end);

    const child = node.statics.get(segment);
    if (child !== undefined) {
      const found = this.#search(child, path, end + 1, method, values);
      if (found !== null) return found;
    }
    if (node.param !== null && segment.length > 0) {
      values.push(segment);
      const found = this.#search(node.param, path, end + 1, method, values);
      if (found !== null) return found;
      values.pop();
    }
    if (node.wildcard !== null && node.wildcard.lookup(method) !== undefined) {
      values.push(path.slice(start));
      return node.wildcard;
    }
    return null;
  }

  /** The slow path for misses: 405 with `Allow` when some route has this path, else 404. */
  #notFoundOrNotAllowed(path: string, staticEndpoint: Endpoint<T> | undefined): Match<T> {
    const allowed = new Set<string>(staticEndpoint?.methods() ?? []);
    this.#collectMethods(this.#root, path, 1, allowed);
    if (allowed.size === 0) return NOT_FOUND;
    return { kind: 'method-not-allowed', allow: [...allowed].join(', ') };
  }

  #collectMethods(node: TrieNode<T>, path: string, start: number, into: Set<string>): void {
    if (start > path.length) {
      for (const m of node.endpoint?.methods() ?? []) into.add(m);
      return;
    }
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const segment = path.slice(start, end);
    const child = node.statics.get(segment);
    if (child !== undefined) this.#collectMethods(child, path, end + 1, into);
    if (node.param !== null && segment.length > 0) this.#collectMethods(node.param, path, end + 1, into);
    for (const m of node.wildcard?.methods() ?? []) into.add(m);
  }
}
