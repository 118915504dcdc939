/**
 * Fastify 5 under `node:cluster`: `--workers` processes share the port (the primary accepts and
 * hands connections round-robin, Node's default on Linux). HTTP/1.1, or h2c with `--protocol h2c`.
 * Run: node bench/contenders/fastify-cluster.ts --port 0 --workers 2 [--protocol h2c]
 *
 * The primary serves nothing: it prints READY once every worker is listening (with port 0 they all
 * get the same port, cluster-wide), and on SIGTERM/SIGINT stops the workers and exits. A worker
 * that dies on its own takes the whole contender down with exit code 1, so a run cannot quietly
 * carry on with fewer workers.
 */

import cluster from 'node:cluster';
import { exitOnSignal, HOST, parseContenderArgs } from './args.ts';
import { runClusterPrimary } from './cluster-primary.ts';
import { buildFastify } from './fastify-routes.ts';

const args = parseContenderArgs();

if (cluster.isPrimary) {
  runClusterPrimary('fastify-cluster', args.workers);
} else {
  // A worker leaves on SIGTERM from the primary, on SIGINT from the terminal, and (Node's cluster
  // does this) as soon as it loses the primary.
  const app = buildFastify(args.protocol);
  exitOnSignal(() => app.close());
  await app.listen({ port: args.port, host: HOST });
}
