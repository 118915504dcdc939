/**
 * What offloading a request to the pool costs, measured two ways:
 *
 *  1. The codec and rings alone, on one thread: encode a typical request into a ring, decode it,
 *     encode a small response, decode it. Time and bytes allocated per round trip
 *     (v8 `total_allocated_bytes`).
 *  2. The whole server: the same trivial handler inline and pooled (1 pinned worker, 1 pooled
 *     isolate), over one HTTP/2 connection, at low load (1 request in flight) and at steady load
 *     (32 in flight), from a client in this process; and one request at a time from a plain
 *     node:http2 client in a process of its own (this script, run with --client). Latency
 *     p50/p99, the pooled − inline difference, and the server's CPU time per request: what the
 *     pinned worker's and the pooled isolate's threads used (/proc/self/task/<tid>/schedstat, ns)
 *     over the requests of the run.
 *
 * Run: ./node_modules/.bin/node bench/offload.ts [--quick] [--pool-poll <µs>]
 *      (without --pool-poll, the server's default)
 */

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { codecRoundTrip } from './lib/codec-trip.ts';
import { serve } from '../src/index.ts';

const quick = process.argv.includes('--quick');
const pollAt = process.argv.indexOf('--pool-poll');
const poolPoll = pollAt === -1 ? undefined : Number(process.argv[pollAt + 1]);
const clientAt = process.argv.indexOf('--client');

function codecRoundTrips(count: number): { nsPerTrip: number; bytesPerTrip: number } {
  const trip = codecRoundTrip(1);
  for (let i = 0; i < 20_000; i++) trip(i); // warm up
  const allocatedBefore = v8.getHeapStatistics().total_allocated_bytes;
  const began = performance.now();
  for (let i = 0; i < count; i++) trip(i);
  const elapsed = performance.now() - began;
  const allocated = v8.getHeapStatistics().total_allocated_bytes - allocatedBefore;
  return { nsPerTrip: (elapsed * 1e6) / count, bytesPerTrip: allocated / count };
}

interface Latency {
  p50: number;
  p99: number;
  rps: number;
  /** Server threads' CPU time per request, µs (filled in by the server side). */
  cpu?: number;
}

/** CPU time so far of this process's server threads (pinned workers, pooled isolates), ns. */
function serverThreadsNs(): number {
  let total = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8');
      if (!comm.startsWith('fasterapi-')) continue;
      total += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended while we looked
    }
  }
  return total;
}

/** Runs `run` and adds the server threads' CPU time per request to its result. */
async function withCpu(run: () => Promise<Latency>, requests: number): Promise<Latency> {
  const before = serverThreadsNs();
  const result = await run();
  return { ...result, cpu: (serverThreadsNs() - before) / 1000 / requests };
}

/** Closed loop: `concurrency` requests in flight on one session until `total` are done; µs latencies. */
async function measure(session: http2.ClientHttp2Session, path: string, concurrency: number, total: number): Promise<Latency> {
  const samples = new Float64Array(total);
  let issued = 0;
  let done = 0;
  const began = performance.now();
  await new Promise<void>((resolve, reject) => {
    const issue = (): void => {
      const index = issued++;
      const start = performance.now();
      const stream = session.request({ ':path': path });
      stream.on('error', reject);
      stream.on('data', () => {});
      stream.on('end', () => {
        samples[index] = (performance.now() - start) * 1000;
        done++;
        if (issued < total) issue();
        else if (done === total) resolve();
      });
    };
    for (let i = 0; i < concurrency && issued < total; i++) issue();
  });
  const elapsed = performance.now() - began;
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), rps: (total / elapsed) * 1000 };
}

async function main(): Promise<void> {
  console.log(`# Offload cost — Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores\n`);
  const trips = quick ? 100_000 : 500_000;
  const codec = codecRoundTrips(trips);
  console.log('## Codec + rings, one thread (request in, response out)\n');
  console.log('| round trips | ns per round trip | bytes allocated per round trip |');
  console.log('|---:|---:|---:|');
  console.log(`| ${trips} | ${codec.nsPerTrip.toFixed(0)} | ${codec.bytesPerTrip.toFixed(0)} |\n`);

  const server = await serve(new URL('./offload-app.ts', import.meta.url), {
    host: '127.0.0.1',
    port: 0,
    pinnedWorkers: 1,
    pooledWorkers: 32,
    pooledIsolates: 1,
    ...(poolPoll === undefined ? {} : { poolPoll }),
    logLevel: 'warn',
    handleSignals: false,
  });
  const session = http2.connect(server.url);
  const total = quick ? 4_000 : 20_000;
  const rows: string[] = [];
  try {
    for (const path of ['/inline', '/pooled']) await measure(session, path, 8, 2_000); // warm up
    for (const [label, concurrency] of [['low load (1 in flight)', 1], ['steady load (32 in flight)', 32]] as const) {
      const results: Record<string, Latency> = {};
      // Alternate the two routes over three rounds and keep each one's median round.
      const rounds: Record<string, Latency[]> = { '/inline': [], '/pooled': [] };
      for (let round = 0; round < 3; round++) {
        for (const path of round % 2 === 0 ? ['/inline', '/pooled'] : ['/pooled', '/inline']) {
          rounds[path]!.push(await withCpu(() => measure(session, path, concurrency, total), total));
        }
      }
      for (const path of ['/inline', '/pooled']) {
        const sorted = rounds[path]!.sort((a, b) => a.p50 - b.p50);
        results[path] = sorted[1] as Latency;
      }
      const inline = results['/inline']!;
      const pooled = results['/pooled']!;
      rows.push(row(label, results['/inline']!, results['/pooled']!));
    }
    // A client of its own: one request at a time from another process, as a plain node:http2 user sees it.
    const alone: Record<string, Latency[]> = { '/inline': [], '/pooled': [] };
    for (let round = 0; round < 3; round++) {
      for (const path of round % 2 === 0 ? ['/inline', '/pooled'] : ['/pooled', '/inline']) {
        alone[path]!.push(await withCpu(() => clientProcess(server.url, path, total), total));
      }
    }
    const median = (path: string): Latency => alone[path]!.sort((a, b) => a.p50 - b.p50)[1] as Latency;
    rows.push(row('one at a time, client in another process', median('/inline'), median('/pooled')));
  } finally {
    session.close();
    await server.close();
  }
  const poll = poolPoll === undefined ? 'the default poolPoll' : `poolPoll ${poolPoll} µs`;
  console.log(`## Whole server, trivial handler, one h2c connection (median of 3 alternating rounds, ${poll})\n`);
  console.log('Server CPU: the pinned worker\'s and pooled isolate\'s threads, µs per request.\n');
  console.log('| load | inline p50 / p99 µs | pooled p50 / p99 µs | pooled − inline p50 µs | inline req/s | pooled req/s | pooled ÷ inline req/s | server CPU inline / pooled µs/req |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const line of rows) console.log(line);
}

function row(label: string, inline: Latency, pooled: Latency): string {
  return (
    `| ${label} | ${inline.p50.toFixed(0)} / ${inline.p99.toFixed(0)} | ${pooled.p50.toFixed(0)} / ${pooled.p99.toFixed(0)} | ` +
    `${(pooled.p50 - inline.p50).toFixed(0)} | ${inline.rps.toFixed(0)} | ${pooled.rps.toFixed(0)} | ${(pooled.rps / inline.rps).toFixed(2)} | ` +
    `${inline.cpu?.toFixed(1)} / ${pooled.cpu?.toFixed(1)} |`
  );
}

/** Runs this script as a client in a process of its own: `total` requests to `path`, one at a time. */
function clientProcess(url: string, path: string, total: number): Promise<Latency> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--client', url, path, String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Latency) : reject(new Error(`the client process exited with ${code}`))));
  });
}

if (clientAt !== -1) {
  const [url, path, total] = process.argv.slice(clientAt + 1) as [string, string, string];
  const session = http2.connect(url);
  await measure(session, path, 1, 500); // warm up
  const result = await measure(session, path, 1, Number(total));
  session.close();
  process.stdout.write(JSON.stringify(result));
} else {
  await main();
}
