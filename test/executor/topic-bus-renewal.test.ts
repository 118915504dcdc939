/**
 * Replacement across real threads. Two pinned isolates and one pooled isolate publish all the
 * time; one pinned subscriber is terminated (as a crash would end it) and replaced on fresh
 * rings, then the pooled isolate is. Publishers keep publishing throughout, the replacements
 * receive new messages and are received, and no subscriber ever sees a message twice or out of
 * its publisher's order.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InterestTable } from '../../src/executor/topic-interest.ts';
import { type TopicPeerUpdate, TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { Peer } from './topic-bus-peers.ts';
import { sourceKey } from './topic-bus-support.ts';
import type { PeerData } from './topic-bus-worker.ts';

const SOME = 40;

const peers: Peer[] = [];
after(async () => {
  await Promise.all(peers.map((p) => p.kill()));
});

function start(name: string, data: PeerData): Peer {
  const peer = new Peer(name, data);
  peers.push(peer);
  return peer;
}

/** Resolves once `peer` has `count` messages from `publisher`'s incarnation `incarnation`. */
async function receives(peer: Peer, publisher: number, incarnation: number, count = SOME): Promise<void> {
  const reached = peer.next('reached');
  peer.send({ type: 'expect', key: sourceKey(publisher, incarnation), count });
  await reached;
}

async function renew(peer: Peer, update: TopicPeerUpdate | null | undefined): Promise<boolean> {
  assert.ok(update !== null && update !== undefined, `an update for ${peer.name}`);
  const renewed = peer.next('renewed');
  peer.send({ type: 'renew', update });
  return (await renewed).applied;
}

test('a pinned and then a pooled isolate replaced on fresh rings while everyone publishes', { timeout: 300_000 }, async () => {
  const topology = new TopicBusTopology(2, 1, { ringSize: 64 * 1024 });
  const table = new InterestTable(topology.interest, topology.buckets, 2);
  const common = { publishOn: ['t'], bigEvery: 0 };
  const pinned1 = start('pinned 1', { ...common, bus: topology.forPinned(1), subscribe: ['t'], incarnation: 0 });
  let pinned0 = start('pinned 0', { ...common, bus: topology.forPinned(0), subscribe: ['t'], incarnation: 0 });
  let pooled0 = start('pooled 0', { ...common, bus: topology.forPooled(0), subscribe: [], incarnation: 0 });
  await Promise.all(peers.map((p) => p.next('ready')));
  for (const peer of peers) peer.send({ type: 'run', batch: 3 });
  await Promise.all([receives(pinned0, 1, 0), receives(pinned0, 2, 0), receives(pinned1, 0, 0), receives(pinned1, 2, 0)]);

  // Pinned 0 crashes; the others keep publishing into its old rings until they hear of the new ones.
  await pinned0.kill();
  const bucket = table.bucketOf('t');
  assert.equal(table.count(bucket, 0), 1, 'the dead isolate still looks subscribed');
  const updates = topology.renewPinned(0);
  assert.equal(table.count(bucket, 0), 0, 'renewal zeroed its interest');
  assert.equal(updates[0], null);
  assert.equal(await renew(pinned1, updates[1]), true);
  assert.equal(await renew(pooled0, updates[2]), true);
  assert.equal(await renew(pinned1, updates[1]), false, 'the same update twice changes nothing');
  pinned0 = start('pinned 0 again', { ...common, bus: topology.forPinned(0), subscribe: ['t'], incarnation: 1 });
  await pinned0.next('ready');
  pinned0.send({ type: 'run', batch: 3 });
  await Promise.all([receives(pinned0, 1, 0), receives(pinned0, 2, 0), receives(pinned1, 0, 1)]);

  // Then the pooled isolate.
  await pooled0.kill();
  const pooledUpdates = topology.renewPooled(0);
  assert.equal(pooledUpdates[2], null, 'a pooled isolate needs no news of another');
  assert.equal(await renew(pinned0, pooledUpdates[0]), true);
  assert.equal(await renew(pinned1, pooledUpdates[1]), true);
  pooled0 = start('pooled 0 again', { ...common, bus: topology.forPooled(0), subscribe: [], incarnation: 1 });
  await pooled0.next('ready');
  pooled0.send({ type: 'run', batch: 3 });
  await Promise.all([receives(pinned0, 2, 1), receives(pinned1, 2, 1), receives(pinned0, 1, 0, 2 * SOME)]);

  const reports = await Promise.all([pinned0, pinned1, pooled0].map((p) => p.ask({ type: 'stop' }, 'stopped')));
  for (const [i, report] of reports.entries()) assert.deepEqual(report.errors, [], `participant ${i}: no duplicate, no reordering, no bad checksum`);
  const [first, second] = reports;
  assert.ok((second?.received[sourceKey(0, 0)] ?? 0) >= SOME && (second?.received[sourceKey(0, 1)] ?? 0) >= SOME, 'pinned 1 heard both incarnations of pinned 0');
  assert.ok((first?.received[sourceKey(2, 1)] ?? 0) >= SOME, 'the new pinned 0 heard the new pooled 0');
  await Promise.all(peers.map((p) => p.close()));
});
