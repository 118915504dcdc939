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
import { quantile, spread } from './lib/stats.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
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

function summary(samples: number[], messages: number, seconds: number, reach?: number): ClientResult {
  const sorted = Float64Array.from(samples).sort();
  return { messages, seconds, p50Us: quantile(sorted, 0.5), p99Us: quantile(sorted, 0.99), ...(reach === undefined ? {} : { reach }) };
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

type Kind = 'echo1' | 'echo100' | 'fanout';

async function main(): Promise<void> {
  const quick = flags.quick === true;
  const ms = quick ? 1_500 : 4_000;
  const rounds = Number(flags.rounds ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a whole number of at least 1');
  const workers = Math.max(2, os.availableParallelism());
  const contenders: ContenderSpec[] = [
    { name: `FasterAPI, ${workers} pinned`, script: 'contenders/fasterapi.ts', args: ['--workers', String(workers)], note: 'topics reach every isolate' },
    { name: 'FasterAPI, 1 pinned', script: 'contenders/fasterapi.ts', args: ['--workers', '1'], note: '' },
    { name: 'ws, 1 process', script: 'contenders/ws-node.ts', args: [], note: 'baseline' },
    { name: `ws + cluster (${workers})`, script: 'contenders/ws-cluster.ts', args: ['--workers', String(workers)], note: 'no broker: a publish reaches only its own process' },
  ];
  // Every contender measured `rounds` times, in alternating order (A B C D, D C B A, ...), each
  // round on a fresh server, so a slow spell of this shared machine does not fall on one of them.
  const runs = new Map<ContenderSpec, Record<Kind, Measured[]>>(contenders.map((c) => [c, { echo1: [], echo100: [], fanout: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const spec of round % 2 === 0 ? contenders : [...contenders].reverse()) {
      process.stderr.write(`round ${round + 1}/${rounds}: ${spec.name}…\n`);
      const server = await start(new URL(spec.script, import.meta.url).pathname, spec.args);
      const into = runs.get(spec)!;
      try {
        into.echo1.push(await measure(server, 'echo', 1, ms));
        into.echo100.push(await measure(server, 'echo', 100, ms));
        into.fanout.push(await measure(server, 'fanout', SUBSCRIBERS, ms));
      } finally {
        await server.stop();
      }
    }
  }
  const rate = (m: Measured): number => m.messages / m.seconds;
  const median = (list: readonly Measured[], pick: (m: Measured) => number): number => spread(list.map(pick)).median;
  const base = runs.get(contenders[2]!)!;
  const num = (n: number): string => Math.round(n).toLocaleString('en-US');
  const us = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`);
  /** Median rate (min–max) and its ratio to the baseline's median. */
  const rateCell = (list: readonly Measured[], baseline: readonly Measured[]): string => {
    const s = spread(list.map(rate));
    const range = rounds > 1 ? ` (${num(s.min)}–${num(s.max)})` : '';
    return `${num(s.median)}${range} | ${(s.median / spread(baseline.map(rate)).median).toFixed(2)}×`;
  };
  const latency = (list: readonly Measured[]): string => `${us(median(list, (m) => m.p50Us))} / ${us(median(list, (m) => m.p99Us))}`;
  console.log(`# WebSocket benchmark — Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores`);
  console.log(
    `\nOne load process on the same machine (bench/ws.ts --client); each figure the median of ${rounds} round${rounds > 1 ? 's (min–max in brackets), contenders in alternating order' : ''}, ` +
      `${ms / 1000} s measured after ${ms / 4000} s of warm-up; ${MESSAGE_BYTES}-byte text messages. CPU is the server's process tree over the window (clock ticks of ${CPU_TICK_US / 1000} ms), per message.\n`,
  );
  for (const [kind, title] of [['echo1', '1 connection'], ['echo100', '100 connections']] as const) {
    console.log(`## Echo, ${title} (closed loop)\n`);
    console.log('| server | msg/s | × ws | round trip p50 / p99 | server CPU µs/msg |');
    console.log('|---|---:|---:|---:|---:|');
    for (const spec of contenders) {
      const list = runs.get(spec)![kind];
      console.log(`| ${spec.name} | ${rateCell(list, base[kind])} | ${latency(list)} | ${median(list, (m) => m.cpuUs).toFixed(1)} |`);
    }
    console.log('');
  }
  console.log(`## Fan-out: ${SUBSCRIBERS.toLocaleString('en-US')} subscribers, one publisher, ${FANOUT_WINDOW} publishes in flight\n`);
  console.log('| server | deliveries/s | × ws | send → delivery p50 / p99 | reach | server CPU µs/delivery | note |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const spec of contenders) {
    const list = runs.get(spec)!.fanout;
    console.log(`| ${spec.name} | ${rateCell(list, base.fanout)} | ${latency(list)} | ${(median(list, (m) => m.reach ?? 0) * 100).toFixed(0)} % | ${median(list, (m) => m.cpuUs).toFixed(2)} | ${spec.note} |`);
  }
}

if (flags.client !== undefined) await client(flags.client, flags.url as string, Number(flags.connections), Number(flags.ms));
else await main();
