/**
 * WebSockets across the server's life: a graceful shutdown closes every socket with 1001 (over
 * HTTP/1.1 and HTTP/2) and then finishes; a pinned worker that dies takes only its own sockets
 * down (their clients see 1006), the other worker's stay open, and reconnecting works at once.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serve } from '../../src/index.ts';
import { nextWorkerEvent } from '../helpers/events.ts';
import { closeOf, h2Session, inboxOf, openH2, openWs } from './support.ts';

const APP = new URL('../fixtures/ws-app.ts', import.meta.url);
const COMMON = { host: '127.0.0.1', port: 0, logLevel: 'silent', handleSignals: false } as const;

test('a graceful shutdown closes every socket with 1001, over HTTP/1.1 and HTTP/2, and finishes', async () => {
  const server = await serve(APP, { ...COMMON, pinnedWorkers: 2, gracePeriod: 5_000 });
  const h1 = await Promise.all(Array.from({ length: 10 }, () => openWs(`ws://127.0.0.1:${server.port}/echo`)));
  const { session } = await h2Session(server.url);
  const opened = await openH2(session, '/echo');
  assert.equal(opened.status, 200);
  const h2 = opened.ws as import('ws').WebSocket;
  const closes = [...h1, h2].map(closeOf);
  const began = Date.now();
  await server.close();
  const codes = (await Promise.all(closes)).map((c) => c.code);
  assert.deepEqual(codes, Array.from({ length: 11 }, () => 1001));
  // The clients answered the close at once: the shutdown did not wait out the grace period.
  assert.ok(Date.now() - began < 4_000, `the shutdown took ${Date.now() - began} ms`);
  session.destroy();
});

test('a pinned worker that dies ends its own sockets (1006); the others stay open and reconnecting works', async () => {
  const server = await serve(APP, { ...COMMON, pinnedWorkers: 2, gracePeriod: 2_000 });
  try {
    const url = `ws://127.0.0.1:${server.port}/room/crash`;
    // Sockets on both workers (the kernel spreads fresh connections).
    const sockets: Array<{ ws: import('ws').WebSocket; isolate: number }> = [];
    for (let i = 0; i < 60 && new Set(sockets.map((s) => s.isolate)).size < 2; i++) {
      const ws = await openWs(url);
      const joined = (await inboxOf(ws).next()).text;
      sockets.push({ ws, isolate: Number(joined.slice('joined:'.length)) });
    }
    for (let i = 0; i < 10; i++) {
      const ws = await openWs(url);
      sockets.push({ ws, isolate: Number((await inboxOf(ws).next()).text.slice('joined:'.length)) });
    }
    const victims = sockets.filter((s) => s.isolate === sockets[0]?.isolate);
    const survivors = sockets.filter((s) => s.isolate !== sockets[0]?.isolate);
    assert.ok(survivors.length > 0, 'every socket landed on one worker');
    const victimCloses = victims.map((s) => closeOf(s.ws));
    let survivorClosed = false;
    for (const s of survivors) s.ws.once('close', () => (survivorClosed = true));
    const exited = nextWorkerEvent('exit', server.port);
    const nextReady = nextWorkerEvent('ready', server.port, (event) => event.kind === 'pinned');
    victims[0]?.ws.send('exit');
    assert.equal((await exited).exitCode, 3);
    for (const closed of await Promise.all(victimCloses)) assert.equal(closed.code, 1006);
    // A fresh socket opens at once (the surviving worker, or the replacement).
    const again = await openWs(url);
    assert.match((await inboxOf(again).next()).text, /^joined:\d$/);
    again.close();
    assert.equal(survivorClosed, false, 'a socket of the surviving worker was closed');
    for (const s of survivors) assert.equal(s.ws.readyState, s.ws.OPEN);

    // The replacement is on the topic bus: what it publishes reaches the survivor's sockets,
    // and what they publish reaches its sockets, on the rings renewed for it.
    const victimIndex = sockets[0]?.isolate as number;
    await nextReady;
    let fresh: import('ws').WebSocket | null = null;
    for (let i = 0; i < 100 && fresh === null; i++) {
      const ws = await openWs(url);
      const joined = Number((await inboxOf(ws).next()).text.slice('joined:'.length));
      if (joined === victimIndex) fresh = ws;
      else ws.close();
    }
    assert.ok(fresh !== null, 'no socket reached the replacement');
    for (const s of survivors) while (inboxOf(s.ws).queued > 0) await inboxOf(s.ws).next();
    fresh.send('from the replacement');
    for (const s of survivors) assert.equal((await inboxOf(s.ws).next()).text, 'from the replacement');
    survivors[0]?.ws.send('to the replacement');
    assert.equal((await inboxOf(fresh).next()).text, 'to the replacement');
    fresh.close();
    for (const s of survivors) s.ws.close();
  } finally {
    await server.close();
  }
});
