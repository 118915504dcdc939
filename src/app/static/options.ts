/**
 * The options of `app.static()`, checked when the route is registered: a wrong one is a
 * `FasterApiError` (ROUTE_DEFINITION) naming it, thrown while the app module loads, never a
 * surprise on the first request. The directory is resolved to its real path here, once per
 * isolate (every isolate imports the app module, so each registers and checks it).
 */

import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateHeaderValue } from 'node:http';
import { ErrorCode, FasterApiError } from '../../core/errors.ts';

export interface StaticOptions {
  /**
   * File names served for a request of a directory (a path ending in `/`), tried in order;
   * `false` serves no directory. A directory asked for without its trailing slash is
   * redirected (301) to it, unless this is `false` (then 404).
   * @default ['index.html']
   */
  readonly index?: readonly string[] | false;
  /**
   * Names starting with a dot (`.env`, `.git/`), in the request or where a symlink leads:
   * `'ignore'` answers 404 as if they did not exist, `'deny'` answers 403, `'allow'` serves them
   * (`.well-known/`, say).
   * @default 'ignore'
   */
  readonly dotfiles?: 'ignore' | 'allow' | 'deny';
  /**
   * Serve `file.br` or `file.gz` in place of `file` when the client accepts that encoding
   * (brotli first on a tie) and the sibling exists, with `Content-Encoding` and
   * `Vary: Accept-Encoding`. Never for a request with a `Range`, which gets the file itself.
   * @default true
   */
  readonly precompressed?: boolean;
  /** `Cache-Control: public, max-age=<maxAge>`, in whole seconds. @default 0 */
  readonly maxAge?: number;
  /** Adds `immutable` to Cache-Control: for file names that change with their content (hashed builds). @default false */
  readonly immutable?: boolean;
  /** The whole Cache-Control value, in place of `maxAge` and `immutable` (not with them). */
  readonly cacheControl?: string;
}

/** What a static route serves, resolved and checked. */
export interface StaticConfig {
  /** The directory's real path (symlinks resolved): no file outside it is ever served. */
  readonly root: string;
  readonly index: readonly string[];
  /** Whether a directory is served at all (`index: false` does not). */
  readonly directories: boolean;
  readonly dotfiles: 'ignore' | 'allow' | 'deny';
  readonly precompressed: boolean;
  readonly cacheControl: string;
}

const KNOWN = new Set(['index', 'dotfiles', 'precompressed', 'maxAge', 'immutable', 'cacheControl']);

/** The longest max-age a cache should be told: one year, which RFC 9111 caches treat as "forever". */
const MAX_AGE_LIMIT = 365 * 24 * 60 * 60;

/**
 * Checks `app.static(prefix, dir, options)` and resolves `dir`: a path string (relative to
 * `process.cwd()`) or a `file:` URL. Throws a ROUTE_DEFINITION `FasterApiError`.
 */
export function resolveStatic(prefix: unknown, dir: unknown, options: StaticOptions | undefined): { routePath: string; config: StaticConfig } {
  const where = `static(${JSON.stringify(String(prefix))})`;
  const fail = (message: string): never => {
    throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `${where}: ${message}`);
  };
  if (typeof prefix !== 'string' || !/^\/(?:[^/?#*:]+(?:\/[^/?#*:]+)*\/?)?$/.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
    fail('the prefix must be a path like "/assets": it starts with "/", and has no params, "*", "?", "#", "." or ".." segments');
  }
  const base = (prefix as string).replace(/\/$/, '');
  const root = resolveRoot(dir, fail);
  if (options !== undefined && (typeof options !== 'object' || options === null)) fail('the options must be an object');
  const given = options ?? {};
  for (const name of Object.keys(given)) if (!KNOWN.has(name)) fail(`unknown option "${name}" (known: ${[...KNOWN].join(', ')})`);

  const { index = ['index.html'], dotfiles = 'ignore', precompressed = true, maxAge, immutable, cacheControl } = given;
  if (index !== false && (!Array.isArray(index) || !index.every(isPlainName))) {
    fail('the index option must be false or a list of file names (no "/", "\\", ":", "." or "..")');
  }
  if (dotfiles !== 'ignore' && dotfiles !== 'allow' && dotfiles !== 'deny') fail(`the dotfiles option must be 'ignore', 'allow' or 'deny', got ${JSON.stringify(dotfiles)}`);
  if (typeof precompressed !== 'boolean') fail('the precompressed option must be true or false');
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > MAX_AGE_LIMIT)) {
    fail(`the maxAge option must be a whole number of seconds from 0 to ${MAX_AGE_LIMIT}`);
  }
  if (immutable !== undefined && typeof immutable !== 'boolean') fail('the immutable option must be true or false');
  let cache: string;
  if (cacheControl !== undefined) {
    if (maxAge !== undefined || immutable !== undefined) fail('the cacheControl option replaces maxAge and immutable: give one or the other');
    if (typeof cacheControl !== 'string' || cacheControl.trim() === '' || !validHeaderValue(cacheControl)) {
      fail('the cacheControl option must be a non-empty header value, e.g. "public, max-age=3600"');
    }
    cache = cacheControl;
  } else {
    cache = `public, max-age=${maxAge ?? 0}${immutable === true ? ', immutable' : ''}`;
  }
  return {
    routePath: `${base}/*`,
    config: {
      root,
      index: index === false ? [] : [...index],
      directories: index !== false,
      dotfiles,
      precompressed,
      cacheControl: cache,
    },
  };
}

function resolveRoot(dir: unknown, fail: (message: string) => never): string {
  let path: string;
  if (dir instanceof URL) {
    if (dir.protocol !== 'file:') fail(`the directory must be a path or a file: URL, got ${dir.href}`);
    path = fileURLToPath(dir);
  } else if (typeof dir === 'string' && dir !== '') {
    path = resolve(process.cwd(), dir);
  } else {
    return fail('the directory must be a path string or a file: URL');
  }
  let real: string;
  try {
    real = realpathSync(path);
  } catch (thrown) {
    return fail(`the directory ${path} cannot be served: ${(thrown as NodeJS.ErrnoException).code ?? 'it cannot be resolved'}`);
  }
  if (!statSync(real).isDirectory()) fail(`${path} is not a directory`);
  return real;
}

function isPlainName(name: unknown): boolean {
  return typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && !/[/\\:\0]/.test(name);
}

function validHeaderValue(value: string): boolean {
  try {
    validateHeaderValue('cache-control', value);
    return true;
  } catch {
    return false;
  }
}
