/**
 * A pooled isolate's worker entry: imports the app like a pinned worker, then serves tasks with a
 * PooledExecutor (pooled-executor.ts) and answers the supervisor's lifecycle messages
 * (messages.ts). The supervisor starts it by URL (server/pool-supervisor.ts).
 */

import { parentPort, threadId, workerData } from 'node:worker_threads';
import { runShutdownHooks } from '../app/load.ts';
import { localTaskRunner } from '../app/task.ts';
import type { IsolateInfo } from '../app/request.ts';
import { createLogger } from '../core/log.ts';
import { M_TOPIC_DROPPED, startSampling } from './isolate-metrics.ts';
import { IsolateState, startHeartbeat } from './isolate-state.ts';
import { loadAndReport, type FromPooled, type ToPooled } from './messages.ts';
import { PooledExecutor } from './pooled-executor.ts';
import { TopicBus } from './topic-bus.ts';
import type { PooledIsolateData } from './topology.ts';

const port = parentPort;
if (port === null) throw new Error('pooled-isolate.ts runs only as a worker thread');
const data = workerData as PooledIsolateData;
const log = createLogger({ level: data.logLevel, format: data.logFormat, isolate: `pooled-${data.index}` });
const isolate: IsolateInfo = { kind: 'pooled', index: data.index, threadId };

const loaded = await loadAndReport(data.appUrl, isolate);
if (loaded !== null) {
  const { table, metrics } = loaded;
  const state = new IsolateState(data.state, data.epoch);
  const executor = new PooledExecutor(data, state, table, { log, exposeErrors: data.exposeErrors, onError: table.hooks.onError }, isolate);
  // Proof that this event loop turns; the supervisor's watchdog replaces the isolate if it stops.
  startHeartbeat(state, data.index);
  executor.start();
  // A pooled handler may publish to WebSocket subscribers, which live on the pinned isolates.
  const bus = table.sockets.length === 0 ? null : new TopicBus(data.topics);
  table.setPublisher((topic, message) => void bus?.publish(topic, message));
  // A pooled handler's app.run() runs the task here: this isolate is already off the pinned workers.
  table.setTaskRunner(localTaskRunner(data.handlerTimeout));
  startSampling(metrics, () => metrics.set(M_TOPIC_DROPPED, (bus?.dropped ?? 0) >>> 0));
  port.on('message', (message: ToPooled) => {
    switch (message.type) {
      case 'pinned-rings':
        executor.renewPinned(message.pinned, message.rings);
        return;
      case 'topic-peer':
        bus?.peerRenewed(message.update);
        return;
      case 'stop':
        void executor.afterWork
          .settled(message.graceMs)
          .then(() => runShutdownHooks(table, isolate, log.error))
          .then(() => {
            log.flush();
            port.postMessage({ type: 'stopped' } satisfies FromPooled);
          });
        return;
    }
  });
}
