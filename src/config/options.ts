/**
 * Server options: what `serve()` and the CLI accept, their defaults, and validation into a fully
 * resolved configuration. Unknown options and invalid values are errors naming the option.
 */

import os from 'node:os';
import { defaultLogFormat, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../core/log.ts';
import { err, ok, type Result } from '../core/result.ts';

export type ListenerMode = 'auto' | 'reuseport' | 'acceptor';

export interface ServeOptions {
  /** Interface to listen on. @default '0.0.0.0' */
  readonly host?: string;
  /** TCP port; 0 picks a free one (see the returned server's `port`). @default 8080 */
  readonly port?: number;
  /** Pinned worker isolates that own connections and run handlers inline. 0 = one per CPU (`os.availableParallelism()`). @default 0 */
  readonly pinnedWorkers?: number;
  /** Concurrent task slots of the pooled executor. 0 = no pool. @default 0 */
  readonly pooledWorkers?: number;
  /** Isolates the pooled task slots are spread over. 0 = ceil(pooledWorkers / 2). @default 0 */
  readonly pooledIsolates?: number;
  /** Serve TLS (ALPN `h2` and `http/1.1`) with this PEM certificate chain and private key. */
  readonly tls?: { readonly cert: string | Uint8Array; readonly key: string | Uint8Array };
  /**
   * How connections reach pinned workers. `reuseport`: each worker listens on the port with
   * SO_REUSEPORT and the kernel spreads connections. `acceptor`: the main thread accepts and hands
   * each socket to a worker (for platforms without SO_REUSEPORT balancing; needs Node ≥ 26.6).
   * `auto`: `reuseport` where SO_REUSEPORT balances connections (Linux, FreeBSD, DragonFly, illumos, AIX), else `acceptor`.
   * @default 'auto'
   */
  readonly listener?: ListenerMode;
  /** Largest request body accepted, in bytes; larger ones get 413. @default 1048576 (1 MiB) */
  readonly bodyLimit?: number;
  /** On close or SIGINT/SIGTERM, how long in-flight requests may take to finish, in ms. @default 10000 */
  readonly gracePeriod?: number;
  /** How long worker isolates may take to load the app and start listening, in ms. @default 30000 */
  readonly startupTimeout?: number;
  /** HTTP/1.1 keep-alive idle timeout, in ms. @default 5000 */
  readonly keepAliveTimeout?: number;
  /** Time allowed to receive a request's headers (and, in cleartext, its first bytes), in ms. @default 60000 */
  readonly headersTimeout?: number;
  /** Time allowed to receive a whole HTTP/1.1 request, in ms. @default 300000 */
  readonly requestTimeout?: number;
  /** HTTP/2 session idle timeout, in ms. @default 300000 */
  readonly sessionIdleTimeout?: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per session. @default 100 */
  readonly maxConcurrentStreams?: number;
  /** Largest request head in bytes: the HTTP/1.1 request line and headers, or the HTTP/2 header list (SETTINGS_MAX_HEADER_LIST_SIZE). Larger ones get 431. @default 16384 */
  readonly maxHeaderSize?: number;
  /** Most request headers; more get 431. @default 100 */
  readonly maxHeaderCount?: number;
  /** Longest request target (path and query) in bytes; longer ones get 414. @default 8192 */
  readonly maxUrlLength?: number;
  /** Memory an HTTP/2 session may hold (buffered frames, header tables), in MB; past it new streams are refused. @default 10 */
  readonly maxSessionMemory?: number;
  /** Put the message and stack of a handler's error in its 500 response. For development only. @default false */
  readonly exposeErrors?: boolean;
  /** Time a handler may take before the client gets a 504, in ms; 0 for no limit. Routes may set their own `timeout`. @default 30000 */
  readonly handlerTimeout?: number;
  /** Saturation threshold: with more requests than this in flight on a pinned worker, routes without a `pool` option spill to the pool. @default 1024 */
  readonly spillInFlight?: number;
  /** Saturation threshold: with its event loop lagging more than this (ms), a pinned worker spills routes without a `pool` option to the pool. @default 50 */
  readonly spillLoopDelay?: number;
  /**
   * Admission control: requests one pinned worker may have in flight (received, response not yet
   * written). Past it, a request that can go to the pool (a route without `pool: false`, while an
   * isolate has an idle slot) spills there, and any other answers 503 with Retry-After, with or
   * without a pool. `{ pool: true }` routes are bounded by the pool's own queues instead.
   * @default 1024
   */
  readonly maxInFlight?: number;
  /** Tasks each pooled isolate may queue beyond its busy slots; past that, requests are shed with 503. @default 64 */
  readonly poolQueueLimit?: number;
  /** Bytes of each ring between a pinned worker and a pooled isolate (a power of two, ≥ 4096). @default 262144 */
  readonly poolRingSize?: number;
  /**
   * The longest time, in µs, an idle pooled isolate spins on its rings before it parks. The
   * spin follows the recent gap between requests (twice it, and none when requests come further
   * apart than this), and happens only where there are more cores than pinned workers and pooled
   * isolates together: elsewhere the spinning thread takes a core from one doing work. 0 never
   * spins. See docs/architecture.md, "Waiting for records".
   * @default 50
   */
  readonly poolPoll?: number;
  /** Heap limit of each pooled isolate in MB (`resourceLimits.maxOldGenerationSizeMb`); 0 for Node's default. @default 0 */
  readonly poolMemoryLimit?: number;
  /** `debug`, `info` (banner, restarts), `warn`, `error` (handler errors) or `silent`. @default 'info' */
  readonly logLevel?: LogLevel;
  /**
   * `json`: one JSON object per line with pino's fields, on stdout; `pretty`: plain messages,
   * errors on stderr. @default 'pretty' when stdout is a terminal, else 'json'
   */
  readonly logFormat?: LogFormat;
  /** Log one line per answered request (at info level), with its id, route, status and duration. @default false */
  readonly accessLog?: boolean;
  /** Reload the app (as SIGHUP does) when a file under its module's folder changes. For development. @default false */
  readonly watch?: boolean;
  /** Handle SIGINT and SIGTERM with a graceful shutdown (a second signal exits at once). @default true */
  readonly handleSignals?: boolean;
  /**
   * Port of the admin listener (`/healthz`, `/readyz`), served by the supervisor apart from the
   * app's routes; 0 picks a free one (see the returned server's `adminPort`). @default off
   */
  readonly adminPort?: number;
  /** Interface of the admin listener. @default '127.0.0.1' */
  readonly adminHost?: string;
  /**
   * On close or SIGTERM, how long the server keeps serving after `/readyz` turns 503 and before
   * it drains, in ms, so that load balancers stop sending first (Kubernetes users set a few
   * seconds). @default 0
   */
  readonly shutdownDelay?: number;
}

export interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly pinnedWorkers: number;
  readonly pooledWorkers: number;
  readonly pooledIsolates: number;
  readonly tls: { readonly cert: string; readonly key: string } | null;
  readonly listener: ListenerMode;
  readonly bodyLimit: number;
  readonly gracePeriod: number;
  readonly startupTimeout: number;
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly requestTimeout: number;
  readonly sessionIdleTimeout: number;
  readonly maxConcurrentStreams: number;
  readonly maxHeaderSize: number;
  readonly maxHeaderCount: number;
  readonly maxUrlLength: number;
  readonly maxSessionMemory: number;
  readonly exposeErrors: boolean;
  readonly handlerTimeout: number;
  readonly spillInFlight: number;
  readonly spillLoopDelay: number;
  readonly maxInFlight: number;
  readonly poolQueueLimit: number;
  readonly poolRingSize: number;
  readonly poolPoll: number;
  readonly poolMemoryLimit: number;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly accessLog: boolean;
  readonly watch: boolean;
  readonly handleSignals: boolean;
  /** null: no admin listener. */
  readonly adminPort: number | null;
  readonly adminHost: string;
  readonly shutdownDelay: number;
}

export const DEFAULTS = {
  host: '0.0.0.0',
  port: 8080,
  pinnedWorkers: 0,
  pooledWorkers: 0,
  pooledIsolates: 0,
  listener: 'auto',
  bodyLimit: 1024 * 1024,
  gracePeriod: 10_000,
  startupTimeout: 30_000,
  keepAliveTimeout: 5_000,
  headersTimeout: 60_000,
  requestTimeout: 300_000,
  sessionIdleTimeout: 300_000,
  maxConcurrentStreams: 100,
  maxHeaderSize: 16 * 1024,
  maxHeaderCount: 100,
  maxUrlLength: 8 * 1024,
  maxSessionMemory: 10,
  exposeErrors: false,
  handlerTimeout: 30_000,
  spillInFlight: 1024,
  spillLoopDelay: 50,
  maxInFlight: 1024,
  poolQueueLimit: 64,
  poolRingSize: 256 * 1024,
  poolPoll: 50,
  poolMemoryLimit: 0,
  logLevel: 'info',
  accessLog: false,
  watch: false,
  handleSignals: true,
  adminPort: null,
  adminHost: '127.0.0.1',
  shutdownDelay: 0,
} as const satisfies Omit<ResolvedOptions, 'tls' | 'logFormat'>;

export interface OptionError {
  /** The option's name as the caller spelled it (`pinnedWorkers`; the CLI maps it to `--pinned`). */
  readonly option: string;
  readonly message: string;
}

type Check = (value: unknown) => string | null;

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? null
      : `expected an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'up' : max}, got ${describe(value)}`;

const oneOf =
  (choices: readonly string[]): Check =>
  (value) =>
    typeof value === 'string' && choices.includes(value)
      ? null
      : `expected one of ${choices.join(', ')}, got ${describe(value)}`;

const CHECKS: Record<keyof Omit<ServeOptions, 'tls'>, Check> = {
  host: (value) => hostCheck(value),
  adminHost: (value) => hostCheck(value),
  adminPort: integer(0, 65535),
  shutdownDelay: integer(0, 2 ** 31 - 1),
  port: integer(0, 65535),
  pinnedWorkers: integer(0, 1024),
  pooledWorkers: integer(0, 65536),
  pooledIsolates: integer(0, 1024),
  listener: oneOf(['auto', 'reuseport', 'acceptor']),
  bodyLimit: integer(0),
  gracePeriod: integer(0),
  startupTimeout: integer(1),
  keepAliveTimeout: integer(0),
  headersTimeout: integer(1),
  requestTimeout: integer(0),
  sessionIdleTimeout: integer(0),
  maxConcurrentStreams: integer(1, 2 ** 31 - 1),
  maxHeaderSize: integer(1024, 2 ** 24),
  maxHeaderCount: integer(1, 10_000),
  maxUrlLength: integer(16, 2 ** 24),
  maxSessionMemory: integer(1, 2 ** 16),
  exposeErrors: (value) => (typeof value === 'boolean' ? null : `expected true or false, got ${describe(value)}`),
  handlerTimeout: integer(0, 2 ** 31 - 1),
  spillInFlight: integer(0),
  spillLoopDelay: integer(0),
  maxInFlight: integer(1, 1_000_000),
  poolQueueLimit: integer(0, 1_000_000),
  poolRingSize: (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= 4096 && value <= 2 ** 30 && (value & (value - 1)) === 0
      ? null
      : `expected a power of two from 4096 to 1073741824, got ${describe(value)}`,
  poolPoll: integer(0, 1_000_000),
  poolMemoryLimit: integer(0),
  logLevel: oneOf(LOG_LEVELS),
  logFormat: oneOf(LOG_FORMATS),
  accessLog: (value) => (typeof value === 'boolean' ? null : `expected true or false, got ${describe(value)}`),
  watch: (value) => (typeof value === 'boolean' ? null : `expected true or false, got ${describe(value)}`),
  handleSignals: (value) => (typeof value === 'boolean' ? null : `expected true or false, got ${describe(value)}`),
};

function hostCheck(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? null : `expected a host name or IP address, got ${describe(value)}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function pem(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value;
  if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value).toString('utf8');
  return null;
}

/**
 * Validates `input` and fills in defaults and the automatic values (0 = auto). Messages name
 * options through `nameOf` (the CLI passes its flag names).
 */
export function resolveOptions(input: unknown, nameOf: (option: string) => string = (option) => option): Result<ResolvedOptions, OptionError> {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return err({ option: 'options', message: `options must be an object, got ${describe(input)}` });
  }
  // Only the object's own properties count, as they are the only ones checked: a value inherited
  // from a prototype (or a name like "toString") is never read.
  const given: Record<string, unknown> = Object.create(null);
  for (const name of Object.keys(input)) given[name] = (input as Record<string, unknown>)[name];
  for (const name of Object.keys(given)) {
    if (given[name] === undefined) continue;
    if (name === 'tls') continue;
    const check = Object.hasOwn(CHECKS, name) ? CHECKS[name as keyof typeof CHECKS] : undefined;
    if (check === undefined) return err({ option: name, message: `unknown option ${JSON.stringify(name)}` });
    const problem = check(given[name]);
    if (problem !== null) return err({ option: name, message: `invalid value for ${nameOf(name)}: ${problem}` });
  }

  let tlsOption: ResolvedOptions['tls'] = null;
  if (given['tls'] !== undefined) {
    const t = given['tls'] as Record<string, unknown> | null;
    const cert = typeof t === 'object' && t !== null ? pem(t['cert']) : null;
    const key = typeof t === 'object' && t !== null ? pem(t['key']) : null;
    if (cert === null || key === null) {
      return err({ option: 'tls', message: `invalid value for ${nameOf('tls')}: expected { cert, key } with PEM strings or bytes` });
    }
    tlsOption = { cert, key };
  }

  const pick = <K extends keyof typeof DEFAULTS>(name: K): (typeof DEFAULTS)[K] =>
    (given[name] ?? DEFAULTS[name]) as (typeof DEFAULTS)[K];

  const pinned = pick('pinnedWorkers');
  const pooled = pick('pooledWorkers');
  const isolates = pick('pooledIsolates');
  if (pooled === 0 && isolates > 0) {
    return err({
      option: 'pooledIsolates',
      message: `${nameOf('pooledIsolates')} needs ${nameOf('pooledWorkers')} > 0 (${nameOf('pooledWorkers')} 0 means no pool)`,
    });
  }
  if (pooled > 0 && isolates > pooled) {
    return err({
      option: 'pooledIsolates',
      message: `${nameOf('pooledIsolates')} (${isolates}) cannot exceed ${nameOf('pooledWorkers')} (${pooled}): each isolate needs at least one task slot`,
    });
  }

  const adminPort = (given['adminPort'] ?? null) as number | null;
  if (adminPort !== null && adminPort !== 0 && adminPort === pick('port')) {
    return err({ option: 'adminPort', message: `${nameOf('adminPort')} (${adminPort}) cannot be the app's ${nameOf('port')}: the admin listener needs a port of its own` });
  }

  const headersTimeout = pick('headersTimeout');
  const requestTimeout = pick('requestTimeout');
  if (requestTimeout > 0 && headersTimeout > requestTimeout) {
    return err({
      option: 'headersTimeout',
      message: `${nameOf('headersTimeout')} (${headersTimeout}) cannot exceed ${nameOf('requestTimeout')} (${requestTimeout})`,
    });
  }

  return ok({
    host: pick('host'),
    port: pick('port'),
    pinnedWorkers: pinned === 0 ? os.availableParallelism() : pinned,
    pooledWorkers: pooled,
    pooledIsolates: pooled === 0 ? 0 : isolates === 0 ? Math.ceil(pooled / 2) : isolates,
    tls: tlsOption,
    listener: pick('listener'),
    bodyLimit: pick('bodyLimit'),
    gracePeriod: pick('gracePeriod'),
    startupTimeout: pick('startupTimeout'),
    keepAliveTimeout: pick('keepAliveTimeout'),
    headersTimeout,
    requestTimeout,
    sessionIdleTimeout: pick('sessionIdleTimeout'),
    maxConcurrentStreams: pick('maxConcurrentStreams'),
    maxHeaderSize: pick('maxHeaderSize'),
    maxHeaderCount: pick('maxHeaderCount'),
    maxUrlLength: pick('maxUrlLength'),
    maxSessionMemory: pick('maxSessionMemory'),
    exposeErrors: pick('exposeErrors'),
    handlerTimeout: pick('handlerTimeout'),
    spillInFlight: pick('spillInFlight'),
    spillLoopDelay: pick('spillLoopDelay'),
    maxInFlight: pick('maxInFlight'),
    poolQueueLimit: pick('poolQueueLimit'),
    poolRingSize: pick('poolRingSize'),
    poolPoll: pick('poolPoll'),
    poolMemoryLimit: pick('poolMemoryLimit'),
    logLevel: pick('logLevel'),
    logFormat: (given['logFormat'] as LogFormat | undefined) ?? defaultLogFormat(),
    accessLog: pick('accessLog'),
    watch: pick('watch'),
    handleSignals: pick('handleSignals'),
    adminPort,
    adminHost: pick('adminHost'),
    shutdownDelay: pick('shutdownDelay'),
  });
}
