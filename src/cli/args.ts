/**
 * Command-line parsing for `fasterapi serve`, on `node:util` parseArgs. Every problem is one
 * line that names the option; the caller exits with code 2.
 */

import { parseArgs } from 'node:util';
import type { ServeOptions } from '../config/options.ts';
import { err, ok, type Result } from '../core/result.ts';

export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | {
      readonly kind: 'serve';
      readonly app: string;
      readonly options: ServeOptions;
      /** PEM file paths, read by the caller (a missing file is not a usage error). */
      readonly tlsFiles: { readonly cert: string; readonly key: string } | null;
    };

type Kind = 'count' | 'bytes' | 'ms' | 'text';

/** CLI flag → `ServeOptions` field, and how its value is written. */
const FLAGS = {
  host: { option: 'host', kind: 'text' },
  port: { option: 'port', kind: 'count' },
  pinned: { option: 'pinnedWorkers', kind: 'count' },
  pooled: { option: 'pooledWorkers', kind: 'count' },
  'pooled-isolates': { option: 'pooledIsolates', kind: 'count' },
  listener: { option: 'listener', kind: 'text' },
  'body-limit': { option: 'bodyLimit', kind: 'bytes' },
  'grace-period': { option: 'gracePeriod', kind: 'ms' },
  'startup-timeout': { option: 'startupTimeout', kind: 'ms' },
  'keep-alive-timeout': { option: 'keepAliveTimeout', kind: 'ms' },
  'headers-timeout': { option: 'headersTimeout', kind: 'ms' },
  'request-timeout': { option: 'requestTimeout', kind: 'ms' },
  'session-idle-timeout': { option: 'sessionIdleTimeout', kind: 'ms' },
  'max-concurrent-streams': { option: 'maxConcurrentStreams', kind: 'count' },
  'max-header-size': { option: 'maxHeaderSize', kind: 'bytes' },
  'max-header-count': { option: 'maxHeaderCount', kind: 'count' },
  'max-url-length': { option: 'maxUrlLength', kind: 'bytes' },
  'max-session-memory': { option: 'maxSessionMemory', kind: 'count' },
  'handler-timeout': { option: 'handlerTimeout', kind: 'ms' },
  'spill-in-flight': { option: 'spillInFlight', kind: 'count' },
  'spill-loop-delay': { option: 'spillLoopDelay', kind: 'ms' },
  'max-in-flight': { option: 'maxInFlight', kind: 'count' },
  'pool-queue-limit': { option: 'poolQueueLimit', kind: 'count' },
  'pool-ring-size': { option: 'poolRingSize', kind: 'bytes' },
  'pool-memory-limit': { option: 'poolMemoryLimit', kind: 'count' },
  'pool-poll': { option: 'poolPoll', kind: 'count' },
  'log-level': { option: 'logLevel', kind: 'text' },
  'log-format': { option: 'logFormat', kind: 'text' },
  'admin-port': { option: 'adminPort', kind: 'count' },
  'admin-host': { option: 'adminHost', kind: 'text' },
  'shutdown-delay': { option: 'shutdownDelay', kind: 'ms' },
} as const satisfies Record<string, { option: keyof ServeOptions; kind: Kind }>;

const FILE_FLAGS = ['tls-cert', 'tls-key'] as const;

/** Flags that take no value and turn an option on. */
const BOOLEAN_FLAGS = { 'expose-errors': 'exposeErrors', 'access-log': 'accessLog', watch: 'watch' } as const satisfies Record<string, keyof ServeOptions>;

/** The CLI spelling of an option, for messages that come from option validation. */
export function flagFor(option: string): string {
  for (const [flag, spec] of Object.entries(FLAGS)) if (spec.option === option) return `--${flag}`;
  if (option === 'tls') return '--tls-cert/--tls-key';
  for (const [flag, name] of Object.entries(BOOLEAN_FLAGS)) if (name === option) return `--${flag}`;
  return option;
}

export const USAGE = `Usage: fasterapi serve <app.ts> [options]

Serves the App that <app.ts> exports by default, over HTTP/2 (h2c or TLS) and HTTP/1.1.

Options:
  --host <addr>                 interface to listen on (default 0.0.0.0)
  --port, -p <n>                port, 0 for any free one (default 8080)
  --pinned <n>                  pinned worker isolates, 0 = one per CPU (default 0)
  --pooled <n>                  pooled task slots, 0 = no pool (default 0)
  --pooled-isolates <n>         isolates for the pool, 0 = ceil(pooled / 2) (default 0)
  --tls-cert <file>             PEM certificate chain: serve TLS with ALPN h2 + http/1.1
  --tls-key <file>              PEM private key (with --tls-cert)
  --listener <mode>             auto | reuseport | acceptor (default auto)
  --body-limit <size>           largest request body, e.g. 1048576, 512kb, 10mb (default 1mb)
  --grace-period <time>         time for in-flight requests on shutdown, e.g. 10000, 10s (default 10s)
  --startup-timeout <time>      time for workers to load the app (default 30s)
  --keep-alive-timeout <time>   HTTP/1.1 keep-alive idle timeout (default 5s)
  --headers-timeout <time>      time to receive request headers (default 60s)
  --request-timeout <time>      time to receive a whole HTTP/1.1 request (default 300s)
  --session-idle-timeout <time> HTTP/2 session idle timeout (default 300s)
  --max-concurrent-streams <n>  HTTP/2 streams per session (default 100)
  --max-header-size <size>      request line + headers, or HTTP/2 header list; 431 past it (default 16kb)
  --max-header-count <n>        request headers; 431 past it (default 100)
  --max-url-length <size>       request target; 414 past it (default 8kb)
  --max-session-memory <mb>     memory one HTTP/2 session may hold (default 10)
  --expose-errors               put handler error messages and stacks in 500 responses (development)
  --handler-timeout <time>      time a handler may take before a 504, 0 = none (default 30s)
  --spill-in-flight <n>         requests in flight on a pinned worker before it spills to the pool (default 1024)
  --spill-loop-delay <time>     event-loop delay of a pinned worker before it spills to the pool (default 50ms)
  --max-in-flight <n>           requests in flight per pinned worker; past it 503 unless it spills (default 1024)
  --pool-queue-limit <n>        tasks a pooled isolate may queue beyond its slots (default 64)
  --pool-ring-size <size>       bytes of each pinned↔pooled ring, a power of two (default 256kb)
  --pool-memory-limit <mb>      heap limit of each pooled isolate in MB, 0 = Node's default (default 0)
  --pool-poll <µs>              polling after the last ring message before parking (default 0)
  --log-level <level>           debug | info | warn | error | silent (default info)
  --log-format <format>         json (pino's fields, one object per line) | pretty (default: pretty on a terminal, else json)
  --access-log                  log one line per answered request
  --watch                       reload the app when a file under its folder changes (development)
  --admin-port <n>              admin listener for /healthz and /readyz, 0 for any free port (default off)
  --admin-host <addr>           interface of the admin listener (default 127.0.0.1)
  --shutdown-delay <time>       on SIGTERM, serve this long after /readyz turns 503, then drain (default 0)
  --help, -h                    show this help
  --version, -v                 show the version
`;

const UNITS: Record<Exclude<Kind, 'text'>, Record<string, number>> = {
  count: { '': 1 },
  bytes: { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 },
  ms: { '': 1, ms: 1, s: 1000, m: 60_000 },
};

function parseNumber(flag: string, raw: string, kind: Exclude<Kind, 'text'>): Result<number, string> {
  const match = /^(\d+)([a-z]*)$/i.exec(raw.trim());
  const unit = match === null ? undefined : UNITS[kind][(match[2] as string).toLowerCase()];
  if (match === null || unit === undefined) {
    const expected =
      kind === 'count' ? 'a whole number' : kind === 'bytes' ? 'a size such as 1048576, 512kb or 10mb' : 'a time such as 5000, 500ms or 10s';
    return err(`invalid value for --${flag}: ${JSON.stringify(raw)} (expected ${expected})`);
  }
  return ok(Number(match[1]) * unit);
}

/** A flag as typed, quoted if it holds anything that would not print on one line. */
function printable(text: string): string {
  return /^[\x21-\x7e]*$/.test(text) ? text : JSON.stringify(text);
}

export function parseCommand(argv: readonly string[]): Result<Command, string> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: false,
      allowPositionals: true,
      tokens: true,
      options: {
        ...Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }])),
        ...Object.fromEntries(FILE_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
        port: { type: 'string', short: 'p' },
        help: { type: 'boolean', short: 'h' },
        'expose-errors': { type: 'boolean' },
        'access-log': { type: 'boolean' },
        watch: { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (thrown) {
    return err((thrown as Error).message.split('\n')[0] ?? 'invalid arguments');
  }

  const options: Record<string, unknown> = {};
  const files: Record<string, string> = {};
  let help = false;
  let version = false;
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    const { name, rawName, value } = token;
    const toggle = BOOLEAN_FLAGS[name as keyof typeof BOOLEAN_FLAGS];
    if (toggle !== undefined && Object.hasOwn(BOOLEAN_FLAGS, name)) {
      if (value !== undefined) return err(`${rawName} takes no value`);
      options[toggle] = true;
      continue;
    }
    if (name === 'help' || name === 'version') {
      if (value !== undefined) return err(`${rawName} takes no value`);
      if (name === 'help') help = true;
      else version = true;
      continue;
    }
    const spec = Object.hasOwn(FLAGS, name) ? (FLAGS[name as keyof typeof FLAGS] as { option: string; kind: Kind }) : undefined;
    const isFile = (FILE_FLAGS as readonly string[]).includes(name);
    if (spec === undefined && !isFile) return err(`unknown option ${printable(rawName)} (see fasterapi --help)`);
    if (typeof value !== 'string' || value === '') return err(`option --${name} needs a value`);
    if (isFile) {
      files[name] = value;
    } else if (spec !== undefined && spec.kind === 'text') {
      options[spec.option] = value;
    } else if (spec !== undefined) {
      const number = parseNumber(name, value, spec.kind as Exclude<Kind, 'text'>);
      if (!number.ok) return number;
      options[spec.option] = number.value;
    }
  }
  if (help) return ok({ kind: 'help' });
  if (version) return ok({ kind: 'version' });

  const [command, app, ...extra] = parsed.positionals;
  if (command === undefined) return err('missing command: use `fasterapi serve <app.ts>` (see fasterapi --help)');
  if (command !== 'serve') return err(`unknown command ${JSON.stringify(command)}: the command is \`fasterapi serve <app.ts>\``);
  if (app === undefined) return err('missing app module: `fasterapi serve <app.ts>`');
  if (extra.length > 0) return err(`unexpected argument ${JSON.stringify(extra[0])}`);
  const cert = files['tls-cert'];
  const key = files['tls-key'];
  if ((cert === undefined) !== (key === undefined)) {
    return err(cert === undefined ? 'option --tls-key needs --tls-cert' : 'option --tls-cert needs --tls-key');
  }
  return ok({
    kind: 'serve',
    app,
    options: options as ServeOptions,
    tlsFiles: cert !== undefined && key !== undefined ? { cert, key } : null,
  });
}
