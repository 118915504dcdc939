/**
 * One behaviour suite, run against every protocol (HTTP/1.1, h2c, TLS h2, TLS HTTP/1.1) and every
 * listener mode (reusePort, acceptor): whatever carries a request, a user sees the same answers.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ListenerMode, Server } from '../../src/index.ts';
import { createClient, type Client, type ClientKind } from '../helpers/clients.ts';
import { startTestServer, TEST_POOLED_APP } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const BODY_LIMIT = 64 * 1024;

/**
 * `placement`: `inline` serves the shared routes on the pinned workers; `pooled` serves the same
 * routes with `{ pool: true }`, so every answer crosses the rings.
 */
export function protocolSuite(listener: Exclude<ListenerMode, 'auto'>, withTls: boolean, placement: 'inline' | 'pooled' = 'inline'): void {
  const kinds: ClientKind[] = withTls ? ['h2-tls', 'h1-tls'] : ['h1', 'h2c'];
  describe(`${withTls ? 'TLS' : 'cleartext'} server, ${listener} listener, routes ${placement}`, () => {
    let server: Server;
    before(async () => {
      server =
        placement === 'inline'
          ? await startTestServer({ listener, withTls, bodyLimit: BODY_LIMIT })
          : await startTestServer({ listener, withTls, bodyLimit: BODY_LIMIT, pooledWorkers: 2, pooledIsolates: 1 }, TEST_POOLED_APP);
    });
    after(() => server.close());

    for (const kind of kinds) {
      describe(`over ${kind}`, () => {
        let client: Client;
        before(() => {
          client = createClient(kind, server.port);
        });
        after(() => client.close());

        test('GET / answers text/plain', async () => {
          const res = await client.request('/');
          assert.equal(res.status, 200);
          assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
          assert.equal(res.headers['content-length'], String('Hello from /'.length));
          assert.equal(res.text(), 'Hello from /');
        });

        for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
          test(`${method} reaches its route`, async () => {
            const res = await client.request('/method', { method });
            assert.equal(res.status, 200);
            assert.deepEqual(res.json(), { method });
          });
        }

        test('HEAD is served from GET with the headers and no body', async () => {
          const res = await client.request('/hello', { method: 'HEAD' });
          assert.equal(res.status, 200);
          assert.equal(res.headers['content-length'], String('hello, world'.length));
          assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
          assert.equal(res.body.length, 0);
        });

        test('an explicit HEAD route wins over GET', async () => {
          const res = await client.request('/head-only', { method: 'HEAD' });
          assert.equal(res.status, 200);
          assert.equal(res.headers['x-head'], 'yes');
        });

        test('all() answers any method', async () => {
          for (const method of ['GET', 'PUT', 'DELETE']) {
            assert.deepEqual((await client.request('/any', { method })).json(), { any: method });
          }
        });

        test('404 for an unknown path', async () => {
          const res = await client.request('/nowhere');
          assert.equal(res.status, 404);
          assert.deepEqual(res.json(), { detail: 'Not Found' });
        });

        test('405 with Allow for a known path and another method', async () => {
          const res = await client.request('/hello', { method: 'POST' });
          assert.equal(res.status, 405);
          assert.equal(res.headers['allow'], 'GET, HEAD');
        });

        test('OPTIONS on a path without an OPTIONS route answers 204 with Allow', async () => {
          const res = await client.request('/hello', { method: 'OPTIONS' });
          assert.equal(res.status, 204);
          assert.equal(res.headers['allow'], 'GET, HEAD');
        });

        test('path params are decoded', async () => {
          assert.deepEqual((await client.request('/items/42')).json(), { id: '42' });
          assert.deepEqual((await client.request('/items/caf%C3%A9%20au%20lait')).json(), { id: 'café au lait' });
          assert.deepEqual((await client.request('/users/ada/posts/7')).json(), { user: 'ada', post: '7' });
        });

        test('a malformed escape in a param is a 400', async () => {
          const res = await client.request('/items/%E0%A4%A');
          assert.equal(res.status, 400);
          assert.deepEqual(res.json(), { detail: 'Bad Request: malformed percent-encoding in the path' });
        });

        test('a trailing wildcard takes the rest of the path', async () => {
          assert.deepEqual((await client.request('/files/a/b/c.txt')).json(), { rest: 'a/b/c.txt' });
        });

        test('the query string is parsed; repeated keys become arrays', async () => {
          const res = await client.request('/query?a=1&b=x%20y&a=2&empty=');
          assert.deepEqual(res.json(), { query: { a: ['1', '2'], b: 'x y', empty: '' }, raw: 'a=1&b=x%20y&a=2&empty=' });
        });

        test('headers arrive lowercased, without HTTP/2 pseudo-headers', async () => {
          const res = await client.request('/headers', { headers: { 'X-Custom': 'hello' } });
          const body = res.json() as { headers: Record<string, string>; custom: string };
          assert.equal(body.custom, 'hello');
          assert.equal(body.headers['x-custom'], 'hello');
          assert.ok(Object.keys(body.headers).every((name) => !name.startsWith(':')));
        });

        test('a JSON body round-trips', async () => {
          const payload = { name: 'Ünïcødé ✓', list: [1, 2, 3], nested: { ok: true } };
          const res = await client.request('/json', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(payload),
          });
          assert.equal(res.status, 200);
          assert.deepEqual(res.json(), { received: payload });
        });

        test('invalid JSON is a 400', async () => {
          const res = await client.request('/json', { method: 'POST', body: '{"unterminated": ' });
          assert.equal(res.status, 400);
          assert.deepEqual(res.json(), { detail: 'Request body is not valid JSON' });
        });

        test('a binary body round-trips byte for byte', async () => {
          const payload = randomBytes(40_000);
          const res = await client.request('/bytes', { method: 'POST', body: payload });
          assert.equal(res.status, 200);
          assert.equal(res.headers['content-type'], 'application/octet-stream');
          assert.ok(res.body.equals(payload));
        });

        test('a body without content-length (chunked) round-trips', async () => {
          const payload = randomBytes(20_000);
          const res = await client.request('/bytes', { method: 'POST', body: payload, chunked: true });
          assert.equal(res.status, 200);
          assert.ok(res.body.equals(payload));
        });

        test('a body past bodyLimit is a 413 (content-length declared)', async () => {
          const res = await client.request('/bytes', { method: 'POST', body: randomBytes(BODY_LIMIT + 1) });
          assert.equal(res.status, 413);
          assert.equal((res.json() as { detail: string }).detail, `Request body is larger than the limit of ${BODY_LIMIT} bytes`);
        });

        test('a body past bodyLimit is a 413 (no content-length)', async () => {
          const fresh = createClient(kind, server.port);
          try {
            const res = await fresh.request('/bytes', { method: 'POST', body: randomBytes(BODY_LIMIT * 2), chunked: true });
            assert.equal(res.status, 413);
          } finally {
            await fresh.close();
          }
        });

        test('an unread body does not stop the next request', async () => {
          const res = await client.request('/ignore-body', { method: 'POST', body: randomBytes(10_000) });
          assert.equal(res.text(), 'ignored');
          assert.equal((await client.request('/hello')).text(), 'hello, world');
        });

        test("FasterAPI's (req, res) style", async () => {
          const res = await client.request('/seed-style');
          assert.equal(res.status, 200);
          assert.equal(res.headers['content-type'], 'text/plain');
          assert.equal(res.headers['x-style'], 'seed');
          assert.equal(res.text(), 'Hello from /seed-style');
        });

        test('reply() sets status and headers, including repeated ones', async () => {
          const res = await client.request('/created');
          assert.equal(res.status, 201);
          assert.equal(res.headers['x-custom'], 'yes');
          assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
          assert.deepEqual(res.json(), { made: true });
        });

        test('204 has no body and no content type', async () => {
          const res = await client.request('/no-content');
          assert.equal(res.status, 204);
          assert.equal(res.body.length, 0);
          assert.equal(res.headers['content-type'], undefined);
        });

        test('a Uint8Array is sent as application/octet-stream', async () => {
          const res = await client.request('/binary');
          assert.equal(res.headers['content-type'], 'application/octet-stream');
          assert.deepEqual([...res.body], [0, 1, 2, 255, 254]);
        });

        test('null is sent as JSON', async () => {
          const res = await client.request('/null');
          assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
          assert.equal(res.text(), 'null');
        });

        test('a throwing handler is a 500 with an error id, and the server keeps serving', async () => {
          for (const path of ['/throw', '/async-throw', '/unserialisable', '/bad-status']) {
            const res = await client.request(path);
            assert.equal(res.status, 500, path);
            const body = res.json() as { detail: string; errorId: string };
            assert.equal(body.detail, 'Internal Server Error');
            assert.match(body.errorId, GENERATED_ID);
            assert.ok(!res.text().includes('boom'), 'no error details leak to the client');
          }
          assert.equal((await client.request('/hello')).status, 200);
        });

        test('HttpError answers its status, detail and headers', async () => {
          const res = await client.request('/http-error');
          assert.equal(res.status, 418);
          assert.equal(res.headers['x-teapot'], 'short and stout');
          assert.deepEqual(res.json(), { detail: "I'm a teapot" });
        });

        test('invalid response headers are refused with a 500, never sent', async () => {
          for (const path of ['/bad-header-value', '/bad-header-name', '/bad-header-in-http-error']) {
            const res = await client.request(path);
            assert.equal(res.status, 500, path);
            assert.equal(res.headers['injected'], undefined);
            assert.equal(res.headers['x-bad'], undefined);
          }
        });

        test('hop-by-hop and request-only headers set by a handler are left out, the rest is sent', async () => {
          const res = await client.request('/hop-by-hop');
          assert.equal(res.status, 200);
          assert.equal(res.text(), 'ok');
          assert.equal(res.headers['x-kept'], 'yes');
          for (const name of ['te', 'trailer', 'upgrade', 'keep-alive', 'http2-settings']) {
            // HTTP/1.1 responses carry the server's own keep-alive header, not the handler's.
            if (name === 'keep-alive' && kind.startsWith('h1')) assert.notEqual(res.headers[name], 'timeout=1');
            else assert.equal(res.headers[name], undefined, name);
          }
        });

        test('a list of values for a single-value header is refused with a 500', async () => {
          const res = await client.request('/two-content-types');
          assert.equal(res.status, 500);
          assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
        });

        test(`the handler runs ${placement === 'inline' ? 'inline on a pinned worker' : 'on a pooled isolate'}`, async () => {
          const res = await client.request('/thread');
          const body = res.json() as { threadId: number; isolate: { kind: string; threadId: number } };
          assert.equal(body.isolate.kind, placement === 'inline' ? 'pinned' : 'pooled');
          assert.equal(body.isolate.threadId, body.threadId);
          const threads = placement === 'inline' ? server.workerThreadIds : server.pooledThreadIds;
          assert.ok(threads.includes(body.threadId), `thread ${body.threadId} is one of ${threads.join(', ')}`);
        });
      });
    }
  });
}
