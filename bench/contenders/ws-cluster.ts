/**
 * `ws` under `node:cluster`: `--workers` processes share the port (the primary hands connections
 * round-robin). Each process publishes only to its own subscribers (ws-routes.ts): without a
 * broker, a message published on one process never reaches the others'.
 * Run: node bench/contenders/ws-cluster.ts --port 0 --workers 2
 */

import cluster from 'node:cluster';
import { HOST, parseContenderArgs } from './args.ts';
import { runClusterPrimary } from './cluster-primary.ts';
import { buildWsServer } from './ws-routes.ts';

const args = parseContenderArgs();

if (cluster.isPrimary) {
  runClusterPrimary('ws-cluster', args.workers);
} else {
  const server = buildWsServer();
  server.listen(args.port, HOST);
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
