/**
 * The benchmark scenarios. Each names its contenders, its baseline (the single-event-loop server
 * of the same protocol) and how one measurement is taken against a running contender.
 */

import { contenders, fasterapi, type Contender } from './contenders.ts';
import { h2load, wrk, type LoadResult } from './load.ts';

export interface Budget {
  readonly quick: boolean;
  /** Seconds measured per run. */
  readonly durationS: number;
  /** Seconds of warm-up load before each measured run. */
  readonly warmupS: number;
  readonly rounds: number;
  /** Concurrent HTTP/1.1 and HTTP/2 connections in the connections scenario. */
  readonly h1Connections: number;
  readonly h2Connections: number;
}

export interface Measurement extends LoadResult {
  /** Peak RSS of the contender's process tree during the run, MiB. */
  rss: number;
  /**
   * User + system CPU time of the contender's process tree during the measured duration (not the
   * warm-up), µs, and that over `answered`. NaN where the scenario does not mark its measured
   * duration (isolation).
   */
  cpuUs: number;
  cpuUsPerRequest: number;
  /** Isolation scenario: the light route's latency with nothing else running, µs. */
  unloadedP50?: number;
  unloadedP99?: number;
  /** Isolation scenario: /cpu requests per second served during the flood. */
  floodRps?: number;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** The load, in words with the tool flags, for the report. */
  readonly load: string;
  readonly contenders: readonly Contender[];
  readonly baseline: string;
  /** Kind of table: throughput (req/s first) or isolation (latency first). */
  readonly kind: 'throughput' | 'isolation';
  /** `onMeasuring` is called when the measured duration begins, after any warm-up. */
  measure(port: number, onMeasuring?: () => void): Promise<LoadResult & Partial<Measurement>>;
}

const url = (port: number, path: string, scheme = 'http'): string => `${scheme}://127.0.0.1:${port}${path}`;

type Measure = (port: number, onMeasuring?: () => void) => Promise<LoadResult>;

/** HTTP/2 as fast as the server answers: 50 connections of 10 streams each (h2c, or h2 over TLS). */
const h2Throughput = ({ durationS, warmupS }: Budget, path: string, scheme?: string): Measure => (port, onMeasuring) =>
  h2load({ url: url(port, path, scheme), clients: 50, streams: 10, durationS, warmupS, onMeasuring });
/** HTTP/1.1 as fast as the server answers, on `connections` keep-alive connections. */
const h1Throughput = ({ durationS, warmupS }: Budget, path: string, connections: number): Measure => (port, onMeasuring) =>
  wrk({ url: url(port, path), connections, durationS, warmupS, onMeasuring });

/** A certificate and key for the TLS scenario, as PEM file paths, and what kind they are. */
export interface BenchCertificate {
  readonly cert: string;
  readonly key: string;
  readonly description: string;
}

export function scenarios(workers: number, budget: Budget, certificate: BenchCertificate): Scenario[] {
  const h2 = contenders(workers, 'h2c');
  const h1 = contenders(workers, 'h1');
  const onePinned: Contender = { ...fasterapi(1, 0), id: 'fasterapi-1', label: 'FasterAPI (1 pinned)' };
  const { durationS, warmupS } = budget;
  /** Everyone with an answer for CPU-bound work: workers, a pool, or one event loop. */
  const cpuContenders = [
    h1.fasterapi!,
    h1['fasterapi-pool']!,
    h1['node-http']!,
    h1.fastify!,
    h1['fastify-cluster']!,
    h1['fastify-piscina']!,
    h1.hono!,
  ];

  const tlsArgs = ['--tls-cert', certificate.cert, '--tls-key', certificate.key];
  const overTls = (contender: Contender): Contender => ({ ...contender, args: [...contender.args, ...tlsArgs] });

  const list: Scenario[] = [
    {
      id: 'hello-h2c',
      title: 'Hello, HTTP/2 (h2c)',
      load: `h2load -c 50 -m 10 -t 1 -D ${durationS}s --warm-up-time ${warmupS}s, GET / → 12-byte text`,
      contenders: [h2.fasterapi!, onePinned, h2['node-http2']!, h2.fastify!, h2.hono!],
      baseline: 'node-http2',
      kind: 'throughput',
      measure: h2Throughput(budget, '/'),
    },
    {
      id: 'hello-h2-tls',
      title: 'Hello, HTTP/2 over TLS (h2, as browsers speak it)',
      load:
        `h2load -c 50 -m 10 -t 1 -D ${durationS}s --warm-up-time ${warmupS}s on https://, ALPN h2 (checked), ` +
        `${certificate.description}, GET / → 12-byte text`,
      contenders: [overTls(h2.fasterapi!), overTls(onePinned), overTls(h2['node-http2']!), overTls(h2.fastify!)],
      baseline: 'node-http2',
      kind: 'throughput',
      measure: h2Throughput(budget, '/', 'https'),
    },
    {
      id: 'hello-h1',
      title: 'Hello, HTTP/1.1',
      load: `wrk -t 1 -c 100 -d ${durationS}s (after a ${warmupS}s warm-up run), GET / → 12-byte text`,
      contenders: [h1.fasterapi!, onePinned, h1['node-http']!, h1.fastify!, h1['fastify-cluster']!, h1.hono!],
      baseline: 'node-http',
      kind: 'throughput',
      measure: h1Throughput(budget, '/', 100),
    },
    {
      id: 'json-h2c',
      title: 'JSON, HTTP/2 (h2c)',
      load: `h2load -c 50 -m 10 -t 1 -D ${durationS}s, GET /json → ~1 KB JSON serialised per request`,
      contenders: [h2.fasterapi!, h2['node-http2']!, h2.fastify!, h2.hono!],
      baseline: 'node-http2',
      kind: 'throughput',
      measure: h2Throughput(budget, '/json'),
    },
    {
      id: 'json-h1',
      title: 'JSON, HTTP/1.1',
      load: `wrk -t 1 -c 100 -d ${durationS}s, GET /json → ~1 KB JSON serialised per request`,
      contenders: [h1.fasterapi!, h1['node-http']!, h1.fastify!, h1['fastify-cluster']!, h1.hono!],
      baseline: 'node-http',
      kind: 'throughput',
      measure: h1Throughput(budget, '/json', 100),
    },
    {
      id: 'cpu',
      title: 'CPU-bound route, HTTP/1.1',
      load: `wrk -t 1 -c 16 -d ${durationS}s, GET /cpu → ~2 ms of synchronous work per request`,
      contenders: cpuContenders,
      baseline: 'node-http',
      kind: 'throughput',
      measure: h1Throughput(budget, '/cpu', 16),
    },
    {
      id: 'isolation',
      title: 'Isolation: a light route while /cpu is flooded, HTTP/1.1',
      load:
        `light: h2load --h1 -c 4 -m 1 --rps 100 -D ${durationS}s on GET / (400 req/s), alone and then while ` +
        `wrk -t 1 -c 8 floods GET /cpu`,
      contenders: cpuContenders,
      baseline: 'node-http',
      kind: 'isolation',
      // No CPU time per request here: the measured window holds two loads at once, ~2 ms /cpu
      // requests and 400 light ones a second, so their sum over either count would say nothing
      // the cpu and hello scenarios do not say better. `onMeasuring` is left uncalled.
      async measure(port) {
        const light = (): Promise<LoadResult> =>
          h2load({ url: url(port, '/'), clients: 4, streams: 1, rps: 100, h1: true, durationS, warmupS });
        const alone = await light();
        const flood = wrk({ url: url(port, '/cpu'), connections: 8, durationS: durationS + warmupS + 2, warmupS: 0 });
        // (wrk's duration is whole seconds: it outlasts the light measurement by at least one.)
        // The flood gets a moment to fill every queue before the light route is measured.
        await new Promise((resolve) => setTimeout(resolve, budget.quick ? 500 : 1_000));
        const loaded = await light();
        const flooded = await flood;
        return { ...loaded, unloadedP50: alone.p50, unloadedP99: alone.p99, floodRps: flooded.rps, errors: loaded.errors + alone.errors };
      },
    },
    {
      id: 'connections-h1',
      title: `${budget.h1Connections.toLocaleString('en')} concurrent HTTP/1.1 keep-alive connections`,
      load: `wrk -t 2 -c ${budget.h1Connections} -d ${durationS}s --timeout 10s, GET /`,
      contenders: [h1.fasterapi!, h1['node-http']!, h1['fastify-cluster']!],
      baseline: 'node-http',
      kind: 'throughput',
      measure: (port, onMeasuring) =>
        wrk({ url: url(port, '/'), connections: budget.h1Connections, threads: 2, durationS, warmupS: 0, onMeasuring }),
    },
    {
      id: 'connections-h2c',
      title: `${budget.h2Connections.toLocaleString('en')} concurrent HTTP/2 connections`,
      load: `h2load -c ${budget.h2Connections} -m 1 -t 2 -D ${durationS}s, GET /`,
      contenders: [h2.fasterapi!, h2['node-http2']!],
      baseline: 'node-http2',
      kind: 'throughput',
      measure: (port, onMeasuring) =>
        h2load({ url: url(port, '/'), clients: budget.h2Connections, streams: 1, threads: 2, durationS, warmupS, onMeasuring }),
    },
  ];
  return list;
}

/** Scaling: FasterAPI with 1..P pinned workers (hello and /cpu), and 1 pinned + 1..P pooled (/cpu). */
export function scalingSeries(
  workers: number,
  budget: Budget,
): Array<{ readonly id: string; readonly title: string; readonly points: Array<{ readonly n: number; readonly contender: Contender }>; readonly measure: Measure }> {
  const range = Array.from({ length: workers }, (_, i) => i + 1);
  return [
    {
      id: 'hello-pinned',
      title: 'hello (h2c), pinned workers',
      points: range.map((n) => ({ n, contender: fasterapi(n, 0) })),
      measure: h2Throughput(budget, '/'),
    },
    {
      id: 'cpu-pinned',
      title: '/cpu (HTTP/1.1), pinned workers',
      points: range.map((n) => ({ n, contender: fasterapi(n, 0) })),
      measure: h1Throughput(budget, '/cpu', 16),
    },
    {
      id: 'cpu-pooled',
      title: '/cpu (HTTP/1.1), 1 pinned + pooled isolates',
      points: range.map((n) => ({ n, contender: fasterapi(1, n) })),
      measure: h1Throughput(budget, '/cpu', 16),
    },
  ];
}
