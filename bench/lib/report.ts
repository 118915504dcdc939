/** Markdown tables and the goal check, from the measurements of one run. */

import type { Contender } from './contenders.ts';
import type { Measurement, Scenario } from './scenarios.ts';
import { spread, type Spread } from './stats.ts';

export type ScenarioResults = Map<string, { readonly contender: Contender; readonly runs: Measurement[]; readonly failure?: string }>;

const ms = (us: number): string => (Number.isFinite(us) ? (us / 1000).toFixed(us < 10_000 ? 2 : 1) : '–');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');
/** CPU µs per request: one decimal below 100 µs, where the tick resolution allows it, else whole µs. */
export const cpuUs = (us: number): string => (Number.isFinite(us) ? (us < 100 ? us.toFixed(1) : int(us)) : '–');
const range = (s: Spread, format: (n: number) => string): string =>
  Number.isFinite(s.median) ? `${format(s.median)} (${format(s.min)}–${format(s.max)})` : '–';

export function medianOf(runs: readonly Measurement[], pick: (m: Measurement) => number | undefined): number {
  return spread(runs.map((m) => pick(m) ?? Number.NaN)).median;
}

export function scenarioTable(scenario: Scenario, results: ScenarioResults): string {
  const baseline = results.get(scenario.baseline);
  const baseRps = baseline === undefined ? Number.NaN : medianOf(baseline.runs, (m) => m.rps);
  const lines: string[] = [`### ${scenario.title}`, '', `Load: ${scenario.load}. Baseline: ${baseline?.contender.label ?? scenario.baseline}.`, ''];
  if (scenario.kind === 'isolation') {
    lines.push(
      '| contender | light p50 / p99 alone, ms | light p50 / p99 with /cpu flooded, ms | p99 flooded ÷ alone | /cpu req/s during flood | errors | peak RSS MiB |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
  } else {
    lines.push(
      '| contender | req/s median (min–max) | × baseline | server CPU µs/req | p50 ms | p99 ms | errors | peak RSS MiB |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
    );
  }
  for (const { contender, runs, failure } of results.values()) {
    if (failure !== undefined) {
      lines.push(`| ${contender.label} | failed: ${failure.split('\n')[0]} |`);
      continue;
    }
    const errors = runs.reduce((sum, m) => sum + (Number.isFinite(m.errors) ? m.errors : 0), 0);
    const rss = medianOf(runs, (m) => m.rss);
    // The isolation table has no CPU column: see the isolation scenario's measure().
    if (scenario.kind === 'isolation') {
      const aloneP99 = medianOf(runs, (m) => m.unloadedP99);
      const loadedP99 = medianOf(runs, (m) => m.p99);
      lines.push(
        `| ${contender.label} | ${ms(medianOf(runs, (m) => m.unloadedP50))} / ${ms(aloneP99)} | ${ms(medianOf(runs, (m) => m.p50))} / ${ms(loadedP99)} | ` +
          `${(loadedP99 / aloneP99).toFixed(1)}× | ${int(medianOf(runs, (m) => m.floodRps))} | ${errors} | ${int(rss)} |`,
      );
    } else {
      const rps = spread(runs.map((m) => m.rps));
      lines.push(
        `| ${contender.label} | ${range(rps, int)} | ${(rps.median / baseRps).toFixed(2)} | ${cpuUs(medianOf(runs, (m) => m.cpuUsPerRequest))} | ` +
          `${ms(medianOf(runs, (m) => m.p50))} | ${ms(medianOf(runs, (m) => m.p99))} | ${errors} | ${int(rss)} |`,
      );
    }
  }
  return lines.join('\n');
}

export interface Goal {
  readonly text: string;
  readonly figure: string;
  readonly met: boolean | null;
}

/** The goals of the benchmark issue, checked against this run's medians. */
export function goals(all: ReadonlyMap<string, ScenarioResults>, workers: number): Goal[] {
  const rps = (scenario: string, id: string): number => {
    const entry = all.get(scenario)?.get(id);
    return entry === undefined || entry.failure !== undefined ? Number.NaN : medianOf(entry.runs, (m) => m.rps);
  };
  const ratioGoal = (text: string, value: number, target: number): Goal => ({
    text,
    figure: Number.isFinite(value) ? `${value.toFixed(2)}×` : 'not measured',
    met: Number.isFinite(value) ? value >= target : null,
  });
  const isolation = all.get('isolation');
  const degradation = (id: string): number => {
    const entry = isolation?.get(id);
    if (entry === undefined || entry.failure !== undefined) return Number.NaN;
    return medianOf(entry.runs, (m) => m.p99) / medianOf(entry.runs, (m) => m.unloadedP99);
  };
  const pooled = degradation('fasterapi-pool');
  const baselines = ['node-http', 'fastify', 'hono'].map(degradation).filter(Number.isFinite);
  const connectionErrors = ['connections-h1', 'connections-h2c'].map((id) => {
    const entry = all.get(id)?.get('fasterapi');
    return entry === undefined || entry.failure !== undefined ? Number.NaN : entry.runs.reduce((sum, m) => sum + m.errors, 0);
  });
  return [
    ratioGoal('hello h2c, FasterAPI 1 pinned ≥ 0.90 × node:http2', rps('hello-h2c', 'fasterapi-1') / rps('hello-h2c', 'node-http2'), 0.9),
    ratioGoal(`hello h2c, FasterAPI ${workers} pinned ≥ 1.15 × node:http2`, rps('hello-h2c', 'fasterapi') / rps('hello-h2c', 'node-http2'), 1.15),
    ratioGoal(
      `hello HTTP/1.1, FasterAPI ${workers} pinned ≥ 1.2 × Fastify + cluster (${workers})`,
      rps('hello-h1', 'fasterapi') / rps('hello-h1', 'fastify-cluster'),
      1.2,
    ),
    ratioGoal(`/cpu, FasterAPI ${workers} pinned ≥ 1.8 × node:http`, rps('cpu', 'fasterapi') / rps('cpu', 'node-http'), 1.8),
    {
      text: 'isolation: light p99 with /cpu flooded in the pool ≤ 3 × unloaded; single-loop baselines ≥ 10×',
      figure: `FasterAPI pool ${pooled.toFixed(1)}×; baselines ${baselines.map((d) => `${d.toFixed(0)}×`).join(', ') || 'not measured'}`,
      met: Number.isFinite(pooled) ? pooled <= 3 && baselines.every((d) => d >= 10) : null,
    },
    {
      text: 'connections: zero errors for FasterAPI (HTTP/1.1 and h2c)',
      figure: connectionErrors.map((e) => (Number.isFinite(e) ? String(e) : '–')).join(' / '),
      met: connectionErrors.every(Number.isFinite) ? connectionErrors.every((e) => e === 0) : null,
    },
  ];
}

export function goalsTable(list: readonly Goal[]): string {
  return [
    '| goal | this run | met |',
    '|---|---|---|',
    ...list.map((g) => `| ${g.text} | ${g.figure} | ${g.met === null ? 'not measured' : g.met ? 'yes' : '**no**'} |`),
  ].join('\n');
}
