/**
 * WebSocket benchmark, side by side in one run: FasterAPI (2 and 1 pinned workers) against the
 * `ws` library on one Node.js process and `ws` under `node:cluster` (2 processes).
 *
 *   echo      C connections (1, then 100), each sending a 64-byte text message and waiting for
 *             its echo, in a closed loop: messages per second, p50/p99 round trip.
 *   fan-out   1,000 subscribers on /room, spread over the server's workers by the kernel (or the
 *             cluster primary); one publisher on /publish sends 64-byte messages, at most 8
 *             waiting to be delivered: deliveries per second, p50/p99 from send to delivery, and
 *             the reach — what share of the subscribers a publish got to. `ws` under cluster has no
 *             way to reach another process's subscribers without a broker: its reach is what the
 *             publisher's own process holds.
 *
 * Server CPU per message: the user + system time of the server's process tree during the
 * measured window (bench/lib/proc.ts), over the echoes or deliveries in it. The load is one Node.js
 * process on the same machine (`node bench/ws.ts --client ...`), which takes a core of its own.
 *
 * Run: ./node_modules/.bin/node bench/ws.ts [--quick]
 */

import { spawn } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { CPU_TICK_US, start, type Running } from './lib/proc.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    client: { type: 'string' },
    url: { type: 'string' },
    connections: { type: 'string', default: '1' },
    ms: { type: 'string', default: '3000' },
  },
});

const MESSAGE_BYTES = 64;
const SUBSCRIBERS = 1_000;
const FANOUT_WINDOW = 8;

interface ClientResult {
  readonly messages: number;
  readonly seconds: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Fan-out: deliveries per publish over the subscribers (1 = all of them). */
  readonly reach?: number;
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}

function summary(samples: number[], messages: number, seconds: number, reach?: number): ClientResult {
  const sorted = Float64Array.from(samples).sort();
  return { messages, seconds, p50Us: percentile(sorted, 0.5), p99Us: percentile(sorted, 0.99), ...(reach === undefined ? {} : { reach }) };
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function connectMany(url: string, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 100) sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => connect(url)))));
  return sockets;
}

function payload(stamp: string): string {
  return stamp.padEnd(MESSAGE_BYTES, '.');
}

/** The load, in a process of its own: prints MEASURING when the window starts and RESULT <json> at its end. */
async function client(kind: string, url: string, connections: number, ms: number): Promise<void> {
  if (kind === 'echo') {
    const sockets = await connectMany(`${url}/echo`, connections);
    const samples: number[] = [];
    let messages = 0;
    let measuring = false;
    const began = performance.now();
    let windowStart = 0;
    await new Promise<void>((resolve) => {
      let open = sockets.length;
      for (const ws of sockets) {
        let sent = 0;
        const send = (): void => {
          sent = performance.now();
          ws.send(payload(String(sent)));
        };
        ws.on('message', () => {
          const now = performance.now();
          if (!measuring && now - began > ms / 4) {
            measuring = true;
            windowStart = now;
            process.stdout.write('MEASURING\n');
          }
          if (measuring) {
            messages++;
            samples.push((now - sent) * 1000);
          }
          if (now - began > ms + ms / 4) {
            if (--open === 0) resolve();
            return;
          }
          send();
        });
        send();
      }
    });
    const seconds = (performance.now() - windowStart) / 1000;
    process.stdout.write(`RESULT ${JSON.stringify(summary(samples, messages, seconds))}\n`);
    for (const ws of sockets) ws.terminate();
    return;
  }

  // Fan-out.
  const subscribers = await connectMany(`${url}/room`, connections);
  const publisher = await connect(`${url}/publish`);
  const delivered = new Map<number, number>();
  const samples: number[] = [];
  let deliveries = 0;
  let measuring = false;
  const onDelivery = (data: Buffer): void => {
    const text = data.toString();
    const colon = text.indexOf(':');
    const id = Number(text.slice(0, colon));
    const sentAt = Number.parseFloat(text.slice(colon + 1));
    delivered.set(id, (delivered.get(id) ?? 0) + 1);
    if (measuring) {
      deliveries++;
      samples.push((performance.now() - sentAt) * 1000);
    }
    wake();
  };
  let wake: () => void = () => {};
  for (const ws of subscribers) ws.on('message', onDelivery);
  // A probe: how many subscribers one publish reaches (all of them, or one process's share).
  publisher.send(payload(`0:${performance.now()}`));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const reachCount = delivered.get(0) ?? 0;
  if (reachCount === 0) throw new Error('a publish reached no subscriber');
  let next = 1;
  let oldest = 1;
  const began = performance.now();
  let windowStart = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      // A message is done once it has reached as many subscribers as the probe did.
      while (oldest < next && (delivered.get(oldest) ?? 0) >= reachCount) delivered.delete(oldest++);
      const now = performance.now();
      if (!measuring && now - began > ms / 4) {
        measuring = true;
        windowStart = now;
        process.stdout.write('MEASURING\n');
      }
      if (now - began > ms + ms / 4) {
        wake = () => {};
        resolve();
        return;
      }
      while (next - oldest < FANOUT_WINDOW) publisher.send(payload(`${next++}:${performance.now()}`));
    };
    wake = pump;
    pump();
  });
  const seconds = (performance.now() - windowStart) / 1000;
  process.stdout.write(`RESULT ${JSON.stringify(summary(samples, deliveries, seconds, reachCount / connections))}\n`);
  for (const ws of [...subscribers, publisher]) ws.terminate();
}

interface Measured extends ClientResult {
  /** Server CPU per message, µs. */
  readonly cpuUs: number;
}

/** Runs the load process against `server` and reads the server's CPU around the measured window. */
function measure(server: Running, kind: 'echo' | 'fanout', connections: number, ms: number): Promise<Measured> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--client', kind, '--url', `ws://127.0.0.1:${server.port}`, '--connections', String(connections), '--ms', String(ms)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    let cpuAtStart = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line === 'MEASURING') cpuAtStart = server.cpuTimeUs();
        else if (line.startsWith('RESULT ')) {
          const cpu = server.cpuTimeUs() - cpuAtStart;
          const result = JSON.parse(line.slice(7)) as ClientResult;
          resolve({ ...result, cpuUs: result.messages === 0 ? Number.NaN : cpu / result.messages });
        }
      }
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the ${kind} load exited with ${code}`));
    });
  });
}

interface ContenderSpec {
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly note: string;
}

async function main(): Promise<void> {
  const quick = flags.quick === true;
  const ms = quick ? 1_500 : 4_000;
  const workers = Math.max(2, os.availableParallelism());
  const contenders: ContenderSpec[] = [
    { name: `FasterAPI, ${workers} pinned`, script: 'contenders/fasterapi.ts', args: ['--workers', String(workers)], note: 'topics reach every isolate' },
    { name: 'FasterAPI, 1 pinned', script: 'contenders/fasterapi.ts', args: ['--workers', '1'], note: '' },
    { name: 'ws, 1 process', script: 'contenders/ws-node.ts', args: [], note: 'baseline' },
    { name: `ws + cluster (${workers})`, script: 'contenders/ws-cluster.ts', args: ['--workers', String(workers)], note: 'no broker: a publish reaches only its own process' },
  ];
  const rows: Array<{ spec: ContenderSpec; echo1: Measured; echo100: Measured; fanout: Measured }> = [];
  for (const spec of contenders) {
    process.stderr.write(`${spec.name}…\n`);
    const server = await start(new URL(spec.script, import.meta.url).pathname, spec.args);
    try {
      const echo1 = await measure(server, 'echo', 1, ms);
      const echo100 = await measure(server, 'echo', 100, ms);
      const fanout = await measure(server, 'fanout', SUBSCRIBERS, ms);
      rows.push({ spec, echo1, echo100, fanout });
    } finally {
      await server.stop();
    }
  }
  const base = rows.find((r) => r.spec.script === 'contenders/ws-node.ts');
  const rate = (m: Measured): number => m.messages / m.seconds;
  const ratio = (m: Measured, b: Measured | undefined): string => (b === undefined ? '' : ` (${(rate(m) / rate(b)).toFixed(2)}×)`);
  const num = (n: number): string => Math.round(n).toLocaleString('en-US');
  const us = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);
  console.log(`# WebSocket benchmark — Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores`);
  console.log(`\nOne load process on the same machine (bench/ws.ts --client); ${ms / 1000} s measured after ${ms / 4000} s of warm-up; ${MESSAGE_BYTES}-byte text messages. CPU is the server's process tree over the window (clock ticks of ${CPU_TICK_US / 1000} ms).\n`);
  console.log('## Echo (closed loop)\n');
  console.log('| server | 1 connection: msg/s (× ws) | p50 / p99 | CPU µs/msg | 100 connections: msg/s (× ws) | p50 / p99 | CPU µs/msg |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const { spec, echo1, echo100 } of rows) {
    console.log(`| ${spec.name} | ${num(rate(echo1))}${ratio(echo1, base?.echo1)} | ${us(echo1.p50Us)} / ${us(echo1.p99Us)} | ${echo1.cpuUs.toFixed(1)} | ${num(rate(echo100))}${ratio(echo100, base?.echo100)} | ${us(echo100.p50Us)} / ${us(echo100.p99Us)} | ${echo100.cpuUs.toFixed(1)} |`);
  }
  console.log(`\n## Fan-out: ${SUBSCRIBERS.toLocaleString('en-US')} subscribers, one publisher, ${FANOUT_WINDOW} publishes in flight\n`);
  console.log('| server | deliveries/s (× ws) | send → delivery p50 / p99 | reach | CPU µs/delivery | note |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const { spec, fanout } of rows) {
    console.log(`| ${spec.name} | ${num(rate(fanout))}${ratio(fanout, base?.fanout)} | ${us(fanout.p50Us)} / ${us(fanout.p99Us)} | ${((fanout.reach ?? 0) * 100).toFixed(0)} % | ${fanout.cpuUs.toFixed(2)} | ${spec.note} |`);
  }
}

if (flags.client !== undefined) await client(flags.client, flags.url as string, Number(flags.connections), Number(flags.ms));
else await main();
