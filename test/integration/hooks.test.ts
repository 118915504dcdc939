/**
 * Hooks and the plugins built on them, end to end: the order hooks run in, answers from
 * onRequest, onResponse on every answer, error handlers inline and on the pool, CORS and
 * compression negotiation, over HTTP/1.1 and h2c.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Server } from '../../src/index.ts';
import { createClient, type Client, type SimpleResponse } from '../helpers/clients.ts';
import { API_APP, startTestServer } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const gunzip = promisify(zlib.gunzip);
const brotliDecompress = promisify(zlib.brotliDecompress);

const ALLOWED = 'https://app.example.com';

let server: Server;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, API_APP);
});
after(() => server.close());

for (const kind of ['h1', 'h2c'] as const) {
  describe(`hooks over ${kind}`, () => {
    let client: Client;
    before(() => {
      client = createClient(kind, server.port);
    });
    after(() => client.close());

    test('onRequest hooks run in order, then the handler, then onResponse hooks in order', async () => {
      const res = await client.request('/guarded', { headers: { authorization: 'Bearer letmein' } });
      assert.equal(res.text(), 'welcome');
      assert.equal(res.headers['x-trace'], 'request-1,request-2,response-1:200,response-2');
    });

    test('an onRequest hook that returns a reply answers the request; onResponse hooks still run', async () => {
      const res = await client.request('/guarded');
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assert.deepEqual(res.json(), { detail: 'Not authenticated' });
      assert.equal(res.headers['x-trace'], 'request-1,request-2,response-1:401,response-2');
    });

    test('onResponse hooks see 404s and handler errors too', async () => {
      const missing = await client.request('/no/such/route');
      assert.equal(missing.status, 404);
      assert.equal(missing.headers['x-trace'], 'request-1,request-2,response-1:404,response-2');
      const crash = await client.request('/inline/crash');
      assert.equal(crash.status, 500);
      assert.equal(crash.headers['x-trace'], 'request-1,request-2,response-1:500,response-2');
    });

    test('a hook answers only with reply(): false passes on, a plain object is a 500', async () => {
      const passed = await client.request('/hooks/false');
      assert.equal(passed.status, 200);
      assert.equal(passed.text(), 'passed on');
      const wrong = await client.request('/hooks/object');
      assert.equal(wrong.status, 500);
    });

    test('what onResponse hooks leave is checked like a handler’s answer', async () => {
      const bad = await client.request('/hooks/bad-header');
      assert.equal(bad.status, 500);
      assert.equal(bad.headers['set-cookie'], undefined);
      const noContent = await client.request('/hooks/no-content');
      assert.equal(noContent.status, 204);
      assert.equal(noContent.body.byteLength, 0);
      assert.equal(noContent.headers['content-length'], undefined);
    });

    for (const where of ['inline', 'pooled'] as const) {
      test(`${where}: errorHandler maps an error class to its reply; other errors stay 500 with an id`, async () => {
        const teapot = await client.request(`/${where}/teapot`);
        assert.equal(teapot.status, 418);
        assert.deepEqual(teapot.json(), { detail: 'short and stout' });
        const crash = await client.request(`/${where}/crash`);
        assert.equal(crash.status, 500);
        assert.match((crash.json() as { errorId: string }).errorId, GENERATED_ID);
      });
    }
  });

  describe(`CORS over ${kind}`, () => {
    let client: Client;
    before(() => {
      client = createClient(kind, server.port);
    });
    after(() => client.close());

    test('a preflight from an allowed origin is answered 204 before routing, with what it may do', async () => {
      const res = await client.request('/inline/items/shop', {
        method: 'OPTIONS',
        headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-api-key' },
      });
      assert.equal(res.status, 204);
      assert.equal(res.body.byteLength, 0);
      assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD, PUT, PATCH, POST, DELETE');
      assert.equal(res.headers['access-control-allow-headers'], 'content-type, x-api-key');
      assert.equal(res.headers['access-control-max-age'], '60');
      assert.match(String(res.headers['vary']), /Origin/);
    });

    test('a preflight from another origin gets no permissions', async () => {
      const res = await client.request('/inline/items/shop', {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
      });
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(res.headers['access-control-allow-methods'], undefined);
    });

    test('an actual request from an allowed origin gets the origin, credentials and exposed headers', async () => {
      const res = await client.request('/pooled/users/1', { headers: { origin: ALLOWED } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-expose-headers'], 'x-trace');
      const other = await client.request('/pooled/users/1', { headers: { origin: 'https://evil.example.com' } });
      assert.equal(other.status, 200);
      assert.equal(other.headers['access-control-allow-origin'], undefined);
      assert.match(String(other.headers['vary']), /Origin/);
    });

    test('a plain OPTIONS request (no preflight headers) still reaches routing', async () => {
      const res = await client.request('/inline/items/shop', { method: 'OPTIONS' });
      assert.equal(res.status, 204);
      assert.equal(res.headers['allow'], 'POST');
    });
  });

  describe(`compression over ${kind}`, () => {
    let client: Client;
    before(() => {
      client = createClient(kind, server.port);
    });
    after(() => client.close());

    async function plain(path: string): Promise<SimpleResponse> {
      const res = await client.request(path);
      assert.equal(res.headers['content-encoding'], undefined);
      return res;
    }

    for (const where of ['inline', 'pooled'] as const) {
      test(`${where}: brotli or gzip by the client’s Accept-Encoding, the same bytes after decoding`, async () => {
        const expected = (await plain(`/${where}/big-json`)).text();
        assert.ok(expected.length > 1024);
        const br = await client.request(`/${where}/big-json`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
        assert.equal(br.headers['content-encoding'], 'br');
        assert.match(String(br.headers['vary']), /Accept-Encoding/);
        assert.ok(br.body.byteLength < expected.length / 4, `brotli: ${br.body.byteLength} of ${expected.length} bytes`);
        assert.equal(Number(br.headers['content-length']), br.body.byteLength);
        assert.equal((await brotliDecompress(br.body)).toString(), expected);
        const gz = await client.request(`/${where}/big-json`, { headers: { 'accept-encoding': 'br;q=0.1, gzip' } });
        assert.equal(gz.headers['content-encoding'], 'gzip');
        assert.equal((await gunzip(gz.body)).toString(), expected);
      });
    }

    test('no Accept-Encoding, identity, or encodings we do not offer: not compressed, but Vary is set', async () => {
      for (const accept of [undefined, 'identity', 'deflate', 'br;q=0, gzip;q=0']) {
        const res = await client.request('/inline/big-json', accept === undefined ? {} : { headers: { 'accept-encoding': accept } });
        assert.equal(res.headers['content-encoding'], undefined, String(accept));
        assert.match(String(res.headers['vary']), /Accept-Encoding/);
        assert.doesNotThrow(() => res.json());
      }
    });

    test('bodies under the threshold are sent as they are', async () => {
      const res = await client.request('/inline/small', { headers: { 'accept-encoding': 'gzip, br' } });
      assert.equal(res.headers['content-encoding'], undefined);
      assert.equal(res.text(), 'small');
    });

    test('a streamed text body is compressed as it streams', async () => {
      const expected = Array.from({ length: 200 }, (_, i) => `line ${i} of a text stream that compresses well\n`).join('');
      const res = await client.request('/stream/text-typed', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(res.headers['content-encoding'], 'gzip');
      assert.equal(res.headers['content-length'], undefined);
      assert.equal((await gunzip(res.body)).toString(), expected);
      const br = await client.request('/stream/text-typed', { headers: { 'accept-encoding': 'br' } });
      assert.equal((await brotliDecompress(br.body)).toString(), expected);
    });

    test('binary streams and event streams are not compressed', async () => {
      const bytes = await client.request('/stream/numbers?n=3', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(bytes.headers['content-encoding'], undefined);
      assert.equal(bytes.text(), '0\n1\n2\n');
      const events = await client.request('/events?n=1', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(events.headers['content-encoding'], undefined);
      assert.match(events.text(), /event: tick/);
    });
  });
}
