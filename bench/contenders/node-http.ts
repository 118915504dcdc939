/**
 * Baseline: raw `node:http` on one event loop, HTTP/1.1 keep-alive. Ignores `--workers` and
 * `--protocol`. Run: node bench/contenders/node-http.ts --port 0
 */

import http from 'node:http';
import { listenUntilSignal, parseContenderArgs } from './args.ts';
import { cpuWork, HELLO, JSON_PAYLOAD } from './workload.ts';

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

const args = parseContenderArgs();

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' || req.method === 'HEAD') {
    switch (req.url) {
      case '/':
        return send(res, 200, TEXT, HELLO);
      case '/json':
        return send(res, 200, JSON_TYPE, JSON.stringify(JSON_PAYLOAD));
      case '/cpu':
        return send(res, 200, TEXT, cpuWork());
    }
  }
  send(res, 404, TEXT, 'Not Found');
});

listenUntilSignal(server, args.port);
