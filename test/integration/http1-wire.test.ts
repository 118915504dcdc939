/** HTTP/1.1 on the wire, with a raw socket: what a polite client would hide. */

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { BroadcastChannel } from 'node:worker_threads';
import { after, before, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { countResponses, rawConnect } from '../helpers/raw.ts';
import { startTestServer } from '../helpers/server.ts';

let server: Server;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, bodyLimit: 1024 });
});
after(() => server.close());

test('HEAD sends headers only, and the next pipelined response follows at once', async () => {
  const conn = await rawConnect(server.port);
  conn.socket.write('HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
  const text = await conn.until((t) => t.endsWith('hello, world'));
  conn.socket.destroy();
  const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
  assert.match(first ?? '', /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(first ?? '', /\r\ncontent-length: 12\r\n/i);
  assert.ok((first ?? '').endsWith('\r\n\r\n'), 'the HEAD response ends with its headers: no body bytes');
  assert.match(second ?? '', /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello, world$/);
});

test('a handler that catches the 413 still has its connection closed instead of draining the upload', async () => {
  const conn = await rawConnect(server.port);
  const chunk = 'x'.repeat(2048);
  conn.socket.write(
    'POST /catch-413 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
  );
  const text = await conn.until((t) => t.includes('caught'));
  assert.match(text, /\r\nconnection: close\r\n/i);
  // The client carries on as if it could pipeline; the server does not serve it on this connection.
  conn.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n`);
  await conn.closed;
  assert.equal(countResponses(conn.received()), 1);
});

test('over HTTP/2, a caught 413 resets only that stream; the session keeps serving', async () => {
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  session.on('error', () => {});
  try {
    const stream = session.request({ ':method': 'POST', ':path': '/catch-413' });
    stream.on('error', () => {});
    stream.write(Buffer.alloc(4096, 1));
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    await new Promise<void>((resolve) => stream.on('close', () => resolve()));
    assert.equal(body, 'caught');
    assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    const next = session.request({ ':path': '/hello' });
    let text = '';
    next.setEncoding('utf8');
    next.on('data', (c: string) => (text += c));
    await new Promise<void>((resolve) => next.on('end', () => resolve()));
    assert.equal(text, 'hello, world');
  } finally {
    session.destroy();
  }
});

test('reading the body after the client has gone fails with 400 instead of waiting forever', async () => {
  const reports = new BroadcastChannel('fasterapi-test:late-read');
  const report = new Promise<string>((resolve) => {
    reports.onmessage = (event) => resolve(String((event as MessageEvent).data));
  });
  try {
    const conn = await rawConnect(server.port);
    conn.socket.write('POST /late-read?ms=300 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n' + 'y'.repeat(40));
    setTimeout(() => conn.socket.destroy(), 50);
    assert.equal(await report, 'failed 400');
  } finally {
    reports.close();
  }
});
