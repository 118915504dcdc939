/** Limits and timeouts, each an option, over HTTP/1.1 and h2c: the right status, nothing served past them. */

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { createClient, overEachClient } from '../helpers/clients.ts';
import { rawConnect } from '../helpers/raw.ts';
import { startTestServer } from '../helpers/server.ts';

describe('limits', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 1, maxUrlLength: 200, maxHeaderCount: 12, maxHeaderSize: 4096 });
  });
  after(() => server.close());

  overEachClient(['h1', 'h2c'], () => server.port, (client) => {

    test('a request target past maxUrlLength is a 414', async () => {
      const res = await client().request(`/query?x=${'a'.repeat(200)}`);
      assert.equal(res.status, 414);
      assert.deepEqual(res.json(), { detail: 'URI Too Long: the limit is 200 bytes' });
      assert.equal((await client().request(`/query?x=${'a'.repeat(150)}`)).status, 200);
    });

    test('more headers than maxHeaderCount is a 431', async () => {
      const many: Record<string, string> = {};
      for (let i = 0; i < 14; i++) many[`x-h${i}`] = 'v';
      const res = await client().request('/hello', { headers: many });
      assert.equal(res.status, 431);
      delete many['x-h0'];
      delete many['x-h1'];
      delete many['x-h2'];
      delete many['x-h3'];
      delete many['x-h4'];
      assert.equal((await client().request('/hello', { headers: many })).status, 200);
    });

    test('paths are normalised before routing', async () => {
      assert.equal((await client().request('//hello')).text(), 'hello, world');
      assert.equal((await client().request('/files/../hello')).text(), 'hello, world');
      assert.equal((await client().request('/files/%2e%2e/hello')).text(), 'hello, world');
      assert.deepEqual((await client().request('/files/a//b/./c/../d')).json(), { rest: 'a/b/d' });
    });

    test('paths that would smuggle a separator or climb above the root are a 400', async () => {
      for (const path of ['/files/a%2f..%2f..%2fetc%2fpasswd', '/files/a%5c..%5cb', '/..', '/files/../../hello', '/items/a%00b']) {
        const res = await client().request(path);
        assert.equal(res.status, 400, path);
        assert.deepEqual(res.json(), { detail: 'Bad Request: the path has an encoded separator or climbs above the root' });
      }
    });
  });

  test('an HTTP/1.1 head past maxHeaderSize is a 431', async () => {
    const conn = await rawConnect(server.port);
    conn.socket.write(`GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(5000)}\r\n\r\n`);
    const text = await conn.until((t) => t.includes('\r\n\r\n'));
    assert.match(text, /^HTTP\/1\.1 431 /);
    await conn.closed;
  });

  test('an HTTP/2 header list past maxHeaderSize is refused, and the session keeps serving', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on('error', () => {});
    try {
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      assert.equal(session.remoteSettings.maxHeaderListSize, 4096);
      const refused = session.request({ ':path': '/hello', 'x-big': 'b'.repeat(5000) });
      let answered = false;
      refused.on('response', () => (answered = true));
      refused.on('error', () => {});
      await new Promise<void>((resolve) => refused.on('close', () => resolve()));
      // nghttp2 resets a stream whose header list is over the advertised size.
      assert.equal(answered, false);
      assert.equal(refused.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      const ok = session.request({ ':path': '/hello' });
      let body = '';
      ok.setEncoding('utf8');
      ok.on('data', (c: string) => (body += c));
      await new Promise<void>((resolve) => ok.on('end', () => resolve()));
      assert.equal(body, 'hello, world');
    } finally {
      session.destroy();
    }
  });
});

describe('timeouts', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({
      pinnedWorkers: 1,
      headersTimeout: 400,
      requestTimeout: 800,
      keepAliveTimeout: 300,
      sessionIdleTimeout: 300,
    });
  });
  after(() => server.close());

  test('a connection that sends nothing is closed after headersTimeout', async () => {
    const conn = await rawConnect(server.port);
    const began = Date.now();
    await conn.closed;
    assert.ok(Date.now() - began < 3_000);
    assert.equal(conn.received(), '');
  });

  test('slowloris: headers trickling in past headersTimeout get a 408 and the connection closes', async () => {
    const conn = await rawConnect(server.port);
    conn.socket.write('GET /hello HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => conn.socket.writable && conn.socket.write('X-Slow: y\r\n'), 100);
    try {
      await conn.closed;
    } finally {
      clearInterval(trickle);
    }
    assert.match(conn.received(), /^HTTP\/1\.1 408 /);
  });

  test('a body trickling in past requestTimeout gets a 408', async () => {
    const conn = await rawConnect(server.port);
    conn.socket.write('POST /bytes HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    const trickle = setInterval(() => conn.socket.writable && conn.socket.write('z'), 100);
    try {
      await conn.closed;
    } finally {
      clearInterval(trickle);
    }
    assert.match(conn.received(), /^HTTP\/1\.1 408 /);
  });

  test('an idle keep-alive connection is closed after keepAliveTimeout', async () => {
    const conn = await rawConnect(server.port);
    conn.socket.write('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    await conn.until((t) => t.endsWith('hello, world'));
    const answered = Date.now();
    await conn.closed;
    assert.ok(Date.now() - answered < 3_000);
  });

  test('an idle HTTP/2 session gets GOAWAY after sessionIdleTimeout', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on('error', () => {});
    try {
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
      const req = session.request({ ':path': '/hello' });
      req.resume();
      await new Promise<void>((resolve) => req.on('end', () => resolve()));
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      session.destroy();
    }
  });
});

test('exposeErrors puts the message and stack of a handler error in its 500, for development', async () => {
  const server = await startTestServer({ pinnedWorkers: 1, exposeErrors: true });
  const client = createClient('h1', server.port);
  try {
    const res = await client.request('/throw');
    assert.equal(res.status, 500);
    const body = res.json() as { detail: string; errorId: string; debug: string };
    assert.equal(body.detail, 'Internal Server Error');
    assert.match(body.debug, /Error: boom: a bug in a handler\n\s+at /);
  } finally {
    await client.close();
    await server.close();
  }
});
