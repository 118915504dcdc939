/** Starting the test app with `serve()` on 127.0.0.1, port 0, quietly. */

import { serve, type Server, type ServeOptions } from '../../src/index.ts';
import { TLS_CERT, TLS_KEY } from './clients.ts';

export const TEST_APP = new URL('../fixtures/app.ts', import.meta.url);
export const TEST_POOLED_APP = new URL('../fixtures/pooled-app.ts', import.meta.url);
/** The developer layer's app: validation, hooks, plugins, streaming, lifespan (see the file). */
export const API_APP = new URL('../fixtures/apps/api.ts', import.meta.url);

export function startTestServer(options: ServeOptions & { withTls?: boolean } = {}, app: URL = TEST_APP): Promise<Server> {
  const { withTls, ...rest } = options;
  return serve(app, {
    host: '127.0.0.1',
    port: 0,
    pinnedWorkers: 2,
    logLevel: 'silent',
    handleSignals: false,
    gracePeriod: 2_000,
    ...(withTls === true ? { tls: { cert: TLS_CERT, key: TLS_KEY } } : {}),
    ...rest,
  });
}
