/** The benchmark suite's own logic: tool output parsing, statistics, the goal check, charts. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseH2load, parseWrk } from '../../bench/lib/load.ts';
import { cpuPerRequest, parseProcStat } from '../../bench/lib/proc.ts';
import { goals } from '../../bench/lib/report.ts';
import type { ScenarioResults } from '../../bench/lib/report.ts';
import type { Measurement } from '../../bench/lib/scenarios.ts';
import { quantile, spread } from '../../bench/lib/stats.ts';
import { lineChart, logBarChart } from '../../bench/lib/svg.ts';

const WRK = `Running 5s test @ http://127.0.0.1:8080/
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.25ms    1.96ms  80.71ms   95.07%
    Req/Sec    78.80k     3.10k   84.26k    72.00%
  Latency Distribution
     50%  680.00us
     75%    1.10ms
     90%    2.00ms
     99%   10.50ms
  391959 requests in 5.00s, 60.19MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  78373.12
Transfer/sec:     12.03MB
`;

const H2LOAD = `starting benchmark...
finished in 5.00s, 48335.61 req/s, 1.75MB/s
requests: 241678 total, 241678 started, 241678 done, 241670 succeeded, 3 failed, 2 errored, 1 timeout
status codes: 241670 2xx, 0 3xx, 0 4xx, 2 5xx
`;

test('wrk: rate, percentiles in µs whatever the unit, and every kind of error', () => {
  const result = parseWrk(WRK);
  assert.equal(result.rps, 78373.12);
  assert.equal(result.p50, 680);
  assert.equal(result.p99, 10_500);
  assert.equal(result.requests, 391959);
  assert.equal(result.answered, 391959 - 4, 'non-2xx responses are not answers');
  assert.equal(result.errors, 2 + 3 + 4);
});

test('h2load: rate, failures and non-2xx count as errors, percentiles from the log', () => {
  const latencies = Float64Array.from({ length: 100 }, (_, i) => (i + 1) * 10);
  const result = parseH2load(H2LOAD, latencies);
  assert.equal(result.rps, 48335.61);
  assert.equal(result.requests, 241678);
  assert.equal(result.answered, 241670, 'the 2xx count');
  assert.equal(result.errors, 3 + 2 + 1 + 2);
  assert.equal(result.p50, 500);
  assert.equal(result.p99, 990);
});

test('h2load: the application protocol must be the one asked for', () => {
  const spoke = (protocol: string): string => H2LOAD.replace('finished in', `Application protocol: ${protocol}\n\nfinished in`);
  assert.equal(parseH2load(spoke('h2'), [], 'h2').answered, 241670);
  assert.equal(parseH2load(spoke('h2c'), [], 'h2c').answered, 241670);
  assert.throws(() => parseH2load(spoke('http/1.1'), [], 'h2'), /spoke http\/1\.1, not h2/);
  assert.throws(() => parseH2load(spoke('h2c'), [], 'h2'), /spoke h2c, not h2/);
  assert.throws(() => parseH2load(H2LOAD, [], 'h2'), /negotiated no application protocol/);
});

test('/proc stat: fields counted from the last parenthesis, whatever the process name holds', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
  const line = '1234 (node (x) y) S 77 1234 1234 0 -1 4194560 5000 0 0 0 321 45 6 7 20 0 11 0 98765 1234567 8901 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { ppid: 77, cpuTicks: 321 + 45, childrenCpuTicks: 6 + 7 });
  // A name that is only a parenthesis, and one with spaces before it.
  assert.equal(parseProcStat(line.replace('(node (x) y)', '())')).cpuTicks, 366);
  assert.equal(parseProcStat(line.replace('(node (x) y)', '( ) ( )')).ppid, 77);
  assert.throws(() => parseProcStat('1234 (truncated) S 77'), /field 14/);
});

test('CPU time per request', () => {
  // 2 cores busy for 1 s over 80,000 answers: 25 µs each.
  assert.equal(cpuPerRequest(2_000_000, 80_000), 25);
  assert.equal(cpuPerRequest(10_000, 30_000).toFixed(2), '0.33', 'one 10 ms tick over a quick run');
  assert.ok(Number.isNaN(cpuPerRequest(1_000, 0)), 'nothing answered');
  assert.ok(Number.isNaN(cpuPerRequest(Number.NaN, 10)), 'not measured');
});

test('output that is not the tool\'s is not mistaken for a result', () => {
  assert.ok(Number.isNaN(parseWrk('connection refused').rps));
  assert.ok(Number.isNaN(parseH2load('connect: Connection refused', []).errors));
});

test('spread and quantile', () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
  assert.ok(Number.isNaN(spread([]).median));
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
  assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
});

test('the goal check uses the medians of each scenario', () => {
  const runs = (rps: number[], extra: Partial<Measurement> = {}): Measurement[] =>
    rps.map((r) => ({ rps: r, p50: 1, p99: 2, requests: 1, answered: 1, errors: 0, rss: 1, cpuUs: 1, cpuUsPerRequest: 1, ...extra }));
  const entry = (id: string, list: Measurement[]) =>
    [id, { contender: { id, label: id, script: '', args: [] }, runs: list }] as const;
  const all = new Map<string, ScenarioResults>([
    ['hello-h2c', new Map([entry('fasterapi-1', runs([95, 90, 100])), entry('fasterapi', runs([120, 110, 130])), entry('node-http2', runs([100, 90, 110]))])],
    ['cpu', new Map([entry('fasterapi', runs([900, 1000, 950])), entry('node-http', runs([500, 520, 480]))])],
  ]);
  const list = goals(all, 2);
  assert.equal(list[0]?.figure, '0.95×');
  assert.equal(list[0]?.met, true);
  assert.equal(list[1]?.figure, '1.20×');
  assert.equal(list[1]?.met, true);
  assert.equal(list[2]?.met, null, 'not measured');
  assert.equal(list[3]?.figure, '1.90×');
});

test('charts are SVG documents with one mark per point or bar', () => {
  const line = lineChart('t', 'x', 'y', [{ label: 'a', points: [{ x: 1, y: 10 }, { x: 2, y: 20 }] }]);
  assert.match(line, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal(line.match(/<circle /g)?.length, 2);
  const bars = logBarChart('t', 'ms', ['alone', 'flooded'], [{ label: 'x <&>', values: [0.5, 40] }]);
  // The background, two legend keys and the two bars.
  assert.equal(bars.match(/<rect /g)?.length, 5);
  assert.match(bars, />0\.50</);
  assert.match(bars, />40</);
  assert.match(bars, /x &lt;&amp;&gt;/);
});
