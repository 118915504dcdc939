/**
 * The soak run (`npm run soak`, not part of CI): ten minutes of mixed traffic — HTTP/1.1 and h2c,
 * inline, pooled and streamed routes, WebSocket echoes — against the real command, with a reload
 * (SIGHUP) and a pinned worker killed in the middle. Every 10 s it reads the process's RSS and
 * each isolate's V8 heap from /metrics and prints them; at the end it fails (exit 1) if either
 * keeps growing after the warm-up (the first fifth): RSS when the median of the last third of
 * the run is above the middle third's by more than 10 % and 8 MiB, a heap when its floor (the
 * lowest sample: a heap read at a random point of its collector's cycle saws up and down, and a
 * leak lifts the floor) is. It also fails if a response did not belong to its request.
 *
 *   node test/soak/soak.ts [--minutes 10]
 */

import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { CliProcess } from '../helpers/cli.ts';
import { startLoad, totalAccounted } from '../helpers/load-client.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
const totalMs = minutes * 60_000;
const SAMPLE_MS = Math.min(10_000, totalMs / 30);
const MIB = 1024 * 1024;

const cli = new CliProcess(['serve', 'test/fixtures/apps/soak.ts', '--port', '0', '--pinned', '2', '--pooled', '2', '--pooled-isolates', '1', '--admin-port', '0']);
const [, portText] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
const [, admin] = await cli.waitForOutput(/Admin: (http:\/\/127\.0\.0\.1:\d+) /);
const port = Number(portText);
const began = performance.now();
const elapsed = (): number => performance.now() - began;

let n = 0;
const paths = ['/hello', '/pooled-work', '/hello', '/stream'];
const load = startLoad({ port, h1Connections: 6, h2Sessions: 2, h2Streams: 4, pauseMs: 1, path: () => paths[n++ % paths.length] as string });

// WebSocket clients that echo a message every 100 ms and reconnect when their socket ends.
let echoes = 0;
let sockets = 0;
let running = true;
function webSocket(): void {
  if (!running) return;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`);
  let timer: NodeJS.Timeout | null = null;
  ws.on('open', () => {
    sockets++;
    timer = setInterval(() => ws.send(`ping ${Date.now()}`), 100);
  });
  ws.on('message', () => void echoes++);
  ws.on('error', () => {});
  ws.on('close', () => {
    if (timer !== null) clearInterval(timer);
    if (running) setTimeout(webSocket, 100);
  });
  openSockets.add(ws);
  ws.once('close', () => openSockets.delete(ws));
}
const openSockets = new Set<WebSocket>();
for (let i = 0; i < 50; i++) webSocket();

interface Sample {
  readonly at: number;
  readonly rss: number;
  readonly heaps: Map<string, number>;
}
const samples: Sample[] = [];
async function sample(): Promise<void> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1]);
  const heaps = new Map<string, number>();
  for (const match of text.matchAll(/^fasterapi_isolate_heap_used_bytes\{kind="(\w+)",index="(\d+)"\} (\S+)$/gm)) heaps.set(`${match[1]} ${match[2]}`, Number(match[3]));
  samples.push({ at: elapsed(), rss, heaps });
  const isolates = [...heaps].map(([name, bytes]) => `${name} ${(bytes / MIB).toFixed(1)}`).join(', ');
  console.log(`${(elapsed() / 1000).toFixed(0).padStart(4)} s  RSS ${(rss / MIB).toFixed(1)} MiB  heap MiB: ${isolates}  requests ${load.counts.sent}, echoes ${echoes}`);
}

let reloaded = false;
let killed = false;
while (elapsed() < totalMs) {
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  await sample();
  if (!reloaded && elapsed() >= totalMs * 0.5) {
    reloaded = true;
    console.log('— SIGHUP: reload');
    cli.kill('SIGHUP');
  }
  if (!killed && elapsed() >= totalMs * 0.6) {
    killed = true;
    console.log('— a pinned worker killed');
    await fetch(`http://127.0.0.1:${port}/kill-pinned`).catch(() => {});
  }
}

running = false;
const counts = await load.stop();
for (const ws of openSockets) ws.terminate();
cli.kill('SIGTERM');
await cli.finished;

console.log(
  `\nrequests: sent ${counts.sent}, accounted ${totalAccounted(counts)}, ${JSON.stringify(counts.byStatus)}, truncated ${counts.truncated}, ` +
    `unanswered ${counts.unanswered}, refused ${counts.refused}, reset ${counts.reset}, timeout ${counts.timeout}, mismatched ${counts.mismatched}; ` +
    `WebSocket echoes ${echoes} on ${sockets} sockets opened`,
);

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const floor = (values: readonly number[]): number => Math.min(...values);

/** Whether a series keeps growing after the warm-up: the last third's `measure` over the middle third's. */
function growing(values: readonly number[], measure: (values: readonly number[]) => number): { grew: boolean; middle: number; last: number } {
  const after = values.slice(Math.floor(values.length / 5));
  const third = Math.floor(after.length / 3);
  const middle = measure(after.slice(third, 2 * third));
  const last = measure(after.slice(2 * third));
  return { grew: last > middle * 1.1 && last - middle > 8 * MIB, middle, last };
}

const verdicts: Array<[string, string, ReturnType<typeof growing>]> = [['RSS', 'median', growing(samples.map((s) => s.rss), median)]];
const names = new Set(samples.flatMap((s) => [...s.heaps.keys()]));
for (const name of names) verdicts.push([`heap of ${name}`, 'floor', growing(samples.map((s) => s.heaps.get(name)).filter((n) => n !== undefined), floor)]);
let failed = counts.mismatched > 0;
for (const [what, how, { grew, middle, last }] of verdicts) {
  console.log(`${what}: ${how} ${(middle / MIB).toFixed(1)} MiB in the middle third of the run, ${(last / MIB).toFixed(1)} MiB in the last: ${grew ? 'GROWING' : 'steady'}`);
  failed ||= grew;
}
if (counts.mismatched > 0) console.log(`${counts.mismatched} responses did not belong to their requests`);
console.log(failed ? '\nsoak: FAILED' : '\nsoak: passed');
process.exit(failed ? 1 : 0);
