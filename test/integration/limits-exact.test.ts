/**
 * Every limit at exactly its value and one past it, over HTTP/1.1 and h2c, inline and for a
 * route that runs on the pool (whose body the pinned worker reads first): at the limit the
 * request is served, one byte or one header more and it is refused. An off-by-one in any check
 * (`>` for `>=`) fails here.
 */

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { overEachClient } from '../helpers/clients.ts';
import { rawConnect } from '../helpers/raw.ts';
import { startTestServer, TEST_APP, TEST_POOLED_APP } from '../helpers/server.ts';

const BODY_LIMIT = 1000;
const URL_LIMIT = 200;
const HEADER_COUNT = 12;
const HEADER_SIZE = 4096;

const LIMITS = { pinnedWorkers: 1, bodyLimit: BODY_LIMIT, maxUrlLength: URL_LIMIT, maxHeaderCount: HEADER_COUNT, maxHeaderSize: HEADER_SIZE };

for (const [where, app, extra] of [
  ['inline', TEST_APP, {}],
  ['on the pool', TEST_POOLED_APP, { pooledWorkers: 1 }],
] as const) {
  describe(`limits at their exact value, ${where}`, () => {
    let server: Server;
    before(async () => {
      server = await startTestServer({ ...LIMITS, ...extra }, app);
    });
    after(() => server.close());

    overEachClient(['h1', 'h2c'], () => server.port, (client) => {

      for (const chunked of [false, true]) {
        test(`a body of exactly bodyLimit bytes is served, one more is a 413 (${chunked ? 'no content-length' : 'content-length'})`, async () => {
          const atLimit = await client().request('/bytes', { method: 'POST', body: 'a'.repeat(BODY_LIMIT), chunked });
          assert.equal(atLimit.status, 200);
          assert.equal(atLimit.body.length, BODY_LIMIT);
          assert.equal(atLimit.text(), 'a'.repeat(BODY_LIMIT), 'the response carries this request’s body');
          const past = await client().request('/bytes', { method: 'POST', body: 'b'.repeat(BODY_LIMIT + 1), chunked });
          assert.equal(past.status, 413);
          assert.deepEqual(past.json(), { detail: `Request body is larger than the limit of ${BODY_LIMIT} bytes` });
        });
      }

      test('a request target of exactly maxUrlLength is served, one byte more is a 414', async () => {
        const prefix = '/query?x=';
        const atLimit = await client().request(`${prefix}${'a'.repeat(URL_LIMIT - prefix.length)}`);
        assert.equal(atLimit.status, 200);
        assert.equal((atLimit.json() as { query: { x: string } }).query.x.length, URL_LIMIT - prefix.length);
        const past = await client().request(`${prefix}${'a'.repeat(URL_LIMIT - prefix.length + 1)}`);
        assert.equal(past.status, 414);
      });
    });

    test('HTTP/1.1: exactly maxHeaderCount headers are served, one more is a 431', async () => {
      const request = (count: number): string => {
        const lines = ['GET /hello HTTP/1.1', 'Host: x'];
        for (let i = 1; i < count; i++) lines.push(`X-H${i}: v`);
        return `${lines.join('\r\n')}\r\n\r\n`;
      };
      for (const [count, status] of [[HEADER_COUNT, '200'], [HEADER_COUNT + 1, '431']] as const) {
        const conn = await rawConnect(server.port);
        conn.socket.write(request(count));
        const text = await conn.until((t) => t.includes('\r\n\r\n'));
        assert.equal(text.slice(9, 12), status, `${count} headers`);
        conn.socket.destroy();
      }
    });

    test('HTTP/1.1: a head of exactly maxHeaderSize bytes is served; one clearly past it is a 431', async () => {
      // Node's parser (llhttp) counts header bytes as it parses them, not the head as a whole, so
      // the exact byte where it refuses moves by a few bytes with the request line; a head of
      // maxHeaderSize in all is always within it, and one 64 bytes past always outside.
      const head = (size: number): string => {
        const start = 'GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ';
        const end = '\r\n\r\n';
        return `${start}${'b'.repeat(size - start.length - end.length)}${end}`;
      };
      for (const [size, status] of [[HEADER_SIZE, '200'], [HEADER_SIZE + 64, '431']] as const) {
        const conn = await rawConnect(server.port);
        conn.socket.write(head(size));
        const text = await conn.until((t) => t.includes('\r\n\r\n'));
        assert.equal(text.slice(9, 12), status, `a head of ${size} bytes`);
        conn.socket.destroy();
      }
    });

    test('HTTP/2: exactly maxHeaderCount fields besides pseudo-headers are served, one more is a 431', async () => {
      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      try {
        for (const [count, status] of [[HEADER_COUNT, 200], [HEADER_COUNT + 1, 431]] as const) {
          const headers: http2.OutgoingHttpHeaders = { ':path': '/hello' };
          for (let i = 0; i < count; i++) headers[`x-h${i}`] = 'v';
          const got = await new Promise<unknown>((resolve, reject) => {
            const stream = session.request(headers);
            stream.on('response', (h) => {
              resolve(h[':status']);
              stream.resume();
            });
            stream.on('error', reject);
          });
          assert.equal(got, status, `${count} fields`);
        }
      } finally {
        session.close();
      }
    });

    test('HTTP/2: a header list of exactly maxHeaderSize (RFC 7541 sizes) is served, one byte more is refused', async () => {
      const session = http2.connect(`http://127.0.0.1:${server.port}`);
      try {
        const authority = `127.0.0.1:${server.port}`;
        // Each field counts its name, its value and 32 (RFC 9113 §6.5.2, SETTINGS_MAX_HEADER_LIST_SIZE).
        const fixed = [[':method', 'GET'], [':path', '/hello'], [':scheme', 'http'], [':authority', authority]].reduce((n, [k, v]) => n + k!.length + v!.length + 32, 0);
        const fill = HEADER_SIZE - fixed - ('x-big'.length + 32);
        for (const [extra, outcome] of [[0, 200], [1, 'refused']] as const) {
          const got = await new Promise<unknown>((resolve) => {
            const stream = session.request({ ':path': '/hello', ':authority': authority, 'x-big': 'b'.repeat(fill + extra) });
            stream.on('response', (h) => {
              resolve(h[':status']);
              stream.resume();
            });
            stream.on('error', () => resolve('refused'));
          });
          assert.equal(got, outcome, `header list of ${HEADER_SIZE + extra} bytes`);
        }
      } finally {
        session.close();
      }
    });
  });
}
