/**
 * WebSockets over HTTP/2 (RFC 8441 extended CONNECT), on h2c and TLS: the server advertises
 * SETTINGS_ENABLE_CONNECT_PROTOCOL only where the app has WebSocket routes, a CONNECT with
 * `:protocol: websocket` opens the socket on its stream, refusals are HTTP statuses on the
 * stream, and the other streams of the session go on meanwhile. The client is node:http2 with
 * ws's client framing over the stream (support.ts).
 */

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { serve, type Server } from '../../src/index.ts';
import { TLS_CERT, TLS_KEY } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';
import { closeOf, h2Session, inboxOf, openH2, openWs } from './support.ts';

const APP = new URL('../fixtures/ws-app.ts', import.meta.url);

let server: Server;
let session: http2.ClientHttp2Session;

before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, withTls: false }, APP);
  const opened = await h2Session(server.url);
  session = opened.session;
  assert.equal(opened.enableConnectProtocol, true, 'SETTINGS_ENABLE_CONNECT_PROTOCOL was not advertised');
});

after(async () => {
  session.close();
  await server.close();
});

/** The socket of a CONNECT that must succeed, with its messages collected from the start. */
async function open(path: string, headers?: Record<string, string>): Promise<import('ws').WebSocket> {
  const opened = await openH2(session, path, headers);
  assert.equal(opened.status, 200, opened.body);
  return opened.ws as import('ws').WebSocket;
}

describe('over h2c', () => {
  test('echo of text and binary, each answer to its own message, 1 MiB included', async () => {
    const ws = await open('/echo');
    const inbox = inboxOf(ws);
    ws.send('über h2');
    ws.send(Buffer.from([1, 2, 3]));
    const big = Buffer.alloc(1024 * 1024, 7);
    ws.send(big);
    const text = await inbox.next();
    assert.equal(text.text, 'über h2');
    assert.equal(text.isBinary, false);
    assert.deepEqual([...(await inbox.next()).data], [1, 2, 3]);
    assert.ok((await inbox.next()).data.equals(big));
    const closed = closeOf(ws);
    ws.close(4000, 'bye');
    assert.equal((await closed).code, 4000);
  });

  test('the socket knows it is on HTTP/2; subprotocol, params and query are as over HTTP/1.1', async () => {
    const opened = await openH2(session, '/info/5?q=x', { 'sec-websocket-protocol': 'chat, chat.v2' });
    assert.equal(opened.status, 200);
    assert.equal(opened.headers['sec-websocket-protocol'], 'chat.v2');
    assert.equal(opened.headers['sec-websocket-accept'], undefined, 'HTTP/2 has no Sec-WebSocket-Accept');
    const ws = opened.ws as import('ws').WebSocket;
    const info = JSON.parse((await inboxOf(ws).next()).text);
    assert.equal(info.transport, 'h2');
    assert.deepEqual(info.params, { id: '5' });
    assert.deepEqual(info.query, { q: 'x' });
    ws.close();
  });

  test('a WebSocket and ordinary requests share one session', async () => {
    const ws = await open('/echo');
    const inbox = inboxOf(ws);
    const plain = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/plain' });
      let body = '';
      stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
      stream.on('end', () => resolve(body));
      stream.on('error', reject);
    });
    assert.equal(plain, 'plain');
    ws.send('still open');
    assert.equal((await inbox.next()).text, 'still open');
    ws.close();
  });

  test('refusals are HTTP statuses on the stream, and the session lives on', async () => {
    const opened = await openH2(session, '/open-http');
    assert.equal(opened.status, 409);
    assert.equal(JSON.parse(opened.body).detail, 'room is full');
    assert.equal((await openH2(session, '/nowhere')).status, 404);
    assert.equal((await openH2(session, '/echo', { 'sec-websocket-version': '12' })).status, 426);
    assert.equal((await openH2(session, '/guarded', { authorization: 'Bearer good', origin: 'https://evil.example.com' })).status, 403);
    const ws = await open('/echo');
    ws.close();
  });

  test('maxPayload: exactly the limit is taken, one byte more closes with 1009', async () => {
    const ws = await open('/small');
    const inbox = inboxOf(ws);
    ws.send(Buffer.alloc(1024));
    assert.equal((await inbox.next()).data.length, 1024);
    const closed = closeOf(ws);
    ws.send(Buffer.alloc(1025));
    assert.equal((await closed).code, 1009);
  });

  test('a burst of publishes reaches subscribers over HTTP/2 and HTTP/1.1 alike, each message once, in order', async () => {
    // Deliveries made in one turn leave a socket in one write (socket.ts corks them): a burst
    // sent by one client in one go must still reach every subscriber whole, in order, on
    // HTTP/2 streams as on TCP sockets, interleaved with what the socket is sent directly.
    const h2 = await Promise.all(Array.from({ length: 3 }, () => open('/room/burst')));
    const h1 = await Promise.all(Array.from({ length: 3 }, () => openWs(`ws://127.0.0.1:${server.port}/room/burst`)));
    const inboxes = [...h2, ...h1].map((ws) => inboxOf(ws));
    for (const inbox of inboxes) assert.equal((await inbox.next()).text, 'joined:0');
    const publisher = await openWs(`ws://127.0.0.1:${server.port}/room/burst`);
    const own = inboxOf(publisher);
    assert.equal((await own.next()).text, 'joined:0');
    const sent = Array.from({ length: 200 }, (_, i) => `m${i}:${'.'.repeat(i % 50)}`);
    for (const message of sent) publisher.send(message);
    for (const inbox of inboxes) {
      for (const message of sent) assert.equal((await inbox.next()).text, message);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const inbox of inboxes) assert.equal(inbox.queued, 0, 'a message arrived twice');
    assert.equal(own.queued, 0, 'the publisher heard its own message');
    for (const ws of [...h2, ...h1, publisher]) ws.close();
  });

  test('permessage-deflate is agreed over HTTP/2 too', async () => {
    const opened = await openH2(session, '/deflate', { 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' });
    assert.equal(opened.status, 200);
    assert.match(String(opened.headers['sec-websocket-extensions']), /^permessage-deflate/);
    // The client framing here does not negotiate, so it only checks the answer.
    opened.ws?.terminate();
  });
});

describe('where the app has no WebSocket route', () => {
  test('the server does not advertise the extended CONNECT, and a CONNECT is an ordinary request', async () => {
    const plain = await startTestServer({ pinnedWorkers: 1 });
    try {
      const { session: other, enableConnectProtocol } = await h2Session(plain.url);
      assert.equal(enableConnectProtocol, false);
      other.close();
    } finally {
      await plain.close();
    }
  });
});

describe('over TLS (ALPN h2)', () => {
  test('echo through a CONNECT stream on an HTTPS session', async () => {
    const tlsServer = await serve(APP, { host: '127.0.0.1', port: 0, pinnedWorkers: 1, logLevel: 'silent', handleSignals: false, tls: { cert: TLS_CERT, key: TLS_KEY } });
    const secure = http2.connect(`https://127.0.0.1:${tlsServer.port}`, { ca: TLS_CERT });
    secure.on('error', () => {});
    try {
      await new Promise((resolve) => secure.once('remoteSettings', resolve));
      const opened = await openH2(secure, '/info/tls');
      assert.equal(opened.status, 200);
      const ws = opened.ws as import('ws').WebSocket;
      assert.equal(JSON.parse((await inboxOf(ws).next()).text).transport, 'h2');
      ws.close();
      await closeOf(ws);
    } finally {
      secure.close();
      await tlsServer.close();
    }
  });
});
