/** A raw TCP client, for what a well-behaved HTTP client will not send or will hide. */

import net from 'node:net';

export interface RawConnection {
  readonly socket: net.Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Resolves when `predicate` holds for what was received, or when the server closes. */
  until(predicate: (text: string) => boolean): Promise<string>;
  /** Resolves when the server has closed the connection. */
  readonly closed: Promise<void>;
}

export function rawConnect(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const waiters: Array<() => void> = [];
    const wake = (): void => {
      for (const waiter of waiters.splice(0)) waiter();
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      wake();
    });
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    void closed.then(wake);
    socket.on('error', () => {});
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => text,
        closed,
        async until(predicate) {
          while (!predicate(text) && !socket.destroyed) await new Promise<void>((r) => waiters.push(r));
          return text;
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** Number of complete HTTP/1.1 status lines in `text`. */
export function countResponses(text: string): number {
  return text.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0;
}
