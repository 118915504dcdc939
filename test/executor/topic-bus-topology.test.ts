/**
 * TopicBusTopology: one ring per (participant, other pinned isolate), what each participant is
 * given, exactly which rings a renewal replaces, and updates that are applied once and only
 * when newer than what a bus knows.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { TopicBus } from '../../src/executor/topic-bus.ts';
import { type TopicBusData, TopicBusTopology } from '../../src/executor/topic-topology.ts';
import { Inbox } from './topic-bus-support.ts';

const P = 3;
const M = 2;
const RING = 4096;

let open: TopicBus[] = [];
afterEach(() => {
  for (const bus of open) bus.close();
  open = [];
});

/** Every ring, as [from participant, to pinned] → buffer, read from what the participants are given. */
function rings(topology: TopicBusTopology): Map<string, SharedArrayBuffer> {
  const out = new Map<string, SharedArrayBuffer>();
  const all: TopicBusData[] = [
    ...Array.from({ length: P }, (_, k) => topology.forPinned(k)),
    ...Array.from({ length: M }, (_, j) => topology.forPooled(j)),
  ];
  for (const data of all) {
    data.outgoing.forEach((ring, k) => {
      if (ring !== null) out.set(`${data.self}→${k}`, ring);
    });
  }
  // What each pinned isolate reads is what the others write to it.
  for (let k = 0; k < P; k++) {
    topology.forPinned(k).incoming.forEach((ring, x) => {
      if (x === k) assert.equal(ring, null);
      else assert.equal(ring, out.get(`${x}→${k}`), `ring ${x}→${k} is the same buffer at both ends`);
    });
  }
  return out;
}

/** The keys of the rings that are different buffers in `after` than in `before`. */
function renewed(before: Map<string, SharedArrayBuffer>, after: Map<string, SharedArrayBuffer>): string[] {
  return [...after].filter(([key, ring]) => before.get(key) !== ring).map(([key]) => key).sort();
}

describe('TopicBusTopology', () => {
  test('P × (P + M − 1) distinct rings of the ring size, and what each participant is given', () => {
    const topology = new TopicBusTopology(P, M, { ringSize: RING, buckets: 8 });
    const all = rings(topology);
    assert.equal(all.size, P * (P + M - 1));
    assert.equal(new Set(all.values()).size, all.size, 'no two pairs share a ring');
    for (const ring of all.values()) assert.equal(ring.byteLength, 128 + RING);
    const pinned = topology.forPinned(1);
    assert.deepEqual({ self: pinned.self, outgoing: pinned.outgoing.length, incoming: pinned.incoming.length }, { self: 1, outgoing: P, incoming: P + M });
    assert.equal(pinned.outgoing[1], null);
    const pooled = topology.forPooled(1);
    assert.deepEqual({ self: pooled.self, outgoing: pooled.outgoing.length, incoming: pooled.incoming.length }, { self: P + 1, outgoing: P, incoming: 0 });
    assert.equal(topology.pooledId(1), P + 1);
    assert.deepEqual(pooled.generations, [0, 0, 0, 0, 0]);
    assert.equal(pooled.doorbells, pinned.doorbells);
    assert.equal(pooled.interest, pinned.interest);
  });

  test('renewPinned replaces exactly the row and column of that isolate, and says so to each other participant', () => {
    const topology = new TopicBusTopology(P, M, { ringSize: RING, buckets: 8 });
    const before = rings(topology);
    const updates = topology.renewPinned(1);
    const after = rings(topology);
    assert.deepEqual(renewed(before, after), ['0→1', '1→0', '1→2', '2→1', '3→1', '4→1']);
    assert.equal(updates[1], null);
    for (const x of [0, 2]) assert.deepEqual(updates[x], { peer: 1, generation: 1, outgoing: after.get(`${x}→1`), incoming: after.get(`1→${x}`) });
    for (const x of [3, 4]) assert.deepEqual(updates[x], { peer: 1, generation: 1, outgoing: after.get(`${x}→1`), incoming: null });
    assert.equal(topology.forPinned(0).generations[1], 1);
    assert.equal(topology.renewPinned(1)[0]?.generation, 2);
  });

  test('renewPooled replaces exactly that isolate row, and tells only the pinned isolates', () => {
    const topology = new TopicBusTopology(P, M, { ringSize: RING, buckets: 8 });
    const before = rings(topology);
    const updates = topology.renewPooled(0);
    const after = rings(topology);
    assert.deepEqual(renewed(before, after), ['3→0', '3→1', '3→2']);
    for (let k = 0; k < P; k++) assert.deepEqual(updates[k], { peer: 3, generation: 1, outgoing: null, incoming: after.get(`3→${k}`) });
    assert.deepEqual([updates[3], updates[4]], [null, null]);
  });

  test('refuses counts that are not whole numbers', () => {
    assert.throws(() => new TopicBusTopology(-1, 0), RangeError);
    assert.throws(() => new TopicBusTopology(2, 0.5), RangeError);
    assert.throws(() => new TopicBusTopology(2, 1, { ringSize: 1000 }), RangeError);
  });
});

describe('peer updates', () => {
  test('a bus that started on the renewed rings ignores the update about them; another applies it once', async () => {
    const topology = new TopicBusTopology(2, 1, { ringSize: RING, buckets: 8 });
    const pooled = new TopicBus(topology.forPooled(0));
    open.push(pooled);
    const updates = topology.renewPinned(1);
    const inbox = new Inbox();
    const replacement = new TopicBus(topology.forPinned(1), { deliver: inbox.deliver });
    open.push(replacement);
    const update = updates[0];
    assert.ok(update !== null && update !== undefined);
    assert.equal(replacement.peerRenewed({ ...update, peer: 1 }), false, 'news about itself');
    assert.equal(pooled.peerRenewed(updates[2] as NonNullable<typeof update>), true);
    assert.equal(pooled.peerRenewed(updates[2] as NonNullable<typeof update>), false);
    replacement.subscribed('t');
    pooled.publish('t', 'on the fresh ring');
    await inbox.reach(1);
    assert.deepEqual(inbox.items, [['t', 'on the fresh ring']]);

    const late = topology.forPinned(0);
    const old = new TopicBus(late, { deliver: () => {} });
    open.push(old);
    assert.equal(old.peerRenewed(update), false, 'a participant started after the renewal already has those rings');
  });

  test('a subscriber reads what a replaced publisher made visible before it exited, then the fresh ring', async () => {
    const topology = new TopicBusTopology(2, 1, { ringSize: RING, buckets: 8 });
    const inbox = new Inbox();
    const subscriber = new TopicBus(topology.forPinned(0), { deliver: inbox.deliver });
    let pooled = new TopicBus(topology.forPooled(0));
    open.push(subscriber, pooled);
    subscriber.subscribed('t');
    pooled.publish('t', 'before');
    pooled.close(); // publishes what it committed, as a thread's last turn would
    const updates = topology.renewPooled(0);
    assert.equal(subscriber.peerRenewed(updates[0] as NonNullable<(typeof updates)[0]>), true);
    pooled = new TopicBus(topology.forPooled(0));
    open.push(pooled);
    pooled.publish('t', 'after');
    await inbox.reach(2);
    assert.deepEqual(inbox.items, [['t', 'before'], ['t', 'after']]);
  });
});
