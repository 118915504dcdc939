/**
 * Cross-Origin Resource Sharing (the Fetch standard's CORS protocol) as a plugin:
 *
 *   app.use(cors({ origin: ['https://app.example.com'], credentials: true }));
 *
 * A preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) is answered 204 by the
 * onRequest hook before routing, so routes need no OPTIONS handlers. Every other answer to an
 * allowed origin, errors and 404s included, gets `Access-Control-Allow-Origin` from the
 * onResponse hook. A request from an origin that is not allowed is served without CORS headers,
 * and the browser keeps the response from the page.
 */

import type { Plugin, RequestInfo } from '../app/hooks.ts';
import { reply } from '../app/response.ts';
import { addVary } from './vary.ts';

export interface CorsOptions {
  /**
   * Which origins may read responses: `'*'` any (not with `credentials`), a string or list of
   * exact origins (`https://app.example.com`), a RegExp, or a function of the origin.
   * @default '*'
   */
  readonly origin?: string | readonly string[] | RegExp | ((origin: string) => boolean);
  /** Methods a preflight allows. @default ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'] */
  readonly methods?: readonly string[];
  /** Request headers a preflight allows. @default the ones the preflight asks for */
  readonly allowedHeaders?: readonly string[];
  /** Response headers the page may read beyond the CORS-safelisted ones. @default [] */
  readonly exposedHeaders?: readonly string[];
  /** Let the page send cookies and read the response (`Access-Control-Allow-Credentials`). @default false */
  readonly credentials?: boolean;
  /** How long a browser may cache a preflight, in seconds. @default 600 */
  readonly maxAge?: number;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'];

export function cors(options: CorsOptions = {}): Plugin {
  const allowed = originMatcher(options.origin ?? '*');
  const anyOrigin = options.origin === undefined || options.origin === '*';
  const credentials = options.credentials ?? false;
  if (typeof credentials !== 'boolean') throw new TypeError('cors(): credentials must be true or false');
  if (anyOrigin && credentials) {
    // Echoing every origin with credentials would let any site read responses made with the
    // user's cookies; the Fetch standard refuses `*` with credentials for that reason.
    throw new TypeError("cors(): credentials need the allowed origins listed (origin: ['https://app.example.com'], a RegExp or a function), not '*'");
  }
  const maxAge = options.maxAge ?? 600;
  if (!Number.isInteger(maxAge) || maxAge < 0) throw new TypeError(`cors(): maxAge must be a whole number of seconds, got ${String(maxAge)}`);
  const methods = list('methods', options.methods ?? DEFAULT_METHODS).map((method) => method.toUpperCase());
  const allowedHeaders = options.allowedHeaders === undefined ? null : list('allowedHeaders', options.allowedHeaders);
  const exposedHeaders = list('exposedHeaders', options.exposedHeaders ?? []);

  /**
   * The Access-Control-Allow-Origin value for this request, or null for none. `*` goes on every
   * response, CORS request or not, so a cache may keep one copy for everyone (the Fetch
   * standard's advice); an echoed origin depends on the request, hence `Vary: Origin`.
   */
  function allowOrigin(req: RequestInfo): string | null {
    if (anyOrigin) return '*';
    const origin = req.header('origin');
    return origin !== undefined && allowed(origin) ? origin : null;
  }

  return {
    name: 'cors',
    onRequest(req) {
      if (req.method !== 'OPTIONS' || req.header('access-control-request-method') === undefined) return undefined;
      const headers: Record<string, string> = {};
      if (req.header('origin') !== undefined && allowOrigin(req) !== null) {
        headers['access-control-allow-methods'] = methods.join(', ');
        const asked = req.header('access-control-request-headers');
        const allow = allowedHeaders === null ? asked : allowedHeaders.join(', ');
        if (allow !== undefined && allow !== '') headers['access-control-allow-headers'] = allow;
        headers['access-control-max-age'] = String(maxAge);
      }
      if (allowedHeaders === null) headers['vary'] = 'Access-Control-Request-Headers';
      return reply(undefined, { status: 204, headers });
    },
    onResponse(req, res) {
      const origin = allowOrigin(req);
      if (!anyOrigin) addVary(res.headers, 'Origin');
      if (origin === null) return;
      res.headers['access-control-allow-origin'] = origin;
      if (credentials) res.headers['access-control-allow-credentials'] = 'true';
      if (exposedHeaders.length > 0 && req.method !== 'OPTIONS') res.headers['access-control-expose-headers'] = exposedHeaders.join(', ');
    },
  };
}

function originMatcher(origin: NonNullable<CorsOptions['origin']>): (origin: string) => boolean {
  if (origin === '*') return () => true;
  if (typeof origin === 'string') return (candidate) => candidate === origin;
  if (origin instanceof RegExp) {
    // Without the g and y flags, test() keeps no state between calls.
    const pattern = new RegExp(origin.source, origin.flags.replace(/[gy]/g, ''));
    return (candidate) => pattern.test(candidate);
  }
  if (typeof origin === 'function') return origin;
  if (Array.isArray(origin) && origin.every((item) => typeof item === 'string')) {
    const set = new Set<string>(origin);
    return (candidate) => set.has(candidate);
  }
  throw new TypeError("cors(): origin must be '*', an origin, a list of origins, a RegExp or a function");
}

function list(name: string, value: readonly string[]): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) {
    throw new TypeError(`cors(): ${name} must be a list of names`);
  }
  return [...value];
}
