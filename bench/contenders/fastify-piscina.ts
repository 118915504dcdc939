/**
 * Fastify 5 in one process with `/cpu` offloaded to a piscina pool of `--workers` threads, the way
 * Fastify's docs suggest taking CPU-bound work off the event loop; `/` and `/json` run inline.
 * HTTP/1.1, or h2c with `--protocol h2c`.
 * Run: node bench/contenders/fastify-piscina.ts --port 0 --workers 2 [--protocol h2c]
 *
 * piscina loads piscina-cpu.ts itself, under Node's type stripping (it `require()`s the file,
 * which Node ≥ 22.12 does for ES modules too, and falls back to `import()`).
 */

import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { exitOnSignal, HOST, parseContenderArgs, ready } from './args.ts';
import { buildFastify } from './fastify-routes.ts';

const args = parseContenderArgs();

const pool = new Piscina<void, string>({
  filename: fileURLToPath(new URL('./piscina-cpu.ts', import.meta.url)),
  minThreads: args.workers,
  maxThreads: args.workers,
});

// piscina reports no "threads loaded" event (it counts its first threads as ready before they have
// loaded the task module), so run one task per thread: each is handed to a different idle thread,
// and when all have answered every thread has loaded piscina-cpu.ts.
await Promise.all(Array.from({ length: args.workers }, () => pool.run()));

const app = buildFastify(args.protocol, { cpu: () => pool.run() });
await app.listen({ port: args.port, host: HOST });
exitOnSignal(async () => {
  await app.close();
  await pool.destroy();
});
ready((app.server.address() as AddressInfo).port);
