/**
 * The benchmark routes as a FasterAPI app module. Every isolate imports it and must build the same
 * route table, so whether `/cpu` runs on the pool comes from the environment, which worker threads
 * inherit: `FASTERAPI_BENCH_POOL_CPU=1` marks it `{ pool: true }` (fasterapi.ts sets it when
 * started with `--pooled` > 0); otherwise it runs inline on the pinned worker. The WebSocket routes
 * are bench/ws.ts's.
 */

import { App } from '../../src/index.ts';
import { cpuWork, HELLO, JSON_PAYLOAD } from './workload.ts';

const poolCpu = process.env['FASTERAPI_BENCH_POOL_CPU'] === '1';

const app = new App();
app.get('/', () => HELLO); //                  string → text/plain
app.get('/json', () => JSON_PAYLOAD); //       object → application/json, JSON.stringify per request
app.get('/cpu', () => cpuWork(), poolCpu ? { pool: true } : {});
// The WebSocket benchmark (bench/ws.ts): echo, and publish to every subscriber on every isolate.
app.ws('/echo', { message: (ws, data) => void ws.send(data) });
app.ws('/room', { open: (ws) => void ws.subscribe('room') });
app.ws('/publish', { message: (_ws, data) => app.publish('room', typeof data === 'string' ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) });
export default app;
