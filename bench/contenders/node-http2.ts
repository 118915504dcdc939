/**
 * Baseline: raw `node:http2` (h2c, prior knowledge) with a 'stream' listener on one event loop;
 * with `--tls-cert`/`--tls-key`, `createSecureServer` (h2 only, via ALPN) instead. Ignores
 * `--workers` and `--protocol`.
 * Run: node bench/contenders/node-http2.ts --port 0 [--tls-cert cert.pem --tls-key key.pem]
 */

import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { exitOnSignal, HOST, parseContenderArgs, ready } from './args.ts';
import { cpuWork, HELLO, JSON_PAYLOAD } from './workload.ts';

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

const args = parseContenderArgs({ tls: true });

function send(stream: http2.ServerHttp2Stream, status: number, contentType: string, body: string): void {
  stream.respond({ ':status': status, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  stream.end(body);
}

const sessions = new Set<http2.ServerHttp2Session>();
const server = args.tls === null ? http2.createServer() : http2.createSecureServer(args.tls);
server.on('session', (session) => {
  sessions.add(session);
  session.once('close', () => sessions.delete(session));
});
server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
  const method = headers[':method'];
  if (method === 'GET' || method === 'HEAD') {
    switch (headers[':path']) {
      case '/':
        return send(stream, 200, TEXT, HELLO);
      case '/json':
        return send(stream, 200, JSON_TYPE, JSON.stringify(JSON_PAYLOAD));
      case '/cpu':
        return send(stream, 200, TEXT, cpuWork());
    }
  }
  send(stream, 404, TEXT, 'Not Found');
});

server.listen(args.port, HOST, () => ready((server.address() as AddressInfo).port));
exitOnSignal(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const session of sessions) session.close(); // GOAWAY; in-flight streams finish
    }),
);
