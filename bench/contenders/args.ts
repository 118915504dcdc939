/**
 * The contract every contender keeps with whoever runs it:
 *
 *   node bench/contenders/<name>.ts [--port <n>] [--workers <n>] [--protocol h1|h2c]
 *                                   [--tls-cert <file> --tls-key <file>]
 *
 *   --port      TCP port on 127.0.0.1; 0 picks a free one.          @default 0
 *   --workers   processes or threads, where the contender has any.  @default 1
 *   --protocol  h1 (HTTP/1.1 keep-alive) or h2c (HTTP/2 prior knowledge), where it has a choice.
 *               @default 'h1'
 *   --tls-cert, --tls-key
 *               PEM certificate chain and private key: serve HTTP/2 over TLS (ALPN h2) instead,
 *               where the contender can; `--protocol` is then ignored. Both or neither.
 *
 * Once every process and thread it starts is serving, it prints exactly one line, `READY <port>`,
 * on stdout (the real port); anything else it says goes to stderr. On SIGTERM or SIGINT it stops
 * its children and exits 0, within `SHUTDOWN_LIMIT_MS` whatever they do; a second signal exits at
 * once. A bad flag is one line on stderr and exit code 2.
 */

import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

export const HOST = '127.0.0.1';

/** Longest a contender takes to exit after the first signal, in ms. */
export const SHUTDOWN_LIMIT_MS = 5_000;

export type Protocol = 'h1' | 'h2c';

export interface ContenderArgs {
  readonly port: number;
  readonly workers: number;
  readonly protocol: Protocol;
  /** `--pooled`, fasterapi only: pooled task slots; 0 = no pool. @default 0 */
  readonly pooled: number;
  /** `--pooled-isolates`, fasterapi only: isolates the slots are spread over; 0 = automatic. @default 0 */
  readonly pooledIsolates: number;
  /** `--tls-cert` and `--tls-key`, read: the PEM texts. null = cleartext. */
  readonly tls: { readonly cert: string; readonly key: string } | null;
}

/**
 * Parses the contender flags from `argv`. `--pooled` and `--pooled-isolates` are accepted only
 * with `{ pool: true }`, and `--tls-cert`/`--tls-key` only with `{ tls: true }`, so a runner that
 * passes them to a contender without a pool or TLS hears about it.
 */
export function parseContenderArgs(accepts: { pool?: boolean; tls?: boolean } = {}, argv = process.argv.slice(2)): ContenderArgs {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string', default: '0' },
        workers: { type: 'string', default: '1' },
        protocol: { type: 'string', default: 'h1' },
        ...(accepts.pool === true
          ? { pooled: { type: 'string', default: '0' }, 'pooled-isolates': { type: 'string', default: '0' } }
          : {}),
        ...(accepts.tls === true ? { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' } } : {}),
      },
    });
    const protocol = values.protocol;
    if (protocol !== 'h1' && protocol !== 'h2c') throw new Error(`--protocol: expected h1 or h2c, got ${protocol}`);
    const get = (name: string): string | undefined => (values as Record<string, string | undefined>)[name];
    return {
      port: integer('--port', values.port, 0, 65_535),
      workers: integer('--workers', values.workers, 1),
      protocol,
      pooled: integer('--pooled', get('pooled') ?? '0', 0),
      pooledIsolates: integer('--pooled-isolates', get('pooled-isolates') ?? '0', 0),
      tls: readTls(get('tls-cert'), get('tls-key')),
    };
  } catch (error) {
    process.stderr.write(`${basename(process.argv[1] ?? 'contender')}: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

function readTls(cert: string | undefined, key: string | undefined): ContenderArgs['tls'] {
  if (cert === undefined && key === undefined) return null;
  if (cert === undefined || key === undefined) throw new Error(cert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  const read = (flag: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`${flag}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  return { cert: read('--tls-cert', cert), key: read('--tls-key', key) };
}

function integer(flag: string, text: string, min: number, max = 1_024): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max || text.trim() === '') {
    throw new Error(`${flag}: expected an integer from ${min} to ${max}, got ${text}`);
  }
  return value;
}

/** Tells the runner that everything is serving: the one line this contender prints on stdout. */
export function ready(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

/**
 * On the first SIGTERM or SIGINT, runs `stop` (close servers, stop children) and exits 0, or 1 if
 * `stop` throws; after `SHUTDOWN_LIMIT_MS` it exits 0 regardless. A second signal exits 1 at once.
 */
export function exitOnSignal(stop: () => void | Promise<void>): void {
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    setTimeout(() => process.exit(0), SHUTDOWN_LIMIT_MS).unref();
    Promise.resolve()
      .then(stop)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`shutdown failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Listens with a node:http server, prints READY, and closes it (and its connections) on a signal. */
export function listenUntilSignal(server: http.Server, port: number): void {
  server.listen(port, HOST, () => ready((server.address() as AddressInfo).port));
  exitOnSignal(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
}
