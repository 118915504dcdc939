/**
 * Every example in examples/ serves what its comments promise, so the examples cannot rot. Each
 * is served as a user would serve it (the package imported by name, from the build).
 */

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import type { Server } from '../../src/index.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';
import { inboxOf, openWs, refusalOf } from '../websocket/support.ts';

const example = (name: string): URL => new URL(`../../examples/${name}/app.ts`, import.meta.url);

function serving(name: string, options: Parameters<typeof startTestServer>[0] = {}): { client: () => Client } {
  let server: Server;
  let client: Client;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, ...options }, example(name));
    client = createClient('h1', server.port);
  });
  after(async () => {
    await client.close();
    await server.close();
  });
  return { client: () => client };
}

const JSON_HEADERS = { 'content-type': 'application/json' };

describe('examples/validation', () => {
  const { client } = serving('validation');

  test('creates, lists and finds items; refuses bad ones with 422', async () => {
    const created = await client().request('/items', { method: 'POST', headers: JSON_HEADERS, body: '{"name":"lamp","price":12.5,"tags":["home"]}' });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json(), { id: 1, name: 'lamp', price: 12.5, tags: ['home'] });
    assert.equal(created.headers['location'], '/items/1');
    assert.deepEqual((await client().request('/items?limit=5&tag=home')).json(), [{ id: 1, name: 'lamp', price: 12.5, tags: ['home'] }]);
    assert.equal((await client().request('/items/1')).status, 200);
    assert.equal((await client().request('/items/9')).status, 404);
    const bad = await client().request('/items', { method: 'POST', headers: JSON_HEADERS, body: '{"name":"","price":-1}' });
    assert.equal(bad.status, 422);
    assert.deepEqual((bad.json() as { detail: Array<{ loc: unknown[] }> }).detail.map((i) => i.loc), [['body', 'name'], ['body', 'price']]);
    assert.equal((await client().request('/items?limit=0')).status, 422);
  });

  test('validates pooled routes too', async () => {
    const quote = await client().request('/quote', { method: 'POST', headers: JSON_HEADERS, body: '{"lines":[{"quantity":2,"unitPrice":1.25}]}' });
    assert.deepEqual(quote.json(), { total: 2.5, lines: 1 });
    assert.equal((await client().request('/quote', { method: 'POST', headers: JSON_HEADERS, body: '{"lines":[]}' })).status, 422);
  });
});

describe('examples/openapi', () => {
  const { client } = serving('openapi');

  test('serves the document and the page where it moved them', async () => {
    const doc = (await client().request('/api/openapi.json')).json() as { info: { title: string }; paths: Record<string, Record<string, { operationId: string; deprecated?: boolean }>> };
    assert.equal(doc.info.title, 'Bookshop');
    assert.equal(doc.paths['/books/{isbn}']?.['get']?.operationId, 'getBook');
    assert.equal(doc.paths['/books/legacy']?.['get']?.deprecated, true);
    assert.ok(doc.paths['/authors']?.['post'] !== undefined);
    assert.equal(doc.paths['/internal/metrics'], undefined);
    assert.equal((await client().request('/reference')).status, 200);
    assert.equal((await client().request('/docs')).status, 404);
  });

  test('its routes validate with zod, valibot and arktype', async () => {
    assert.equal((await client().request('/books/9780441013593')).status, 200);
    assert.equal((await client().request('/books/123')).status, 422);
    assert.equal((await client().request('/authors', { method: 'POST', body: '{"name":"Frank Herbert","born":1920}' })).status, 200);
    assert.equal((await client().request('/authors', { method: 'POST', body: '{"name":""}' })).status, 422);
    assert.deepEqual((await client().request('/search?q=dune&page=2')).json(), { query: 'dune', page: 2 });
    assert.equal((await client().request('/search?q=')).status, 422);
  });
});

describe('examples/middleware', () => {
  const { client } = serving('middleware');

  test('authentication, timing, CORS, compression and error handlers', async () => {
    assert.equal((await client().request('/private')).status, 401);
    const ok = await client().request('/private', { headers: { authorization: 'Bearer demo' } });
    assert.equal(ok.status, 200);
    assert.match(String(ok.headers['x-response-time']), /^\d+\.\d\dms$/);
    const report = await client().request('/report', { headers: { 'accept-encoding': 'br' } });
    assert.equal(report.headers['content-encoding'], 'br');
    assert.equal((JSON.parse(zlib.brotliDecompressSync(report.body).toString()) as { rows: unknown[] }).rows.length, 200);
    const preflight = await client().request('/report', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:5173');
    for (const path of ['/orders/42', '/orders/42/pooled']) {
      const conflict = await client().request(path);
      assert.equal(conflict.status, 409, path);
      assert.match((conflict.json() as { detail: string }).detail, /order 42/);
    }
  });
});

describe('examples/streaming', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 1 }, example('streaming'));
  });
  after(() => server.close());

  test('NDJSON, a file and an SSE clock, over HTTP/2', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    const get = (path: string, until?: (text: string) => boolean): Promise<{ headers: http2.IncomingHttpHeaders; text: string }> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':path': path });
        let headers: http2.IncomingHttpHeaders = {};
        let text = '';
        stream.on('response', (h) => (headers = h));
        stream.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
          if (until?.(text) === true) {
            stream.close(http2.constants.NGHTTP2_CANCEL);
            resolve({ headers, text });
          }
        });
        stream.on('end', () => resolve({ headers, text }));
        stream.on('error', reject);
      });
    try {
      const numbers = await get('/numbers?n=3');
      assert.deepEqual(numbers.text.trim().split('\n').map((line) => JSON.parse(line) as unknown), [
        { i: 0, square: 0 },
        { i: 1, square: 1 },
        { i: 2, square: 4 },
      ]);
      assert.match((await get('/source')).text, /Streamed bodies and Server-Sent Events/);
      const clock = await get('/clock', (text) => text.includes('id: 2\n'));
      assert.equal(clock.headers['content-type'], 'text/event-stream');
      assert.match(clock.text, /^event: tick\nid: 1\ndata: \{"tick":1,"time":"[^"]+"\}\n\n/);
    } finally {
      session.close();
    }
  });
});

describe('examples/lifespan', () => {
  const { client } = serving('lifespan');

  test('each isolate opened its own pool at startup', async () => {
    const stats = (await client().request('/stats')).json() as { isolate: { kind: string }; result: { pool: number }; cacheWarmedAt: number };
    assert.equal(stats.isolate.kind, 'pinned');
    assert.equal(stats.result.pool, 10);
    assert.ok(stats.cacheWarmedAt > 0);
    const report = (await client().request('/report')).json() as { isolate: { kind: string }; result: { pool: number } };
    assert.equal(report.isolate.kind, 'pooled');
    assert.equal(report.result.pool, 2);
  });
});

describe('examples/chat', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 1 }, example('chat'));
  });
  after(() => server.close());

  test('two members chat in a room, an announcement reaches both, and a nameless one is refused', async () => {
    const base = `ws://127.0.0.1:${server.port}/rooms/lobby`;
    const ann = await openWs(`${base}?name=ann`);
    const annInbox = inboxOf(ann);
    assert.match((await annInbox.next()).text, /^welcome to lobby, ann \(worker 0, http\/1\.1\)$/);
    const bob = await openWs(`${base}?name=bob`);
    const bobInbox = inboxOf(bob);
    assert.match((await bobInbox.next()).text, /^welcome to lobby, bob/);
    assert.equal((await annInbox.next()).text, '* bob joined');
    bob.send('hi ann');
    assert.equal((await annInbox.next()).text, 'bob: hi ann');
    const announced = await fetch(`http://127.0.0.1:${server.port}/rooms/lobby/announce`, { method: 'POST', body: 'tea at four' });
    assert.equal(announced.status, 204);
    assert.equal((await annInbox.next()).text, '[announcement] tea at four');
    assert.equal((await bobInbox.next()).text, '[announcement] tea at four');
    bob.close();
    assert.equal((await annInbox.next()).text, '* bob left');
    ann.close();
    assert.equal((await refusalOf(`${base}?name=no%20spaces`)).status, 400);
    const page = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.match(await page.text(), /new WebSocket/);
  });
});

describe('examples/kit', () => {
  const { client } = serving('kit', { pooledWorkers: 1 });

  test('its own node:test suite, written with app.request(), passes', async () => {
    const { spawnSync } = await import('node:child_process');
    // A test run of its own, not a subtest of this one: without the runner's NODE_TEST_CONTEXT.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--test', 'examples/kit/app.test.ts'], { cwd: new URL('../..', import.meta.url), encoding: 'utf8', env });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /ℹ pass 4\n/);
  });

  test('served for real: a precompressed file, an upload, a signed session and a pooled task', async () => {
    const css = await client().request('/assets/app.css', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(css.headers['content-encoding'], 'gzip');
    assert.match(zlib.gunzipSync(css.body).toString(), /font-family/);
    const boundary = 'kit-boundary';
    const body = `--${boundary}\r\ncontent-disposition: form-data; name="doc"; filename="a.txt"\r\ncontent-type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`;
    const upload = await client().request('/upload', { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    assert.deepEqual(upload.json(), { name: 'a.txt', type: 'text/plain', size: 5, sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', note: null });
    const login = await client().request('/login?user=ann');
    const cookie = String((login.headers['set-cookie'] as string[])[0]).split(';')[0] as string;
    assert.deepEqual((await client().request('/me', { headers: { cookie } })).json(), { user: 'ann' });
    const signup = await client().request('/signup', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ user: 'cy', password: 'pw' }) });
    assert.equal(signup.status, 201);
    assert.match((signup.json() as { hash: string }).hash, /^[0-9a-f]{64}$/);
  });
});
