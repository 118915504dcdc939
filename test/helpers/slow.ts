/** Knowing when the test app's `/slow?id=…` handler has started, on whichever worker it runs. */

import { BroadcastChannel } from 'node:worker_threads';

export function slowStarted(ids: readonly string[]): Promise<void> {
  const channel = new BroadcastChannel('fasterapi-test:slow-started');
  const waiting = new Set(ids);
  return new Promise((resolve) => {
    channel.onmessage = (event) => {
      waiting.delete(String((event as MessageEvent).data));
      if (waiting.size === 0) {
        channel.close();
        resolve();
      }
    };
  });
}
