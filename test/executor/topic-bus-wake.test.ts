/**
 * Waking a parked subscriber. The race the doorbell protocol exists for, made to happen: a
 * publisher makes a record visible and rings after the subscriber found its rings empty but
 * before it published PARKED, so the ring finds AWAKE and notifies nobody; the subscriber's
 * re-check after parking must find the record. Then a ping-pong across threads in which every
 * round waits for the other side's answer, so that each side parks and is woken thousands of
 * times: a lost wake-up would stop it.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Doorbell } from '../../src/executor/doorbell.ts';
import { RingProducer } from '../../src/executor/ring.ts';
import { TopicBus } from '../../src/executor/topic-bus.ts';
import { writeWhole } from '../../src/executor/topic-codec.ts';
import { TopicSubscriber } from '../../src/executor/topic-subscriber.ts';
import { TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { Peer } from './topic-bus-peers.ts';
import { Inbox, makeMessage } from './topic-bus-support.ts';

/** A real doorbell that runs `before` once, just before its first park() stores PARKED. */
class RacingDoorbell extends Doorbell {
  #before: (() => void) | null;

  constructor(buffer: SharedArrayBuffer, consumer: number, before: () => void) {
    super(buffer, consumer);
    this.#before = before;
  }

  override park(): void {
    const before = this.#before;
    this.#before = null;
    before?.();
    super.park();
  }
}

const peers: Peer[] = [];
after(async () => {
  await Promise.all(peers.map((p) => p.kill()));
});

test('a record made visible between the empty read and PARKED is found by the re-check', async () => {
  const topology = new TopicBusTopology(2, 0, { ringSize: 4096, buckets: 8 });
  const data = topology.forPinned(1);
  const producer = new RingProducer(data.incoming[0] as SharedArrayBuffer);
  const publisherView = new Doorbell(data.doorbells, 1);
  const inbox = new Inbox();
  const subscriber = new TopicSubscriber({
    doorbell: new RacingDoorbell(data.doorbells, 1, () => {
      assert.equal(writeWhole(producer, 't', 1, 'raced', 5), true);
      producer.publish();
      publisherView.ring(); // finds AWAKE: no notify
    }),
    rings: data.incoming,
    topics: new Set(['t']),
    deliver: inbox.deliver,
    onError: (error) => assert.fail(String(error)),
  });
  try {
    subscriber.start();
    await inbox.reach(1, 5_000);
    assert.deepEqual(inbox.items, [['t', 'raced']]);
  } finally {
    subscriber.close();
  }
});

test('a ping-pong of 3000 rounds between this thread and a worker, each waiting for the other', { timeout: 120_000 }, async (t) => {
  const rounds = 3000;
  const topology = new TopicBusTopology(2, 0, { ringSize: 64 * 1024 });
  const partner = new Peer('partner', {
    bus: topology.forPinned(1),
    subscribe: ['ping'],
    publishOn: ['unused'],
    incarnation: 0,
    bigEvery: 0,
    echo: { from: 'ping', to: 'pong' },
  });
  peers.push(partner);
  await partner.next('ready');
  const inbox = new Inbox();
  const bus = new TopicBus(topology.forPinned(0), { deliver: inbox.deliver });
  bus.subscribed('pong');
  try {
    const started = performance.now();
    for (let n = 0; n < rounds; n++) {
      const ping = makeMessage('ping', { publisher: 0, incarnation: 0, seq: n }, n % 50, n % 2 === 0);
      assert.equal(bus.publish('ping', ping), 1);
      await inbox.reach(n + 1, 10_000);
      const pong = inbox.items[n]?.[1];
      assert.deepEqual(typeof pong === 'string' ? pong : [...(pong ?? [])], typeof ping === 'string' ? ping : [...ping]);
    }
    const elapsed = performance.now() - started;
    const report = await partner.ask({ type: 'report' }, 'report');
    assert.deepEqual(report.errors, []);
    assert.equal(report.received['0/0'], rounds);
    t.diagnostic(`${rounds} round trips in ${elapsed.toFixed(0)} ms (${((elapsed / rounds) * 1000).toFixed(0)} µs each)`);
  } finally {
    bus.close();
    await partner.close();
  }
});
