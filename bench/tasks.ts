/**
 * Pooled tasks against piscina: `await app.run('spin', us)` from a handler on a pinned worker,
 * and `await pool.run(us)` from the main thread with piscina, for a 1 ms and a 50 µs task, one
 * and several in flight. Both pools get the same number of threads, one task at a time each
 * (FasterAPI: `pooledWorkers` = `pooledIsolates` = threads; piscina: min = max = threads, one
 * concurrent task per thread), and the same closed loop (bench/lib/closed-loop.ts) in the thread
 * that asks. The contenders alternate over the rounds and each keeps its median round.
 *
 * Reported: tasks per second (× piscina), latency p50/p99 of one call, and the CPU time of the
 * whole process per task (every thread: the caller, the pool, GC), from process.cpuUsage().
 *
 * Run: npm run bench:tasks [-- --quick] [-- --threads N]   (results: bench/results/tasks.md)
 */

import { writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { serve } from '../src/index.ts';
import type { LoopResult } from './lib/closed-loop.ts';
import { closedLoop } from './lib/closed-loop.ts';
import { spread } from './lib/stats.ts';

const quick = process.argv.includes('--quick');
const threadsAt = process.argv.indexOf('--threads');
const threads = threadsAt === -1 ? Math.max(1, os.availableParallelism() - 1) : Number(process.argv[threadsAt + 1]);
const ROUNDS = quick ? 1 : 3;
const TASKS = [
  { label: '1 ms', us: 1000, total: quick ? 500 : 2_000 },
  { label: '50 µs', us: 50, total: quick ? 4_000 : 20_000 },
];
const IN_FLIGHT = [1, 8 * threads];

interface Measured extends LoopResult {
  /** CPU µs per task, all threads of the process. */
  readonly cpu: number;
}

async function withCpu(loop: () => Promise<LoopResult>, total: number): Promise<Measured> {
  const before = process.cpuUsage();
  const result = await loop();
  const used = process.cpuUsage(before);
  return { ...result, cpu: (used.user + used.system) / total };
}

function get(url: string): Promise<LoopResult> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as LoopResult) : reject(new Error(`${res.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

const server = await serve(new URL('./tasks-app.ts', import.meta.url), {
  host: '127.0.0.1',
  port: 0,
  pinnedWorkers: 1,
  pooledWorkers: threads,
  pooledIsolates: threads,
  logLevel: 'warn',
  handleSignals: false,
});
/** What this benchmark uses of piscina (bench/node_modules, installed by `npm run bench:tasks`). */
interface PiscinaPool {
  run(task: number): Promise<number>;
  destroy(): Promise<void>;
}
// Imported by a computed name: piscina is the benchmark's dependency, not the project's, so the
// project's type check (which reads this file) must not need it installed.
const { Piscina } = (await import(['pis', 'cina'].join(''))) as { Piscina: new (options: object) => PiscinaPool };
const pool = new Piscina({
  filename: fileURLToPath(new URL('./contenders/piscina-spin.ts', import.meta.url)),
  minThreads: threads,
  maxThreads: threads,
  concurrentTasksPerWorker: 1,
});

const contenders = {
  fasterapi: (us: number, total: number, inFlight: number) => withCpu(() => get(`${server.url}/loop?us=${us}&total=${total}&concurrency=${inFlight}`), total),
  piscina: (us: number, total: number, inFlight: number) => withCpu(() => closedLoop(() => pool.run(us), total, inFlight), total),
};
type Name = keyof typeof contenders;

const lines: string[] = [];
const print = (line = ''): void => {
  console.log(line);
  lines.push(line);
};

try {
  // Warm up both: every thread loaded, the JIT done with the loop and the codec.
  for (const run of Object.values(contenders)) await run(50, 4_000, 8 * threads);
  print(`# Pooled tasks: FasterAPI app.run() vs piscina run()\n`);
  print(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores; ${threads} pool thread(s) each; ${ROUNDS} alternating round(s), median round shown (min–max tasks/s).\n`);
  print('| task | in flight | pool | tasks/s | × piscina | p50 µs | p99 µs | CPU µs/task |');
  print('|---|---:|---|---:|---:|---:|---:|---:|');
  for (const task of TASKS) {
    for (const inFlight of IN_FLIGHT) {
      const rounds: Record<Name, Measured[]> = { fasterapi: [], piscina: [] };
      for (let round = 0; round < ROUNDS; round++) {
        const order: Name[] = round % 2 === 0 ? ['fasterapi', 'piscina'] : ['piscina', 'fasterapi'];
        for (const name of order) rounds[name].push(await contenders[name](task.us, task.total, inFlight));
      }
      const median = (name: Name): Measured => {
        const sorted = [...rounds[name]].sort((a, b) => a.perSecond - b.perSecond);
        return sorted[sorted.length >> 1] as Measured;
      };
      const base = median('piscina');
      for (const name of ['fasterapi', 'piscina'] as const) {
        const m = median(name);
        const range = spread(rounds[name].map((r) => r.perSecond));
        const failed = rounds[name].reduce((sum, r) => sum + r.failed, 0);
        print(
          `| ${task.label} | ${inFlight} | ${name} | ${Math.round(m.perSecond).toLocaleString('en')} (${Math.round(range.min).toLocaleString('en')}–${Math.round(range.max).toLocaleString('en')})${failed > 0 ? ` ⚠ ${failed} failed` : ''} | ${(m.perSecond / base.perSecond).toFixed(2)}× | ${m.p50.toFixed(0)} | ${m.p99.toFixed(0)} | ${m.cpu.toFixed(1)} |`,
        );
      }
    }
  }
} finally {
  await server.close();
  await pool.destroy();
}

if (!quick) writeFileSync(new URL('./results/tasks.md', import.meta.url), `${lines.join('\n')}\n`);
