/**
 * Fastify 5 in one process: HTTP/1.1, h2c with `--protocol h2c`, or HTTP/2 over TLS (ALPN h2)
 * with `--tls-cert`/`--tls-key`. Ignores `--workers`.
 * Run: node bench/contenders/fastify.ts --port 0 [--protocol h2c] [--tls-cert cert.pem --tls-key key.pem]
 */

import type { AddressInfo } from 'node:net';
import { exitOnSignal, HOST, parseContenderArgs, ready } from './args.ts';
import { buildFastify } from './fastify-routes.ts';

const args = parseContenderArgs({ tls: true });
const app = buildFastify(args.protocol, undefined, args.tls);
await app.listen({ port: args.port, host: HOST });
exitOnSignal(() => app.close());
ready((app.server.address() as AddressInfo).port);
