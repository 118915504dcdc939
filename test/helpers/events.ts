/** Waiting for worker lifecycle events published on node:diagnostics_channel. */

import diagnostics from 'node:diagnostics_channel';
import type { WorkerEvent } from '../../src/index.ts';

/** Resolves with the first `fasterapi:worker:<name>` event for the server on `port` that `match` accepts. */
export function nextWorkerEvent(
  name: 'ready' | 'exit',
  port: number,
  match: (event: WorkerEvent) => boolean = () => true,
): Promise<WorkerEvent> {
  const channel = diagnostics.channel(`fasterapi:worker:${name}`);
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      const event = message as WorkerEvent;
      if (event.port !== port || !match(event)) return;
      channel.unsubscribe(onMessage);
      resolve(event);
    };
    channel.subscribe(onMessage);
  });
}
