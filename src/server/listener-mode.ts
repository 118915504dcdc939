/** Choosing how connections reach pinned workers on this platform and Node.js. */

import net from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import type { ListenerMode } from '../config/options.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, ok, type Result } from '../core/result.ts';
import type { ListenMode } from './messages.ts';

/** Platforms where SO_REUSEPORT balances connections across listening sockets. */
const REUSEPORT_PLATFORMS = new Set<string>(['linux', 'freebsd', 'dragonfly', 'sunos', 'aix']);

/**
 * Whether this Node.js can move a TCP socket to another thread with `postMessage` (Node ≥ 26.6).
 * Probed, not guessed from the version: an unconnected socket is refused as "not transferable
 * in its current state" where transfer exists, and as an invalid transfer object where it does not.
 */
export function canTransferSockets(): boolean {
  const socket = new net.Socket();
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(socket, [socket as never]);
    return true;
  } catch (thrown) {
    return (thrown as { code?: string }).code === 'ERR_WORKER_HANDLE_NOT_TRANSFERABLE';
  } finally {
    port1.close();
    port2.close();
    socket.destroy();
  }
}

export interface ModeError {
  readonly code: typeof ErrorCode.ACCEPTOR_UNSUPPORTED;
  readonly message: string;
}

export function chooseListenMode(requested: ListenerMode, platform = process.platform): Result<ListenMode, ModeError> {
  const mode: ListenMode =
    requested === 'auto' ? (REUSEPORT_PLATFORMS.has(platform) ? 'reuseport' : 'acceptor') : requested;
  if (mode === 'acceptor' && !canTransferSockets()) {
    return err({
      code: ErrorCode.ACCEPTOR_UNSUPPORTED,
      message:
        `acceptor mode hands sockets to worker threads, which needs Node.js >= 26.6 (this is ${process.version})` +
        (requested === 'auto' ? `; ${platform} has no SO_REUSEPORT balancing, so upgrade Node.js` : ''),
    });
  }
  return ok(mode);
}
