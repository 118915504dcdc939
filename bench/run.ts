/**
 * The benchmark suite: every scenario against every contender, in one run, on this machine.
 *
 *   npm run bench                 full run (about 15–20 minutes on 2 cores)
 *   npm run bench -- --quick      1 s runs without warm-up, main scenarios, fewer contenders,
 *                                 and the offload section in its quick form (about 4 minutes;
 *                                 validation is `npm run bench:validation`)
 *   npm run bench -- --only cpu,isolation,validation
 *
 * Scenarios (ids for --only): hello-h2c, hello-h2-tls, hello-h1, json-h2c, json-h1, cpu,
 * isolation, connections-h1, connections-h2c, scaling, websocket, offload, validation. hello-h2-tls is
 * HTTP/2 over TLS with ALPN h2, as browsers speak it, on a self-signed certificate made for the
 * run with openssl (or the tests' fixture without it).
 *
 * Each scenario starts each of its contenders as a fresh process on 127.0.0.1 (with as many
 * workers as there are cores where the contender can use workers), then measures them in
 * `rounds` rounds, in alternating order (A B C, C B A, A B C), each measurement after its own
 * warm-up. Tables give the median with min and max; ratios are to the single-event-loop server
 * of the same protocol, from this run. Beside req/s, "server CPU µs/req" is the user + system
 * CPU time of the contender's whole process tree (threads and cluster workers included) during
 * the measured duration, over the 2xx answers in it: what a request costs the server, which
 * holds when throughput is bounded by the load tool sharing the cores (the load tool's own CPU
 * is not in it). /proc counts it in clock ticks (10 ms where CLK_TCK is 100). The isolation
 * scenario has no such figure (two loads at once). Results go to bench/results/.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Contender } from './lib/contenders.ts';
import { missingTools, toolVersions } from './lib/load.ts';
import { benchCertificate } from './lib/cert.ts';
import { cpuPerRequest, CPU_TICK_US, start, type Running } from './lib/proc.ts';
import { cpuUs, goals, goalsTable, medianOf, scenarioTable, type ScenarioResults } from './lib/report.ts';
import { scalingSeries, scenarios, type BenchCertificate, type Budget, type Measurement } from './lib/scenarios.ts';
import { lineChart, logBarChart } from './lib/svg.ts';

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } },
});
const quick = flags.quick === true;
const only = flags.only === undefined ? null : new Set(flags.only.split(','));
const outDir = flags.out ?? fileURLToPath(new URL('./results/', import.meta.url));
const workers = os.availableParallelism();

const budget: Budget = quick
  ? { quick, durationS: 1, warmupS: 0, rounds: 3, h1Connections: 1_000, h2Connections: 200 }
  : { quick, durationS: 5, warmupS: 1, rounds: 3, h1Connections: 10_000, h2Connections: 1_000 };

/** Quick mode keeps the scenarios the goals are about, with fewer contenders. */
const QUICK_SCENARIOS = new Set(['hello-h2c', 'hello-h2-tls', 'hello-h1', 'cpu', 'isolation', 'connections-h1', 'connections-h2c']);
const QUICK_CONTENDERS = new Set(['fasterapi', 'fasterapi-1', 'fasterapi-pool', 'node-http2', 'node-http', 'fastify-cluster', 'fastify-piscina']);

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function startAll(list: readonly Contender[]): Promise<Map<string, Running | Error>> {
  const running = new Map<string, Running | Error>();
  for (const contender of list) {
    try {
      running.set(contender.id, await start(contender.script, ['--port', '0', ...contender.args], contender.env));
    } catch (error) {
      log(`  ${contender.label} did not start: ${(error as Error).message.split('\n')[0]}`);
      running.set(contender.id, error as Error);
    }
  }
  return running;
}

/**
 * Measures every started contender `rounds` times in alternating order. The server's CPU time is
 * read when `measure` says its measured duration begins and again when it returns.
 */
async function measureRounds(
  list: readonly Contender[],
  running: Map<string, Running | Error>,
  measure: (port: number, onMeasuring: () => void) => Promise<Omit<Measurement, 'rss' | 'cpuUs' | 'cpuUsPerRequest'>>,
): Promise<ScenarioResults> {
  const results: ScenarioResults = new Map();
  for (const contender of list) {
    const proc = running.get(contender.id);
    results.set(contender.id, proc instanceof Error ? { contender, runs: [], failure: proc.message } : { contender, runs: [] });
  }
  for (let round = 0; round < budget.rounds; round++) {
    const order = round % 2 === 0 ? list : [...list].reverse();
    for (const contender of order) {
      const proc = running.get(contender.id);
      if (proc === undefined || proc instanceof Error) continue;
      proc.resetPeak();
      const cpu = { before: Number.NaN };
      try {
        const result = await measure(proc.port, () => (cpu.before = proc.cpuTimeUs()));
        const cpuUs = proc.cpuTimeUs() - cpu.before;
        const cpuUsPerRequest = cpuPerRequest(cpuUs, result.answered);
        results.get(contender.id)!.runs.push({ ...result, rss: proc.peakRss(), cpuUs, cpuUsPerRequest });
        const cpuNote = Number.isFinite(cpuUsPerRequest) ? `, ${cpuUsPerRequest.toFixed(1)} µs CPU/req` : '';
        log(`  round ${round + 1}: ${contender.label}: ${Math.round(result.rps).toLocaleString('en')} req/s${cpuNote}, ${result.errors} errors`);
      } catch (error) {
        log(`  round ${round + 1}: ${contender.label}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  return results;
}

async function stopAll(running: Map<string, Running | Error>): Promise<void> {
  for (const proc of running.values()) if (!(proc instanceof Error)) await proc.stop();
}

/** Runs one of the single-process benchmarks (offload.ts, ws.ts, validation.ts) and returns its Markdown. */
function runScript(name: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(`./${name}`, import.meta.url)), ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('close', () => resolve(out.replace(/^# .*\n/m, '').trim()));
  });
}

async function main(): Promise<void> {
  const missing = missingTools();
  if (missing !== null) {
    log(`bench: ${missing}`);
    process.exit(1);
  }
  const began = Date.now();
  const machine =
    `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${workers} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; ` +
    `Node.js ${process.version}; ${toolVersions()}`;
  log(`FasterAPI benchmark suite (${quick ? 'quick' : 'full'}): ${machine}`);

  const certificate = benchCertificate();
  try {
    await runAll(machine, began, certificate);
  } finally {
    certificate.remove();
  }
}

async function runAll(machine: string, began: number, certificate: BenchCertificate): Promise<void> {
  const all = new Map<string, ScenarioResults>();
  const sections: string[] = [];
  for (const scenario of scenarios(workers, budget, certificate)) {
    if (only !== null ? !only.has(scenario.id) : quick && !QUICK_SCENARIOS.has(scenario.id)) continue;
    const list = quick ? scenario.contenders.filter((c) => QUICK_CONTENDERS.has(c.id)) : scenario.contenders;
    log(`\n${scenario.title} — ${scenario.load}`);
    const running = await startAll(list);
    try {
      const results = await measureRounds(list, running, (port, onMeasuring) => scenario.measure(port, onMeasuring));
      all.set(scenario.id, results);
      sections.push(scenarioTable(scenario, results));
    } finally {
      await stopAll(running);
    }
  }

  let scalingSvg: string | null = null;
  /** Scaling series, as multiples of the 1-worker throughput. */
  const scaling: Array<{ label: string; points: Array<{ x: number; y: number }> }> = [];
  if (only === null || only.has('scaling')) {
    const lines = scaling;
    const table = [
      '### Scaling',
      '',
      'FasterAPI alone, same loads as the hello (h2c) and /cpu scenarios.',
      '',
      '| series | workers | req/s median (min–max) | server CPU µs/req |',
      '|---|---:|---:|---:|',
    ];
    for (const series of scalingSeries(workers, budget)) {
      if (quick && series.id === 'hello-pinned') continue;
      log(`\nScaling: ${series.title}`);
      const list = series.points.map((p) => p.contender);
      const running = await startAll(list);
      try {
        const results = await measureRounds(list, running, (port, onMeasuring) => series.measure(port, onMeasuring));
        const one = medianOf(results.get(series.points[0]!.contender.id)?.runs ?? [], (m) => m.rps);
        const points = series.points.map(({ n, contender }) => {
          const runs = results.get(contender.id)?.runs ?? [];
          const rps = runs.map((m) => m.rps);
          table.push(
            `| ${series.title} | ${n} | ${Math.round(medianOf(runs, (m) => m.rps)).toLocaleString('en')} (${Math.round(Math.min(...rps)).toLocaleString('en')}–${Math.round(Math.max(...rps)).toLocaleString('en')}) | ` +
              `${cpuUs(medianOf(runs, (m) => m.cpuUsPerRequest))} |`,
          );
          // Plotted as a multiple of the 1-worker figure, so series of any size compare.
          return { x: n, y: medianOf(runs, (m) => m.rps) / one };
        });
        lines.push({ label: series.title, points });
      } finally {
        await stopAll(running);
      }
    }
    sections.push(table.join('\n'));
    scalingSvg = lineChart(
      `FasterAPI scaling on ${workers} cores (${os.cpus()[0]?.model ?? ''}), load tool on the same cores`,
      'workers (isolates)',
      '× req/s of 1 worker',
      lines,
      (x) => x,
    );
  }

  if (only === null || only.has('websocket')) {
    log('\nWebSockets (bench/ws.ts)');
    const ws = await runScript('ws.ts');
    sections.push(`### WebSockets: echo and fan-out against ws\n\n${ws.replace(/^## /gm, '#### ')}`);
  }
  // The offload section runs in quick mode too (its own --quick); validation is left to `npm run bench:validation`.
  if (only === null || only.has('offload')) {
    log('\nOffload cost (bench/offload.ts)');
    const offload = await runScript('offload.ts');
    sections.push(`### Offload cost: the same trivial handler inline and pooled\n\n${offload.replace(/^## /gm, '#### ')}`);
  }
  if (only !== null ? only.has('validation') : !quick) {
    log('\nValidation cost (bench/validation.ts)');
    const validation = await runScript('validation.ts');
    sections.push(`### Validation cost: the same POST with and without a body schema\n\n${validation.replace(/^## /gm, '#### ')}`);
  }

  let isolationSvg: string | null = null;
  const isolation = all.get('isolation');
  if (isolation !== undefined) {
    isolationSvg = logBarChart(
      'Light-route p99 latency, alone and while /cpu is flooded (lower is better)',
      'ms',
      ['alone', '/cpu flooded'],
      [...isolation.values()]
        .filter((entry) => entry.failure === undefined && entry.runs.length > 0)
        .map(({ contender, runs }) => ({
          label: contender.label,
          values: [medianOf(runs, (m) => m.unloadedP99) / 1000, medianOf(runs, (m) => m.p99) / 1000],
        })),
    );
  }

  const minutes = ((Date.now() - began) / 60_000).toFixed(1);
  const report = [
    `## Benchmark results (${quick ? 'quick' : 'full'} run, ${new Date().toISOString().slice(0, 10)})`,
    '',
    `Machine: ${machine}. The load tools run on the same machine and share its cores. Each figure is ` +
      `the median of ${budget.rounds} rounds (min–max in brackets), ${budget.durationS} s each after a ${budget.warmupS} s warm-up, ` +
      `contenders in alternating order; whole run ${minutes} min. Produced by \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.ts).`,
    '',
    `Server CPU µs/req: user + system CPU time of the server's whole process tree (its threads and ` +
      `worker processes) during the measured ${budget.durationS} s, over the 2xx answers in it; the load tool's CPU is not in it. ` +
      `It is what a request costs the server even where the load tool, sharing the cores, bounds req/s. ` +
      `/proc counts CPU time in clock ticks of ${CPU_TICK_US / 1000} ms: one tick over 30,000 requests is ` +
      `${(CPU_TICK_US / 30_000).toFixed(2)} µs/req, so a short run's figure is good to a few tenths of a µs per process.`,
    '',
    '### Goals',
    '',
    goalsTable(goals(all, workers)),
    '',
    ...sections.flatMap((section) => [section, '']),
  ].join('\n');

  mkdirSync(outDir, { recursive: true });
  const name = quick ? 'quick' : 'latest';
  writeFileSync(`${outDir}/${name}.md`, report);
  writeFileSync(
    `${outDir}/${name}.json`,
    JSON.stringify(
      {
        machine,
        budget,
        workers,
        cpuTickUs: CPU_TICK_US,
        date: new Date().toISOString(),
        results: Object.fromEntries([...all].map(([id, r]) => [id, Object.fromEntries(r)])),
        scaling,
      },
      null,
      1,
    ),
  );
  if (scalingSvg !== null) writeFileSync(`${outDir}/${name}-scaling.svg`, scalingSvg);
  if (isolationSvg !== null) writeFileSync(`${outDir}/${name}-isolation.svg`, isolationSvg);
  process.stdout.write(`${report}\n`);
  log(`\nWritten to ${outDir} (${name}.md, ${name}.json${scalingSvg !== null ? `, ${name}-scaling.svg` : ''}${isolationSvg !== null ? `, ${name}-isolation.svg` : ''}) in ${minutes} min.`);
}

await main();
