/**
 * Baseline for the WebSocket benchmark: the `ws` library on one node:http server, one event loop
 * (routes in ws-routes.ts). Ignores `--workers` and `--protocol`.
 * Run: node bench/contenders/ws-node.ts --port 0
 */

import { listenUntilSignal, parseContenderArgs } from './args.ts';
import { buildWsServer } from './ws-routes.ts';

const args = parseContenderArgs();
const server = buildWsServer();
listenUntilSignal(server, args.port);
