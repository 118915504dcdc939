/**
 * Publish/subscribe across isolates: 200 sockets spread over 2 pinned workers (both hold some),
 * and a publish from an HTTP handler, from a socket, or from a pooled isolate reaches every
 * subscriber exactly once, in the publisher's order, text as text and bytes as bytes.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';
import { serve, type Server } from '../../src/index.ts';
import { inboxOf, openWs, type Inbox } from './support.ts';

const APP = new URL('../fixtures/ws-app.ts', import.meta.url);
const SOCKETS = 200;

let server: Server;
let sockets: WebSocket[];
let inboxes: Inbox[];
let isolates: number[];

before(async () => {
  server = await serve(APP, { host: '127.0.0.1', port: 0, pinnedWorkers: 2, pooledWorkers: 2, pooledIsolates: 1, logLevel: 'silent', handleSignals: false, gracePeriod: 2_000 });
  sockets = [];
  // Fresh connections are spread by the kernel's reuseport hash; keep opening until both
  // workers hold some (200 on one of two would be a bug, not bad luck).
  for (let i = 0; i < SOCKETS; i++) sockets.push(await openWs(`ws://127.0.0.1:${server.port}/room/all`));
  inboxes = sockets.map(inboxOf);
  isolates = [];
  for (const inbox of inboxes) isolates.push(Number((await inbox.next()).text.slice('joined:'.length)));
});

after(async () => {
  for (const ws of sockets) ws.terminate();
  await server.close();
});

/** After a publish, every inbox but `except` holds exactly the messages `expected`, and nothing more comes. */
async function expectEveryone(expected: Array<string | number[]>, except: number | null = null): Promise<void> {
  for (const [i, inbox] of inboxes.entries()) {
    if (i === except) continue;
    for (const want of expected) {
      const got = await inbox.next();
      if (typeof want === 'string') {
        assert.equal(got.isBinary, false, `socket ${i} got bytes for text`);
        assert.equal(got.text, want, `socket ${i} (isolate ${isolates[i]})`);
      } else {
        assert.equal(got.isBinary, true);
        assert.deepEqual([...got.data], want);
      }
    }
  }
  await sleep(200);
  for (const [i, inbox] of inboxes.entries()) assert.equal(inbox.queued, 0, `socket ${i} got a message twice, or one meant for no one`);
}

test('the sockets are on both pinned workers', () => {
  const counts = [0, 1].map((k) => isolates.filter((i) => i === k).length);
  assert.ok(counts[0]! > 0 && counts[1]! > 0, `sockets per worker: ${counts.join(', ')}`);
});

test('app.publish from an HTTP handler reaches all 200 subscribers exactly once', async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/publish/all`, { method: 'POST', body: 'to everyone' });
  assert.equal(res.status, 200);
  await expectEveryone(['to everyone']);
});

test('ws.publish from one socket reaches the 199 others once each, in the order sent', async () => {
  const sender = 7;
  const messages = Array.from({ length: 30 }, (_, n) => `from seven #${n}`);
  for (const message of messages) sockets[sender]?.send(message);
  await expectEveryone(messages, sender);
});

test('a pooled isolate publishes too, text and bytes', async () => {
  const text = await fetch(`http://127.0.0.1:${server.port}/publish-pooled/all`, { method: 'POST', body: 'from the pool' });
  assert.equal(((await text.json()) as { isolate: string }).isolate, 'pooled');
  await expectEveryone(['from the pool']);
  const bytes = await fetch(`http://127.0.0.1:${server.port}/publish-pooled/all?binary=1`, { method: 'POST', body: 'AB' });
  assert.equal(bytes.status, 200);
  await expectEveryone([[65, 66]]);
});

test('a socket that leaves gets nothing more; a room no one is in gets nothing', async () => {
  const leaving = sockets.pop() as WebSocket;
  inboxes.pop();
  isolates.pop();
  leaving.close();
  await sleep(100);
  await fetch(`http://127.0.0.1:${server.port}/publish/empty-room`, { method: 'POST', body: 'nobody' });
  await fetch(`http://127.0.0.1:${server.port}/publish/all`, { method: 'POST', body: 'after one left' });
  await expectEveryone(['after one left']);
});
