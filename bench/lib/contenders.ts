/** The servers compared, each a script in bench/contenders/ that prints `READY <port>`. */

import { fileURLToPath } from 'node:url';

export type Protocol = 'h1' | 'h2c';

export interface Contender {
  /** Stable id, used in result files. */
  readonly id: string;
  readonly label: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

const script = (name: string): string => fileURLToPath(new URL(`../contenders/${name}.ts`, import.meta.url));

/** Every contender, for `workers` workers where it can use them, speaking `protocol`. */
export function contenders(workers: number, protocol: Protocol): Record<string, Contender> {
  const proto = ['--protocol', protocol];
  return {
    fasterapi: {
      id: 'fasterapi',
      label: `FasterAPI (${workers} pinned)`,
      script: script('fasterapi'),
      args: ['--workers', String(workers)],
    },
    'fasterapi-pool': {
      id: 'fasterapi-pool',
      label: `FasterAPI (${workers} pinned + ${workers} pooled isolates, /cpu pooled)`,
      script: script('fasterapi'),
      // One task slot per pooled isolate: /cpu is synchronous, so slots beyond one per isolate
      // would only queue.
      args: ['--workers', String(workers), '--pooled', String(workers), '--pooled-isolates', String(workers)],
    },
    'node-http2': { id: 'node-http2', label: 'node:http2 (1 event loop)', script: script('node-http2'), args: [] },
    'node-http': { id: 'node-http', label: 'node:http (1 event loop)', script: script('node-http'), args: [] },
    fastify: { id: 'fastify', label: 'Fastify 5 (1 process)', script: script('fastify'), args: proto },
    'fastify-cluster': {
      id: 'fastify-cluster',
      label: `Fastify 5 + cluster (${workers} workers)`,
      script: script('fastify-cluster'),
      args: ['--workers', String(workers), ...proto],
    },
    'fastify-piscina': {
      id: 'fastify-piscina',
      label: `Fastify 5 + piscina (${workers} threads for /cpu)`,
      script: script('fastify-piscina'),
      args: ['--workers', String(workers), ...proto],
    },
    hono: { id: 'hono', label: 'Hono 4 on @hono/node-server (1 process)', script: script('hono'), args: proto },
  };
}

/** FasterAPI with an explicit pinned/pooled layout, for the scaling scenario. */
export function fasterapi(pinned: number, pooled: number): Contender {
  return {
    id: `fasterapi-${pinned}p-${pooled}q`,
    label: pooled === 0 ? `FasterAPI ${pinned} pinned` : `FasterAPI ${pinned} pinned + ${pooled} pooled`,
    script: script('fasterapi'),
    args: ['--workers', String(pinned), ...(pooled > 0 ? ['--pooled', String(pooled), '--pooled-isolates', String(pooled)] : [])],
  };
}
