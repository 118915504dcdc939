/**
 * Fastify 5 in one process: HTTP/1.1, or h2c with `--protocol h2c`. Ignores `--workers`.
 * Run: node bench/contenders/fastify.ts --port 0 [--protocol h2c]
 */

import type { AddressInfo } from 'node:net';
import { exitOnSignal, HOST, parseContenderArgs, ready } from './args.ts';
import { buildFastify } from './fastify-routes.ts';

const args = parseContenderArgs();
const app = buildFastify(args.protocol);
await app.listen({ port: args.port, host: HOST });
exitOnSignal(() => app.close());
ready((app.server.address() as AddressInfo).port);
