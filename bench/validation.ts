/**
 * What request validation costs, measured two ways:
 *
 *  1. In the isolate: the dispatcher running a route (build the request, validate, run the
 *     handler, build the response) with a JSON body of ~70 bytes, with no schema (the handler
 *     parses the body itself) and with a zod, valibot and arktype body schema. ns per request.
 *  2. The whole server: the same routes under h2load (h2c POSTs), inline (1 pinned worker) and
 *     pooled (1 pooled isolate). Requests per second and p50, with the ratio of each validated
 *     route to the unvalidated one, in alternating rounds.
 *
 * Run: ./node_modules/.bin/node bench/validation.ts [--quick]
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { appTable } from '../src/app/app.ts';
import { invoke } from '../src/app/invoke.ts';
import { Request } from '../src/app/request.ts';
import { NO_RESPONSE } from '../src/app/response.ts';
import { createLogger } from '../src/core/log.ts';
import { serve } from '../src/index.ts';
import { h2load, missingTools, type LoadResult } from './lib/load.ts';
import app, { ITEM, schemas } from './validation-app.ts';

const quick = process.argv.includes('--quick');
const BODY = Buffer.from(JSON.stringify(ITEM));
const LIBRARIES = ['raw', 'zod', 'valibot', 'arktype'] as const;

/** ns per request through `invoke` for each route, median of 5 alternating rounds. */
async function inIsolate(count: number): Promise<Record<string, number>> {
  const table = appTable(app)!;
  table.freeze();
  const ctx = { log: createLogger('silent'), exposeErrors: false, onError: [] };
  const isolate = { kind: 'pinned' as const, index: 0, threadId: 0 };
  const headers = { 'content-type': 'application/json' };
  const once = async (path: string): Promise<void> => {
    const match = table.router.find('POST', path);
    if (match.kind !== 'found') throw new Error(`no route ${path}`);
    const req = new Request('POST', path, '', match.params, headers, BODY, 1 << 20, isolate);
    const result = await invoke(match.value, req, NO_RESPONSE, ctx);
    if (!result.ok) throw new Error(`${path} failed: ${JSON.stringify(result.error)}`);
  };
  const timeOne = async (path: string): Promise<number> => {
    const began = performance.now();
    for (let i = 0; i < count; i++) await once(path);
    return ((performance.now() - began) * 1e6) / count;
  };
  for (const name of LIBRARIES) await timeOne(`/${name}-inline`); // warm up
  const rounds: Record<string, number[]> = Object.fromEntries(LIBRARIES.map((name) => [name, []]));
  for (let round = 0; round < 5; round++) {
    const order = round % 2 === 0 ? LIBRARIES : [...LIBRARIES].reverse();
    for (const name of order) rounds[name]!.push(await timeOne(`/${name}-inline`));
  }
  return Object.fromEntries(Object.entries(rounds).map(([name, ns]) => [name, ns.sort((a, b) => a - b)[2] as number]));
}

async function wholeServer(durationS: number): Promise<string[]> {
  const server = await serve(new URL('./validation-app.ts', import.meta.url), {
    host: '127.0.0.1',
    port: 0,
    pinnedWorkers: 1,
    pooledWorkers: 32,
    pooledIsolates: 1,
    logLevel: 'warn',
    handleSignals: false,
  });
  const dir = mkdtempSync(join(tmpdir(), 'fasterapi-validation-'));
  const dataFile = join(dir, 'item.json');
  writeFileSync(dataFile, BODY);
  const rows: string[] = [];
  const measure = (path: string, seconds: number): Promise<LoadResult> =>
    h2load({ url: `${server.url}${path}`, clients: 4, streams: 16, durationS: seconds, warmupS: 0, dataFile, headers: ['content-type: application/json'] });
  try {
    for (const where of ['inline', 'pooled']) {
      const paths = LIBRARIES.map((name) => `/${name}-${where}`);
      for (const path of paths) await measure(path, 1); // warm up
      const rounds: Record<string, LoadResult[]> = Object.fromEntries(paths.map((path) => [path, []]));
      for (let round = 0; round < 3; round++) {
        for (const path of round % 2 === 0 ? paths : [...paths].reverse()) {
          const result = await measure(path, durationS);
          if (result.errors > 0) throw new Error(`${path}: ${result.errors} failed requests`);
          rounds[path]!.push(result);
        }
      }
      const median = (path: string): LoadResult => [...rounds[path]!].sort((a, b) => a.rps - b.rps)[1] as LoadResult;
      const raw = median(`/raw-${where}`);
      for (const name of LIBRARIES) {
        const m = median(`/${name}-${where}`);
        const rps = rounds[`/${name}-${where}`]!.map((r) => r.rps);
        rows.push(
          `| ${where} | ${name === 'raw' ? 'none (req.json())' : name} | ${Math.round(m.rps).toLocaleString('en')} ` +
            `(${Math.round(Math.min(...rps)).toLocaleString('en')}–${Math.round(Math.max(...rps)).toLocaleString('en')}) | ` +
            `${(m.rps / raw.rps).toFixed(2)}× | ${m.p50.toFixed(0)} |`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server.close();
  }
  return rows;
}

/** ns per `~standard.validate` call on the parsed item alone: each library's own share. */
function libraryAlone(count: number): Record<string, number> {
  const out: Record<string, number> = {};
  const item = JSON.parse(BODY.toString()) as unknown;
  for (const [name, schema] of Object.entries(schemas)) {
    const validate = schema['~standard'].validate;
    for (let i = 0; i < 10_000; i++) validate(item);
    const began = performance.now();
    for (let i = 0; i < count; i++) validate(item);
    out[name] = ((performance.now() - began) * 1e6) / count;
  }
  return out;
}

async function main(): Promise<void> {
  console.log(`# Validation cost — Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores\n`);
  const count = quick ? 20_000 : 100_000;
  const ns = await inIsolate(count);
  const alone = libraryAlone(count);
  console.log(`## In the isolate: dispatch of one POST with a ${BODY.byteLength}-byte JSON body (median of 5 rounds of ${count.toLocaleString('en')})\n`);
  console.log('| body schema | ns per request | difference from no schema, ns | the library’s validate() alone, ns |');
  console.log('|---|---:|---:|---:|');
  for (const name of LIBRARIES) {
    const raw = name === 'raw';
    console.log(
      `| ${raw ? 'none (handler awaits req.json())' : name} | ${ns[name]!.toFixed(0)} | ${raw ? '' : (ns[name]! - ns['raw']!).toFixed(0)} | ${raw ? '' : alone[name]!.toFixed(0)} |`,
    );
  }
  console.log(
    '\nA validated route parses the body and validates it without a promise when the body is in memory, ' +
      'where an unvalidated handler awaits req.json(): the difference can be below the library’s own time.',
  );
  const missing = missingTools();
  if (missing !== null) {
    console.log(`\n(The whole-server measurement needs h2load: ${missing})`);
    return;
  }
  const durationS = quick ? 2 : 5;
  const rows = await wholeServer(durationS);
  console.log(
    `\n## Whole server: 1 pinned worker + 1 pooled isolate; h2load -c 4 -m 16 -D ${durationS}s -d item.json, POST (median of 3 alternating rounds, min–max)\n`,
  );
  console.log('| where | body schema | req/s | vs no schema | p50 µs |');
  console.log('|---|---|---:|---:|---:|');
  for (const row of rows) console.log(row);
}

await main();
