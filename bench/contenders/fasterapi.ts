/**
 * FasterAPI: `serve()` of fasterapi-app.ts, h2c and HTTP/1.1 on the same port (`--protocol` is
 * accepted and ignored), or with `--tls-cert`/`--tls-key` TLS with ALPN h2 and http/1.1.
 *
 *   node bench/contenders/fasterapi.ts --port 0 --workers 2 [--pooled 2] [--pooled-isolates 1]
 *                                      [--tls-cert cert.pem --tls-key key.pem]
 *
 * `--workers N` → `pinnedWorkers: N`; `--pooled M` → `pooledWorkers: M` and, when M > 0, `/cpu`
 * runs on the pool; `--pooled-isolates K` → `pooledIsolates: K` (default 0: automatic).
 * `serve()` resolves once every pinned worker and pooled isolate is serving.
 */

import { serve } from '../../src/index.ts';
import { exitOnSignal, HOST, parseContenderArgs, ready } from './args.ts';

const args = parseContenderArgs({ pool: true, tls: true });

// Read by fasterapi-app.ts in every isolate; worker threads get a copy of this process's env.
process.env['FASTERAPI_BENCH_POOL_CPU'] = args.pooled > 0 ? '1' : '0';

const server = await serve(new URL('./fasterapi-app.ts', import.meta.url), {
  host: HOST,
  port: args.port,
  pinnedWorkers: args.workers,
  pooledWorkers: args.pooled,
  pooledIsolates: args.pooledIsolates,
  ...(args.tls === null ? {} : { tls: args.tls }),
  logLevel: 'warn',
  handleSignals: false,
});
exitOnSignal(() => server.close());
ready(server.port);
