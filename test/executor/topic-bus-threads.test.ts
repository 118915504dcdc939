/**
 * The topic bus across real threads: 3 pinned isolates and 1 pooled isolate, each publishing
 * numbered, checksummed messages (text and binary, some over 1 MiB-class sizes that take chunk
 * records) on five topics. Every pinned isolate gets every message of the topics it subscribed
 * to from every other publisher exactly once, in each publisher's order, nothing of its own,
 * and nothing of other topics.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { topicBucket } from '../../src/executor/topic-interest.ts';
import { TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { Peer } from './topic-bus-peers.ts';
import { sourceKey } from './topic-bus-support.ts';
import { END_TOPIC } from './topic-bus-worker.ts';

const PINNED = 3;
const POOLED = 1;
const COUNT = 1200;
const TOPICS = ['a', 'b', 'c', 'd', 'ñandú'];
/** What each pinned isolate subscribes to; nobody subscribes to 'd'. */
const SUBSCRIBE = [['a', 'b'], ['b', 'c', 'ñandú'], ['a', 'c']];

const peers: Peer[] = [];
after(async () => {
  await Promise.all(peers.map((p) => p.kill()));
});

test('3 pinned + 1 pooled: every subscribed message exactly once, in order, from every other publisher', { timeout: 300_000 }, async (t) => {
  const topology = new TopicBusTopology(PINNED, POOLED);
  const buckets = new Set([...TOPICS, END_TOPIC].map((topic) => topicBucket(topic, topology.buckets)));
  assert.equal(buckets.size, TOPICS.length + 1, 'the topics fall in different buckets, so no message should be unwanted');

  // Outboxes large enough for the whole run: this test is about delivery, not dropping.
  const options = { outboxBytes: 256 * 1024 * 1024, outboxMessages: 1_000_000 };
  const common = { options, publishOn: TOPICS, incarnation: 0, bigEvery: 97 };
  for (let k = 0; k < PINNED; k++) peers.push(new Peer(`pinned ${k}`, { ...common, bus: topology.forPinned(k), subscribe: SUBSCRIBE[k] ?? [] }));
  for (let j = 0; j < POOLED; j++) peers.push(new Peer(`pooled ${j}`, { ...common, bus: topology.forPooled(j), subscribe: [] }));
  await Promise.all(peers.map((p) => p.next('ready')));

  const started = performance.now();
  const published = await Promise.all(peers.map((p) => p.ask({ type: 'publish', count: COUNT, batch: 16, end: true }, 'published')));
  for (const [x, report] of published.entries()) {
    assert.equal(report.dropped, 0, `participant ${x} dropped nothing`);
    assert.equal(report.seq, COUNT + 1);
  }

  const participants = peers.map((_, x) => x);
  for (let k = 0; k < PINNED; k++) {
    const peer = peers[k] as Peer;
    const others = participants.filter((x) => x !== k);
    const report = await peer.ask({ type: 'ends', from: others }, 'ends');
    assert.deepEqual(report.errors, [], `pinned ${k}: no message lost its checksum, came twice, out of order, from itself or on a foreign topic`);
    const mine = new Set(SUBSCRIBE[k]);
    const wanted = Array.from({ length: COUNT }, (_, seq) => seq).filter((seq) => mine.has(TOPICS[seq % TOPICS.length] as string));
    const expected: Record<string, number> = {};
    const last: Record<string, number> = {};
    for (const x of others) {
      expected[sourceKey(x, 0)] = wanted.length;
      last[sourceKey(x, 0)] = wanted[wanted.length - 1] as number;
    }
    assert.deepEqual(report.received, expected, `pinned ${k}: every wanted message from every other publisher`);
    assert.deepEqual(report.lastSeq, last);
    assert.equal(report.unwanted, 0, `pinned ${k}: no record for a topic it did not subscribe to reached it`);
    assert.equal(report.incomplete, 0);
    assert.equal(report.delivered, wanted.length * others.length + others.length, 'the END messages too');
  }
  t.diagnostic(`${peers.length} × ${COUNT} messages published and checked in ${(performance.now() - started).toFixed(0)} ms`);
  await Promise.all(peers.map((p) => p.close()));
});
