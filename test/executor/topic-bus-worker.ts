/**
 * One participant of the topic bus tests, on a thread of its own: it joins the bus with the
 * data its TopicBusTopology made, subscribes (a pinned one), checks every message it is
 * delivered, and publishes when told. Does nothing when run on its own (the test runner may load
 * any file in this folder). With `echo`, it also sends back what it gets on one topic.
 *
 * Commands (messages from the test):
 *   publish { count, batch, end }  publish `count` numbered messages, `batch` per event-loop turn,
 *                                  cycling over `publishOn`; with `end`, wait until the outboxes
 *                                  are empty and then publish one message on END_TOPIC; answers
 *                                  `published` with the publisher's counters
 *   run { batch }                  publish `batch` messages every millisecond until `stop`
 *   stop                           answers `stopped` with the counters
 *   block { gate }                 answers `blocking`, then blocks the thread (reading nothing)
 *                                  until the test stores 1 in the gate and notifies
 *   slow { us }                    busy-waits `us` µs in every delivery from now on
 *   renew { update }               applies a TopicPeerUpdate; answers `renewed`
 *   expect { key, count }          answers `reached` once `count` messages came from `key`
 *   ends { from }                  answers `ends` with the report once END_TOPIC came from each
 *   report                         answers `report`
 *   close                          leaves the bus and lets the thread end
 */

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { TopicBus, type TopicBusOptions } from '../../src/executor/topic-bus.ts';
import type { TopicBusData, TopicPeerUpdate } from '../../src/executor/topic-topology.ts';
import { checkMessage, makeMessage, messageShape, sourceKey } from './topic-bus-support.ts';

export const END_TOPIC = 'end';

export interface PeerData {
  readonly bus: TopicBusData;
  readonly options?: Pick<TopicBusOptions, 'outboxBytes' | 'outboxMessages'>;
  /** Topics this participant subscribes to (pinned only). END_TOPIC is added. */
  readonly subscribe: readonly string[];
  /** Message seq goes on publishOn[seq % length]. */
  readonly publishOn: readonly string[];
  readonly incarnation: number;
  /** Every how many messages one is larger than a ring record (0: none). */
  readonly bigEvery: number;
  /** Publishes every message it gets on `from` again, unchanged, on `to` (a ping-pong partner). */
  readonly echo?: { readonly from: string; readonly to: string };
}

export interface PeerReport {
  /** Messages (END_TOPIC not counted) by sourceKey. */
  readonly received: Record<string, number>;
  /** The last seq received, by sourceKey. */
  readonly lastSeq: Record<string, number>;
  readonly errors: readonly string[];
  readonly delivered: number;
  readonly unwanted: number;
  readonly incomplete: number;
  readonly published: number;
  readonly dropped: number;
  readonly droppedTo: readonly number[];
  readonly waiting: number;
  /** Messages this participant published with at least one destination, END_TOPIC included. */
  readonly seq: number;
}

export type Command =
  | { readonly type: 'publish'; readonly count: number; readonly batch: number; readonly end: boolean }
  | { readonly type: 'run'; readonly batch: number }
  | { readonly type: 'stop' }
  | { readonly type: 'block'; readonly gate: SharedArrayBuffer }
  | { readonly type: 'slow'; readonly us: number }
  | { readonly type: 'renew'; readonly update: TopicPeerUpdate }
  | { readonly type: 'expect'; readonly key: string; readonly count: number }
  | { readonly type: 'ends'; readonly from: readonly number[] }
  | { readonly type: 'report' }
  | { readonly type: 'close' };

function busyWait(us: number): void {
  const until = performance.now() + us / 1000;
  while (performance.now() < until);
}

function peer(data: PeerData, port: NonNullable<typeof parentPort>): void {
  const received: Record<string, number> = {};
  const lastSeq: Record<string, number> = {};
  const errors: string[] = [];
  const ends = new Set<number>();
  const subscribed = new Set([...data.subscribe, END_TOPIC]);
  let slowUs = 0;
  let seq = 0;
  let running: NodeJS.Timeout | null = null;
  /** Checks run after each delivery: `expect` and `ends` waiting for their condition. */
  let waiters: Array<() => boolean> = [];

  function fail(message: string): void {
    if (errors.length < 20) errors.push(message);
  }

  function deliver(topic: string, message: string | Buffer): void {
    if (slowUs > 0) busyWait(slowUs);
    if (!subscribed.has(topic)) fail(`delivered on ${topic}, which is not subscribed`);
    const stamp = checkMessage(topic, message);
    if (typeof stamp === 'string') return fail(stamp);
    if (stamp.publisher === data.bus.self) fail(`got its own message ${stamp.seq}`);
    if (topic === END_TOPIC) ends.add(stamp.publisher);
    else {
      const key = sourceKey(stamp.publisher, stamp.incarnation);
      const last = lastSeq[key] ?? -1;
      if (stamp.seq <= last) fail(`from ${key}: ${stamp.seq} after ${last}`);
      lastSeq[key] = stamp.seq;
      received[key] = (received[key] ?? 0) + 1;
    }
    if (data.echo !== undefined && topic === data.echo.from) bus.publish(data.echo.to, message);
    if (waiters.length > 0) waiters = waiters.filter((done) => !done());
  }

  const bus = new TopicBus(data.bus, { ...data.options, deliver, onError: (error) => fail(String(error)) });
  if (bus.pinned) for (const topic of subscribed) bus.subscribed(topic);

  function report(): PeerReport {
    return {
      received,
      lastSeq,
      errors,
      delivered: bus.delivered,
      unwanted: bus.unwanted,
      incomplete: bus.incomplete,
      published: bus.published,
      dropped: bus.dropped,
      droppedTo: Array.from({ length: data.bus.pinnedCount }, (_, k) => bus.droppedTo(k)),
      waiting: bus.waiting,
      seq,
    };
  }

  function publishOne(): void {
    const topic = data.publishOn[seq % data.publishOn.length] as string;
    const shape = messageShape(bus.self, seq, data.bigEvery);
    bus.publish(topic, makeMessage(topic, { publisher: bus.self, incarnation: data.incarnation, seq }, shape.size, shape.text));
    seq++;
  }

  async function publish(count: number, batch: number, end: boolean): Promise<void> {
    const last = seq + count;
    while (seq < last) {
      for (let i = 0; i < batch && seq < last; i++) publishOne();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (end) {
      while (bus.waiting > 0) await new Promise<void>((resolve) => setTimeout(resolve, 2));
      bus.publish(END_TOPIC, makeMessage(END_TOPIC, { publisher: bus.self, incarnation: data.incarnation, seq }, 8, true));
      seq++;
    }
    port.postMessage({ type: 'published', report: report() });
  }

  function until(done: () => boolean): void {
    if (!done()) waiters.push(done);
  }

  port.on('message', (command: Command) => {
    switch (command.type) {
      case 'publish':
        void publish(command.count, command.batch, command.end);
        break;
      case 'run':
        running = setInterval(() => {
          for (let i = 0; i < command.batch; i++) publishOne();
        }, 1);
        break;
      case 'stop':
        if (running !== null) clearInterval(running);
        running = null;
        port.postMessage({ type: 'stopped', report: report() });
        break;
      case 'block': {
        const gate = new Int32Array(command.gate);
        port.postMessage({ type: 'blocking' });
        Atomics.wait(gate, 0, 0);
        break;
      }
      case 'slow':
        slowUs = command.us;
        break;
      case 'renew':
        port.postMessage({ type: 'renewed', applied: bus.peerRenewed(command.update) });
        break;
      case 'expect':
        until(() => {
          if ((received[command.key] ?? 0) < command.count) return false;
          port.postMessage({ type: 'reached', key: command.key });
          return true;
        });
        break;
      case 'ends':
        until(() => {
          if (!command.from.every((x) => ends.has(x))) return false;
          port.postMessage({ type: 'ends', report: report() });
          return true;
        });
        break;
      case 'report':
        port.postMessage({ type: 'report', report: report() });
        break;
      case 'close':
        if (running !== null) clearInterval(running);
        bus.close();
        port.close();
        break;
    }
  });
  port.postMessage({ type: 'ready' });
}

if (!isMainThread && parentPort !== null) peer(workerData as PeerData, parentPort);
