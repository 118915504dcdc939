/**
 * Hono 4 on `@hono/node-server` in one process: HTTP/1.1, or h2c with `--protocol h2c` (the
 * adapter's `createServer` option given `http2.createServer`). Ignores `--workers`.
 * Run: node bench/contenders/hono.ts --port 0 [--protocol h2c]
 */

import http2 from 'node:http2';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { exitOnSignal, HOST, parseContenderArgs, ready } from './args.ts';
import { cpuWork, HELLO, JSON_PAYLOAD } from './workload.ts';

const args = parseContenderArgs();

const app = new Hono();
app.get('/', (c) => c.text(HELLO));
app.get('/json', (c) => c.json(JSON_PAYLOAD)); // JSON.stringify per request
app.get('/cpu', (c) => c.text(cpuWork()));

const listening = (info: { port: number }): void => ready(info.port);
const server =
  args.protocol === 'h2c'
    ? serve({ fetch: app.fetch, hostname: HOST, port: args.port, createServer: http2.createServer }, listening)
    : serve({ fetch: app.fetch, hostname: HOST, port: args.port }, listening);

exitOnSignal(
  () =>
    new Promise<void>((resolve, reject) => {
      server.close((error) => (error === undefined ? resolve() : reject(error)));
      if ('closeAllConnections' in server) server.closeAllConnections();
    }),
);
