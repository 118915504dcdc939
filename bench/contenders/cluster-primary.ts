/**
 * The primary of a contender under `node:cluster` (fastify-cluster.ts, ws-cluster.ts): it serves
 * nothing, forks `workers` processes (they get its argv, so they parse the same flags), prints
 * READY once every one is listening (with port 0 they all get the same port, cluster-wide), and
 * on SIGTERM/SIGINT stops them and exits. A worker that dies on its own takes the whole contender
 * down with exit code 1, so a run cannot quietly carry on with fewer workers.
 */

import cluster from 'node:cluster';
import { exitOnSignal, ready } from './args.ts';

export function runClusterPrimary(name: string, workers: number): void {
  let stopping = false;
  let listening = 0;
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) ready(address.port);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    process.stderr.write(`${name}: worker ${worker.id} exited (${signal ?? code}); stopping\n`);
    stopping = true;
    for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGKILL');
    process.exit(1);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  exitOnSignal(async () => {
    stopping = true;
    const running = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      running.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
  });
}
