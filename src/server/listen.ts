/** Binding a listening socket, with the usual failures as values and clear messages. */

import type net from 'node:net';
import { ErrorCode } from '../core/errors.ts';
import { err, ok, type Result } from '../core/result.ts';

export interface ListenError {
  readonly code: typeof ErrorCode.PORT_IN_USE | typeof ErrorCode.LISTEN;
  readonly message: string;
}

/** Listens on `host:port`; resolves with the bound port. Never rejects. */
export function listen(server: net.Server, host: string, port: number, reusePort: boolean): Promise<Result<number, ListenError>> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      resolve(err(listenError(error, host, port)));
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(ok(typeof address === 'object' && address !== null ? address.port : port));
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, reusePort, exclusive: true });
  });
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): ListenError {
  if (error.code === 'EADDRINUSE') {
    return {
      code: ErrorCode.PORT_IN_USE,
      message: `port ${port} on ${host} is already in use by another program; stop it or choose another port with --port`,
    };
  }
  if (error.code === 'EACCES') {
    return { code: ErrorCode.LISTEN, message: `no permission to listen on ${host}:${port} (ports below 1024 need privileges)` };
  }
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return { code: ErrorCode.LISTEN, message: `cannot listen on ${host}:${port}: the address is not available on this machine` };
  }
  return { code: ErrorCode.LISTEN, message: `cannot listen on ${host}:${port}: ${error.message}` };
}
