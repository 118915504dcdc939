/**
 * WebSockets over HTTP/1.1 (RFC 6455 Upgrade) with real clients: `ws`, Node's built-in
 * WebSocket (undici), and raw frames for what no client sends. One server, one pinned worker.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type Server } from '../../src/index.ts';
import { GENERATED_ID } from '../helpers/ids.ts';
import { closeOf, closePayload, frame, inboxOf, Opcode, openWs, RawSocket, refusalOf } from './support.ts';

const APP = new URL('../fixtures/ws-app.ts', import.meta.url);

let server: Server;
let base: string;

before(async () => {
  server = await serve(APP, { host: '127.0.0.1', port: 0, pinnedWorkers: 1, logLevel: 'silent', handleSignals: false, gracePeriod: 2_000 });
  base = `ws://127.0.0.1:${server.port}`;
});

after(async () => {
  await server.close();
});

describe('messages', () => {
  test('text arrives as text and binary as binary, each answer to its own message', async () => {
    const ws = await openWs(`${base}/echo`);
    const inbox = inboxOf(ws);
    for (let i = 0; i < 50; i++) {
      if (i % 2 === 0) ws.send(`text ${i} é😀`);
      else ws.send(Buffer.from([i, 0, 255, i]));
    }
    for (let i = 0; i < 50; i++) {
      const message = await inbox.next();
      if (i % 2 === 0) {
        assert.equal(message.isBinary, false);
        assert.equal(message.text, `text ${i} é😀`);
      } else {
        assert.equal(message.isBinary, true);
        assert.deepEqual([...message.data], [i, 0, 255, i]);
      }
    }
    ws.close();
    await closeOf(ws);
  });

  test('a fragmented message is delivered whole', async () => {
    const ws = await openWs(`${base}/echo`);
    const inbox = inboxOf(ws);
    ws.send('first ', { fin: false });
    ws.send('second ', { fin: false });
    ws.send('third', { fin: true });
    assert.equal((await inbox.next()).text, 'first second third');
    ws.close();
  });

  test('1 MiB messages go both ways, byte for byte', async () => {
    const ws = await openWs(`${base}/echo`);
    const inbox = inboxOf(ws);
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 11)) & 0xff;
    ws.send(payload);
    const text = 'ab'.repeat(512 * 1024);
    ws.send(text);
    const first = await inbox.next();
    assert.equal(first.isBinary, true);
    assert.ok(first.data.equals(payload));
    assert.equal((await inbox.next()).text, text);
    ws.close();
  });

  test('a ping is answered with a pong carrying its data', async () => {
    const ws = await openWs(`${base}/echo`);
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping(Buffer.from('are you there'));
    assert.equal((await pong).toString(), 'are you there');
    ws.close();
  });

  test("Node's built-in WebSocket client echoes text and binary", async () => {
    const ws = new globalThis.WebSocket(`${base}/echo`);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const got: Array<string | ArrayBuffer> = [];
    const two = new Promise<void>((resolve) => {
      ws.onmessage = (event: MessageEvent) => {
        got.push(event.data as string | ArrayBuffer);
        if (got.length === 2) resolve();
      };
    });
    ws.send('undici');
    ws.send(new Uint8Array([9, 8, 7]));
    await two;
    assert.equal(got[0], 'undici');
    assert.deepEqual([...new Uint8Array(got[1] as ArrayBuffer)], [9, 8, 7]);
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    ws.close(4001, 'done');
    assert.equal((await closed).code, 4001);
  });
});

describe('closing', () => {
  test('the server closes with the code and reason the app asks for', async () => {
    const ws = await openWs(`${base}/close`);
    const closed = closeOf(ws);
    ws.send('4321:app reason');
    assert.deepEqual(await closed, { code: 4321, reason: 'app reason' });
  });

  test('the close handler hears the code and reason the client closed with', async () => {
    const first = await openWs(`${base}/closes`);
    const closed = closeOf(first);
    first.close(4100, 'client reason');
    await closed;
    // The close handler runs on the server once the closing handshake is done.
    let seen: Array<{ code: number; reason: string }> = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      const probe = await openWs(`${base}/closes`);
      seen = JSON.parse((await inboxOf(probe).next()).text) as typeof seen;
      probe.terminate();
      if (seen.some((c) => c.code === 4100)) break;
      await sleep(20);
    }
    assert.deepEqual(seen.find((c) => c.code === 4100), { code: 4100, reason: 'client reason' });
  });

  test('a connection that just ends is heard as 1006', async () => {
    const ws = await openWs(`${base}/closes`);
    await inboxOf(ws).next();
    ws.terminate();
    let seen: Array<{ code: number; reason: string }> = [];
    for (let attempt = 0; attempt < 50 && !seen.some((c) => c.code === 1006); attempt++) {
      await sleep(20);
      const probe = await openWs(`${base}/closes`);
      seen = JSON.parse((await inboxOf(probe).next()).text) as typeof seen;
      probe.terminate();
    }
    assert.ok(seen.some((c) => c.code === 1006), JSON.stringify(seen));
  });
});

describe('handshake', () => {
  test('the subprotocol is the first of the route’s that the client offers', async () => {
    const both = await openWs(`${base}/info/1`, ['chat', 'chat.v2']);
    assert.equal(both.protocol, 'chat.v2');
    assert.equal(JSON.parse((await inboxOf(both).next()).text).protocol, 'chat.v2');
    both.close();
    const one = await openWs(`${base}/info/2`, ['other', 'chat']);
    assert.equal(one.protocol, 'chat');
    one.close();
    // Offering only subprotocols the route does not speak is refused: the client would fail the
    // connection anyway (RFC 6455 §4.1, and the WHATWG WebSocket standard) for want of one.
    const none = await refusalOf(`${base}/info/3`, undefined, ['other']);
    assert.equal(none.status, 400);
    assert.match(none.body, /chat\.v2, chat/);
    assert.equal((await refusalOf(`${base}/echo`, undefined, ['chat'])).status, 400);
    // Offering none at all is fine.
    const plain = await openWs(`${base}/info/4`);
    assert.equal(plain.protocol, '');
    assert.equal(JSON.parse((await inboxOf(plain).next()).text).protocol, '');
    plain.close();
  });

  test('params, query and headers reach open', async () => {
    const ws = await openWs(`${base}/info/42?room=a&x=1`, undefined, { headers: { 'user-agent': 'wstest/1' } });
    const info = JSON.parse((await inboxOf(ws).next()).text);
    assert.deepEqual(info.params, { id: '42' });
    assert.deepEqual(info.query, { room: 'a', x: '1' });
    assert.equal(info.transport, 'http/1.1');
    assert.equal(info.isolate, 'pinned');
    assert.equal(info.ua, 'wstest/1');
    ws.close();
  });

  test('permessage-deflate is agreed where the route has compression, and only there', async () => {
    const compressed = await openWs(`${base}/deflate`, undefined, { perMessageDeflate: { threshold: 0 } });
    assert.match(compressed.extensions, /permessage-deflate/);
    const inbox = inboxOf(compressed);
    const text = 'compress me '.repeat(100_000);
    compressed.send(text);
    assert.equal((await inbox.next()).text, text);
    compressed.close();
    const plain = await openWs(`${base}/echo`, undefined, { perMessageDeflate: true });
    assert.equal(plain.extensions, '');
    plain.close();
  });

  test('an upgrade check that throws an HttpError, or returns false, refuses with its status', async () => {
    const noToken = await refusalOf(`${base}/guarded`);
    assert.equal(noToken.status, 401);
    assert.match(noToken.body, /a token is needed/);
    assert.equal((await refusalOf(`${base}/guarded`, { headers: { authorization: 'Bearer bad' } })).status, 403);
    const ws = await openWs(`${base}/guarded`, undefined, { headers: { authorization: 'Bearer good' } });
    assert.equal((await inboxOf(ws).next()).text, 'welcome');
    ws.close();
  });

  test('the origin allow-list refuses other origins with 403 and lets listed ones and origin-less clients in', async () => {
    const auth = { authorization: 'Bearer good' };
    assert.equal((await refusalOf(`${base}/guarded`, { headers: auth, origin: 'https://evil.example.com' })).status, 403);
    assert.equal((await refusalOf(`${base}/guarded`, { headers: auth, origin: 'https://app.example.com.evil.com' })).status, 403);
    const listed = await openWs(`${base}/guarded`, undefined, { headers: auth, origin: 'https://app.example.com' });
    listed.close();
    const originless = await openWs(`${base}/guarded`, undefined, { headers: auth });
    originless.close();
  });

  test('an open that throws answers 500 with an error id; one that throws an HttpError answers its status', async () => {
    const crashed = await refusalOf(`${base}/open-throws`);
    assert.equal(crashed.status, 500);
    assert.match(JSON.parse(crashed.body).errorId, GENERATED_ID);
    const full = await refusalOf(`${base}/open-http`);
    assert.equal(full.status, 409);
    assert.equal(JSON.parse(full.body).detail, 'room is full');
    // The worker lives on.
    const ws = await openWs(`${base}/echo`);
    ws.close();
  });

  test('a path without a WebSocket route is 404; an HTTP route on the same server still answers', async () => {
    assert.equal((await refusalOf(`${base}/nowhere`)).status, 404);
    assert.equal((await refusalOf(`${base}/plain`)).status, 404);
    const res = await fetch(`http://127.0.0.1:${server.port}/plain`);
    assert.equal(await res.text(), 'plain');
  });

  test('a version other than 13 is refused with 426 and the version this server speaks', async () => {
    const refused = await refusalOf(`${base}/echo`, { protocolVersion: 8 });
    assert.equal(refused.status, 426);
    assert.equal(refused.headers['sec-websocket-version'], '13');
  });
});

describe('limits', () => {
  test('a message of exactly maxPayload is taken; one byte more closes the socket with 1009', async () => {
    const ws = await openWs(`${base}/small`);
    const inbox = inboxOf(ws);
    ws.send(Buffer.alloc(1024, 1));
    assert.equal((await inbox.next()).data.length, 1024);
    const closed = closeOf(ws);
    ws.send(Buffer.alloc(1025, 1));
    assert.equal((await closed).code, 1009);
  });

  test('past sendBufferLimit send() says false and drain follows; past twice the limit the socket closes with 1008', async () => {
    // A client that does not read: the server sends until send() says false, which happens once
    // the kernel's buffers are full and 64 KiB more wait in the process.
    const ws = await openWs(`${base}/flood`);
    const inbox = inboxOf(ws);
    const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    ws.send('stop:100000:4096');
    await sleep(300);
    socket.resume();
    let received = 0;
    let last = '';
    for (;;) {
      last = (await inbox.next()).text;
      if (last.startsWith('drained:')) break;
      assert.equal(last.length, 4096);
      received++;
    }
    const sent = Number(last.slice('drained:'.length));
    assert.ok(sent < 100000, 'send() never said false');
    assert.equal(received, sent, 'drain came before every message sent had been taken, or a message was lost');

    // An app that ignores false: past twice the limit the socket is closed.
    const slow = await openWs(`${base}/flood`);
    const closed = closeOf(slow);
    const slowSocket = (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    slowSocket.pause();
    slow.send('ignore:100000:4096');
    await sleep(300);
    slowSocket.resume();
    assert.equal((await closed).code, 1008);
  });

  test('a silent client is pinged, and one that never answers is cut within idleTimeout', async () => {
    const raw = await RawSocket.open(server.port, '/idle');
    const began = Date.now();
    const ping = await raw.nextFrame();
    assert.equal(ping?.opcode, Opcode.PING);
    // Answering keeps it open past the timeout.
    raw.write(frame(Opcode.PONG, ping?.payload));
    const second = await raw.nextFrame();
    assert.equal(second?.opcode, Opcode.PING);
    assert.ok(Date.now() - began >= 350, 'pinged again before half the timeout had passed twice');
    // Not answering: cut without a close frame.
    await raw.ended();
    assert.ok(Date.now() - began >= 550);
  });
});

describe('malformed frames close with the RFC’s code and the worker lives', () => {
  const cases: Array<[string, Buffer, number]> = [
    ['an unmasked client frame', frame(Opcode.TEXT, Buffer.from('hi'), { mask: false }), 1002],
    ['an unknown opcode', frame(0x3, Buffer.from('x')), 1002],
    ['invalid UTF-8 in a text message', frame(Opcode.TEXT, Buffer.from([0xc3, 0x28])), 1007],
    ['a control frame over 125 bytes', frame(Opcode.PING, Buffer.alloc(126)), 1002],
    ['a fragmented control frame', frame(Opcode.PING, Buffer.from('x'), { fin: false }), 1002],
    ['a reserved bit without an extension', frame(Opcode.TEXT, Buffer.from('x'), { rsv: 4 }), 1002],
    ['a continuation with nothing to continue', frame(Opcode.CONTINUATION, Buffer.from('x')), 1002],
    ['a close code that may not be sent (1005)', frame(Opcode.CLOSE, closePayload(1005)), 1002],
    ['a close code out of range (999)', frame(Opcode.CLOSE, closePayload(999)), 1002],
    ['a close frame of one byte', frame(Opcode.CLOSE, Buffer.from([3])), 1002],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name}: ${code}`, async () => {
      const raw = await RawSocket.open(server.port, '/echo');
      raw.write(bytes);
      assert.equal(await raw.closeCode(), code);
    });
  }

  test('after all of them, a fresh socket still echoes', async () => {
    const ws = await openWs(`${base}/echo`);
    const inbox = inboxOf(ws);
    ws.send('still here');
    assert.equal((await inbox.next()).text, 'still here');
    ws.close();
  });
});

describe('handlers that throw', () => {
  test('a message handler that throws closes its socket with 1011; others go on', async () => {
    const bystander = await openWs(`${base}/message-throws`);
    const bystanderInbox = inboxOf(bystander);
    const ws = await openWs(`${base}/message-throws`);
    const inbox = inboxOf(ws);
    ws.send('fine');
    assert.equal((await inbox.next()).text, 'ok:fine');
    const closed = closeOf(ws);
    ws.send('boom');
    const { code, reason } = await closed;
    assert.equal(code, 1011);
    assert.match(reason, new RegExp(`^internal error ${GENERATED_ID.source.slice(1, -1)}$`));
    bystander.send('after');
    assert.equal((await bystanderInbox.next()).text, 'ok:after');
    bystander.close();
  });
});

describe('publish and subscribe on one isolate', () => {
  test('ws.publish reaches every other subscriber once, and app.publish reaches all of them', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openWs(`${base}/room/lobby`)));
    const inboxes = sockets.map((ws) => inboxOf(ws));
    for (const inbox of inboxes) assert.match((await inbox.next()).text, /^joined:0$/);
    const other = await openWs(`${base}/room/elsewhere`);
    const otherInbox = inboxOf(other);
    await otherInbox.next();

    sockets[0]?.send('from zero');
    for (const inbox of inboxes.slice(1)) assert.equal((await inbox.next()).text, 'from zero');
    const res = await fetch(`http://127.0.0.1:${server.port}/publish/lobby`, { method: 'POST', body: 'from the app' });
    assert.equal(res.status, 200);
    for (const inbox of inboxes) assert.equal((await inbox.next()).text, 'from the app');
    await sleep(100);
    for (const inbox of inboxes) assert.equal(inbox.queued, 0, 'a message arrived twice, or where it should not');
    assert.equal(otherInbox.count, 1, 'another room got the lobby’s messages');
    for (const ws of [...sockets, other]) ws.close();
  });

  test('a closed socket is unsubscribed', async () => {
    const leaving = await openWs(`${base}/room/leave`);
    await inboxOf(leaving).next();
    const staying = await openWs(`${base}/room/leave`);
    const inbox = inboxOf(staying);
    await inbox.next();
    const closed = closeOf(leaving);
    leaving.close();
    await closed;
    await sleep(50);
    await fetch(`http://127.0.0.1:${server.port}/publish/leave`, { method: 'POST', body: 'one' });
    assert.equal((await inbox.next()).text, 'one');
    staying.close();
  });
});
