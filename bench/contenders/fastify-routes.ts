/**
 * The benchmark routes as a Fastify plugin, shared by fastify.ts, fastify-cluster.ts and
 * fastify-piscina.ts. `cpu` is how `/cpu` gets its answer: inline, or from a piscina pool.
 * Handlers return values and Fastify serialises them: strings as text/plain, objects with
 * JSON.stringify (no response schema, so no fast-json-stringify) as application/json.
 */

import fastify, { type FastifyInstance, type FastifyPluginCallback } from 'fastify';
import type { ContenderArgs, Protocol } from './args.ts';
import { cpuWork, HELLO, JSON_PAYLOAD } from './workload.ts';

export interface RoutesOptions {
  readonly cpu: () => string | Promise<string>;
}

export const routes: FastifyPluginCallback<RoutesOptions> = (app, options, done) => {
  app.get('/', () => HELLO);
  app.get('/json', () => JSON_PAYLOAD);
  app.get('/cpu', () => options.cpu());
  done();
};

/**
 * A Fastify instance without logging serving `routes`: with `tls`, HTTP/2 over TLS (`http2: true,
 * https: tls`, h2 only); else h2c with `http2: true` for `protocol` h2c, or HTTP/1.1.
 */
export function buildFastify(
  protocol: Protocol,
  options: RoutesOptions = { cpu: cpuWork },
  tls: ContenderArgs['tls'] = null,
): FastifyInstance {
  // The instances differ only in their raw server's type; what is used here and by the
  // contenders (register, listen, close, server.address) is the same for all.
  const app = (
    tls !== null
      ? fastify({ http2: true, https: { cert: tls.cert, key: tls.key }, logger: false })
      : protocol === 'h2c'
        ? fastify({ http2: true, logger: false })
        : fastify({ logger: false })
  ) as FastifyInstance;
  app.register(routes, options);
  return app;
}
