/**
 * The WebSocket benchmark's routes on the `ws` library alone, for ws-node.ts and ws-cluster.ts:
 *
 *   /echo     sends every message back
 *   /room     subscribes: gets every message published
 *   /publish  every message it sends is published to the subscribers of this process
 *
 * "Published" here is a loop over this process's subscribers: `ws` has no topics, and processes
 * under `cluster` share nothing, so a publish reaches only the subscribers of the process that
 * received it (reaching the others needs a broker such as Redis, which this does not have).
 */

import http from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export function buildWsServer(): http.Server {
  const server = http.createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  const room = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    const path = req.url ?? '/';
    if (path !== '/echo' && path !== '/room' && path !== '/publish') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      if (path === '/echo') {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      } else if (path === '/room') {
        room.add(ws);
        ws.on('close', () => room.delete(ws));
      } else {
        ws.on('message', (data, isBinary) => {
          for (const subscriber of room) subscriber.send(data, { binary: isBinary });
        });
      }
    });
  });
  return server;
}
