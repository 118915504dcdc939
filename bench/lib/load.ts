/**
 * The load tools: h2load (nghttp2-client) for HTTP/2 — and for HTTP/1.1 where a request rate or
 * per-request latencies are needed — and wrk for HTTP/1.1 throughput. Both run with a raised
 * file-descriptor limit, so the connection scenarios can open 10,000 sockets.
 */

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantile } from './stats.ts';

export interface LoadResult {
  readonly rps: number;
  /** Latency percentiles in µs (NaN where the tool gave none). */
  readonly p50: number;
  readonly p99: number;
  readonly requests: number;
  /** 2xx answers within the measured duration: what a server's cost per request is divided by. */
  readonly answered: number;
  /** Failed, errored, timed-out and non-2xx requests, and socket errors. */
  readonly errors: number;
}

/** `null` when both tools are installed, else a message saying how to install what is missing. */
export function missingTools(): string | null {
  const missing = ['h2load', 'wrk'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length === 0) return null;
  const packages = missing.map((tool) => (tool === 'h2load' ? 'nghttp2-client' : 'wrk'));
  return `missing load tool(s): ${missing.join(', ')}. Install them with: sudo apt-get install ${packages.join(' ')}`;
}

export function toolVersions(): string {
  const h2load = spawnSync('h2load', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const wrk = `${spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout}`.split('\n')[0]?.trim() ?? 'wrk';
  return `${h2load}, ${wrk.replace(/ Copyright.*/, '')}`;
}

/** Runs `tool`; `onLine` sees each line of its stdout as it comes. */
function run(tool: string, args: readonly string[], timeoutMs: number, onLine?: (line: string) => void): Promise<string> {
  const command = `ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`;
  return new Promise((resolve, reject) => {
    const child = execFile('sh', ['-c', command, tool, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && stdout === '') reject(new Error(`${tool} failed: ${error.message}\n${stderr}`));
      else resolve(`${stdout}\n${stderr}`);
    });
    if (onLine === undefined) return;
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer | string) => {
      const lines = (partial + String(chunk)).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
  });
}

export interface H2loadOptions {
  readonly url: string;
  readonly clients: number;
  readonly streams: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly threads?: number;
  /** Requests per second per client (a fixed rate instead of as fast as possible). */
  readonly rps?: number;
  /** Speak HTTP/1.1 instead of h2c. */
  readonly h1?: boolean;
  /** POST this file's contents as each request's body (h2load -d). */
  readonly dataFile?: string;
  /** Extra request headers, `name: value` (h2load -H). */
  readonly headers?: readonly string[];
  /** Called once when the measured duration begins, after any warm-up. */
  readonly onMeasuring?: (() => void) | undefined;
}

/** The application protocol h2load must report for `url`: h2 via ALPN over TLS, else what was asked. */
function expectedProtocol(options: Pick<H2loadOptions, 'url' | 'h1'>): string {
  if (options.h1 === true) return 'http/1.1';
  return options.url.startsWith('https:') ? 'h2' : 'h2c';
}

export async function h2load(options: H2loadOptions): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fasterapi-bench-'));
  const log = join(dir, 'requests.log');
  try {
    const args = [
      ...(options.h1 === true ? ['--h1'] : []),
      '-c', String(options.clients),
      '-m', String(options.streams),
      '-t', String(options.threads ?? 1),
      '-D', `${options.durationS}s`,
      ...(options.warmupS > 0 ? ['--warm-up-time', `${options.warmupS}s`] : []),
      ...(options.rps !== undefined ? ['--rps', String(options.rps)] : []),
      ...(options.dataFile !== undefined ? ['-d', options.dataFile] : []),
      ...(options.headers ?? []).flatMap((header) => ['-H', header]),
      `--log-file=${log}`,
      options.url,
    ];
    let measuring = false;
    const onLine = (line: string): void => {
      // h2load says this once per thread, also without warm-up; the first one starts the clock.
      if (measuring || !line.startsWith('Main benchmark duration is started')) return;
      measuring = true;
      options.onMeasuring?.();
    };
    const out = await run('h2load', args, (options.durationS + options.warmupS + 30) * 1000, options.onMeasuring === undefined ? undefined : onLine);
    return parseH2load(out, readLatencies(log), expectedProtocol(options));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * h2load's summary; `latencies` are the per-request times (µs, sorted) from its log file. With
 * `protocol`, throws unless h2load reports that application protocol: a TLS server that does not
 * offer h2 would otherwise be measured speaking something else, or not at all.
 */
export function parseH2load(out: string, latencies: ArrayLike<number>, protocol?: string): LoadResult {
  if (protocol !== undefined) {
    const spoken = /^Application protocol: (\S+)/m.exec(out)?.[1];
    if (spoken !== protocol) {
      throw new Error(`h2load ${spoken === undefined ? 'negotiated no application protocol' : `spoke ${spoken}`}, not ${protocol}`);
    }
  }
  const rps = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
  const counts = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const requests = Number(counts?.[1] ?? 0);
  // Requests that failed outright, and answers that were not 2xx or 3xx.
  const errors =
    Number(counts?.[3] ?? 0) + Number(counts?.[4] ?? 0) + Number(counts?.[5] ?? 0) + Number(codes?.[3] ?? 0) + Number(codes?.[4] ?? 0);
  return {
    rps,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    requests,
    answered: Number(codes?.[1] ?? 0),
    errors: counts === null ? Number.NaN : errors,
  };
}

/** Per-request latencies (µs, third column) from an h2load log file, sorted. */
function readLatencies(path: string): Float64Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return new Float64Array(0);
  }
  const lines = text.split('\n');
  const values = new Float64Array(lines.length);
  let n = 0;
  for (const line of lines) {
    const tab = line.lastIndexOf('\t');
    if (tab < 0) continue;
    const value = Number(line.slice(tab + 1));
    if (Number.isFinite(value)) values[n++] = value;
  }
  return values.subarray(0, n).sort();
}

export interface WrkOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly threads?: number;
  /** Called once when the measured run begins, after the warm-up run. */
  readonly onMeasuring?: (() => void) | undefined;
}

export async function wrk(options: WrkOptions): Promise<LoadResult> {
  const threads = String(Math.min(options.threads ?? 1, options.connections));
  const common = ['-t', threads, '-c', String(options.connections), '--timeout', '10s'];
  if (options.warmupS > 0) await run('wrk', [...common, '-d', `${options.warmupS}s`, options.url], (options.warmupS + 30) * 1000);
  options.onMeasuring?.();
  const out = await run('wrk', [...common, '-d', `${options.durationS}s`, '--latency', options.url], (options.durationS + 30) * 1000);
  return parseWrk(out);
}

/** wrk's report (run with --latency). */
export function parseWrk(out: string): LoadResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0)) + non2xx;
  // wrk counts every response in `requests`; the non-2xx/3xx ones among them are not answers.
  // (wrk does not tell 3xx from 2xx; no route here redirects.)
  return { rps, p50: wrkPercentile(out, '50'), p99: wrkPercentile(out, '99'), requests, answered: Math.max(0, requests - non2xx), errors };
}

function wrkPercentile(out: string, percent: string): number {
  const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value : match[2] === 'ms' ? value * 1000 : value * 1_000_000;
}
