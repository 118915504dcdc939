/**
 * `app.request()` against the real server: the same requests, through the in-process runtime and
 * over HTTP/1.1 and h2c to a served app, must get the same status, header fields and body bytes.
 * The in-process side imports the same app module in the test process. Compared headers leave
 * out what belongs to a connection (`connection`, `keep-alive`, `transfer-encoding`) and `date`,
 * which `app.request()` does not send; each request carries its own `x-request-id`, so the echoed
 * id (and a 500's errorId) is the same on both sides and names the request it answers.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { App, Server } from '../../src/index.ts';
import { inProcess } from '../../src/index.ts';
import { createClient, type Client, type SimpleResponse } from '../helpers/clients.ts';
import { API_APP, startTestServer, TEST_POOLED_APP } from '../helpers/server.ts';
import { makeStaticTree, STATIC_APP } from '../helpers/static-tree.ts';

const WS_APP = new URL('../fixtures/ws-app.ts', import.meta.url);

/** Header fields the in-process answer leaves out (see protocol/memory.ts). */
const CONNECTION_FIELDS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

interface Case {
  readonly name: string;
  readonly app: 'api' | 'pooled' | 'ws' | 'cookies' | 'forms' | 'tasks' | 'static';
  readonly path: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** An event stream: heartbeat comments, which come by the clock, are left out of the comparison. */
  readonly events?: boolean;
}

const LIMIT = 1024 * 1024;
const BOUNDARY = 'in-process-boundary';
const multipart = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
/** A multipart body of fields and files, as a browser sends it. */
function formBody(parts: ReadonlyArray<{ name: string; value: string; filename?: string; type?: string }>): string {
  return (
    parts
      .map(
        (p) =>
          `--${BOUNDARY}\r\ncontent-disposition: form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}\r\n` +
          `${p.type === undefined ? '' : `content-type: ${p.type}\r\n`}\r\n${p.value}\r\n`,
      )
      .join('') + `--${BOUNDARY}--\r\n`
  );
}
const FORM = formBody([
  { name: 'tag', value: 'a' },
  { name: 'tag', value: 'b' },
  { name: 'file', value: 'x'.repeat(40), filename: 'notes.txt', type: 'text/plain' },
]);
/** A route that runs task `name` and lets what it throws through (its answer names no thread). */
const task = (name: string, input: unknown): Pick<Case, 'path' | 'method' | 'body' | 'headers'> => ({ path: `/raw/${name}`, method: 'POST', body: JSON.stringify({ input }), headers: json });
const json = { 'content-type': 'application/json' };
const origin = 'https://app.example.com';

const CASES: readonly Case[] = [
  { name: 'plain text', app: 'pooled', path: '/hello' },
  { name: 'root', app: 'pooled', path: '/' },
  { name: 'json', app: 'pooled', path: '/method' },
  { name: 'bytes', app: 'pooled', path: '/binary' },
  { name: 'null body', app: 'pooled', path: '/null' },
  { name: 'path params', app: 'pooled', path: '/users/ada/posts/7' },
  { name: 'wildcard', app: 'pooled', path: '/files/a/b/c.txt' },
  { name: 'query', app: 'pooled', path: '/query?a=1&a=2&b=%20x' },
  { name: 'seed style', app: 'pooled', path: '/seed-style' },
  { name: 'status, custom header and two cookies', app: 'pooled', path: '/created' },
  { name: '204', app: 'pooled', path: '/no-content' },
  { name: 'any method', app: 'pooled', path: '/any', method: 'PATCH' },
  { name: '404', app: 'pooled', path: '/nowhere' },
  { name: '405 with Allow', app: 'pooled', path: '/hello', method: 'DELETE' },
  { name: 'OPTIONS on a known path', app: 'pooled', path: '/hello', method: 'OPTIONS' },
  { name: 'OPTIONS route', app: 'pooled', path: '/method', method: 'OPTIONS' },
  { name: 'HEAD of a GET route', app: 'pooled', path: '/hello', method: 'HEAD' },
  { name: 'HEAD route', app: 'pooled', path: '/head-only', method: 'HEAD' },
  { name: 'JSON body', app: 'pooled', path: '/json', method: 'POST', body: '{"a":[1,2]}', headers: json },
  { name: 'invalid JSON', app: 'pooled', path: '/json', method: 'POST', body: '{"a":', headers: json },
  { name: 'text body', app: 'pooled', path: '/text', method: 'POST', body: 'héllo' },
  { name: 'body at exactly bodyLimit', app: 'pooled', path: '/bytes', method: 'POST', body: Buffer.alloc(LIMIT, 0x61) },
  { name: '413 at bodyLimit + 1', app: 'pooled', path: '/bytes', method: 'POST', body: Buffer.alloc(LIMIT + 1, 0x61) },
  { name: '413 at bodyLimit + 1, inline', app: 'api', path: '/inline/points', method: 'POST', body: Buffer.alloc(LIMIT + 1, 0x20) },
  { name: 'URL at exactly maxUrlLength', app: 'pooled', path: `/${'a'.repeat(8191)}` },
  { name: '414 at maxUrlLength + 1', app: 'pooled', path: `/${'a'.repeat(8192)}` },
  { name: '400 bad path', app: 'pooled', path: '/files/a%2F..%2F..%2Fetc' },
  { name: '400 path above the root', app: 'pooled', path: '/a/../../b' },
  { name: 'handler throws: 500 with errorId', app: 'pooled', path: '/throw' },
  { name: 'async throw', app: 'pooled', path: '/async-throw' },
  { name: 'HttpError with headers', app: 'pooled', path: '/http-error' },
  { name: 'bad header value', app: 'pooled', path: '/bad-header-value' },
  { name: 'unserialisable', app: 'pooled', path: '/unserialisable' },
  { name: 'hop-by-hop headers from a handler', app: 'pooled', path: '/hop-by-hop' },
  { name: 'pooled timeout: 504', app: 'pooled', path: '/never-answers' },
  { name: 'inline timeout: 504', app: 'pooled', path: '/inline-never-answers' },
  { name: 'inline route in a pooled app', app: 'pooled', path: '/light' },
  { name: 'inline with params and query', app: 'api', path: '/inline/users/12?verbose=yes' },
  { name: 'pooled with params and query', app: 'api', path: '/pooled/users/12?verbose=yes' },
  { name: '422 params', app: 'api', path: '/pooled/users/abc' },
  { name: '422 body, inline', app: 'api', path: '/inline/items/shop', method: 'POST', body: '{"name":"","price":-1}', headers: json },
  { name: '422 body, pooled', app: 'api', path: '/pooled/items/shop', method: 'POST', body: '{"name":"","price":-1}', headers: json },
  { name: '201 validated, pooled', app: 'api', path: '/pooled/items/shop?dryRun=true', method: 'POST', body: '{"name":"pen","price":2}', headers: json },
  { name: 'invalid JSON, validated', app: 'api', path: '/pooled/points', method: 'POST', body: '{"x":', headers: json },
  { name: 'header schema', app: 'api', path: '/inline/keyed', headers: { 'x-api-key': '12345678' } },
  { name: 'response schema refuses', app: 'api', path: '/pooled/bad-response' },
  { name: 'error handler 418', app: 'api', path: '/pooled/teapot' },
  { name: 'crash, inline', app: 'api', path: '/inline/crash' },
  { name: 'crash, pooled', app: 'api', path: '/pooled/crash' },
  { name: 'onRequest hook answers 401', app: 'api', path: '/guarded' },
  { name: 'onRequest hook passes', app: 'api', path: '/guarded', headers: { authorization: 'Bearer letmein' } },
  { name: 'onRequest hook returns a non-reply', app: 'api', path: '/hooks/object' },
  { name: 'onResponse hook breaks a header', app: 'api', path: '/hooks/bad-header' },
  { name: 'onResponse hook sets 204', app: 'api', path: '/hooks/no-content' },
  { name: 'CORS preflight', app: 'api', path: '/inline/small', method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } },
  { name: 'CORS simple request', app: 'api', path: '/inline/small', headers: { origin } },
  { name: 'gzip', app: 'api', path: '/inline/big-json', headers: { 'accept-encoding': 'gzip' } },
  { name: 'br, pooled', app: 'api', path: '/pooled/big-json', headers: { 'accept-encoding': 'br' } },
  { name: 'HEAD of a compressed body', app: 'api', path: '/inline/big-json', method: 'HEAD', headers: { 'accept-encoding': 'gzip' } },
  { name: 'streamed compression', app: 'api', path: '/stream/text', headers: { 'accept-encoding': 'gzip' } },
  { name: 'stream of numbers', app: 'api', path: '/stream/numbers?n=20' },
  { name: 'HEAD of a stream', app: 'api', path: '/stream/numbers', method: 'HEAD' },
  { name: 'Readable', app: 'api', path: '/stream/readable' },
  { name: 'a stream answered 204', app: 'api', path: '/stream/file-no-content?id=in-process' },
  { name: 'web stream', app: 'api', path: '/stream/web' },
  { name: 'server-sent events', app: 'api', path: '/events?n=3', events: true },
  { name: 'stream from a pooled handler: 500', app: 'api', path: '/pooled-stream' },
  { name: 'onStartup ran', app: 'api', path: '/pooled/lifespan' },
  { name: 'GET to a WebSocket route without Upgrade', app: 'ws', path: '/echo' },
  { name: 'plain route of a WebSocket app', app: 'ws', path: '/plain' },
  // The developer kit: cookies, forms, pooled tasks, static files.
  { name: 'cookies read, inline', app: 'cookies', path: '/inline/cookies', headers: { cookie: 'a=1; b="two"; a=3; __proto__=x' } },
  { name: 'cookies read, pooled', app: 'cookies', path: '/pool/cookies', headers: { cookie: 'a=1; b="two"' } },
  { name: 'several set-cookie fields, inline', app: 'cookies', path: '/inline/set' },
  { name: 'several set-cookie fields, pooled', app: 'cookies', path: '/pool/set' },
  { name: 'a refused cookie: 500', app: 'cookies', path: '/inline/bad' },
  { name: 'a signed cookie set', app: 'cookies', path: '/pool/signed/set' },
  { name: 'multipart form, inline', app: 'forms', path: '/inline/small', method: 'POST', body: FORM, headers: multipart },
  { name: 'multipart form, pooled', app: 'forms', path: '/pooled/small', method: 'POST', body: FORM, headers: multipart },
  { name: 'urlencoded form', app: 'forms', path: '/inline/small', method: 'POST', body: 'tag=a&tag=b&n=%C3%BC', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  { name: 'form past the files limit: 400', app: 'forms', path: '/pooled/small', method: 'POST', body: formBody(Array.from({ length: 4 }, (_, i) => ({ name: 'file', value: 'x', filename: `${i}.txt` }))), headers: multipart },
  { name: 'form with a wrong content type: 415', app: 'forms', path: '/inline/small', method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } },
  { name: 'malformed multipart: 400', app: 'forms', path: '/inline/small', method: 'POST', body: `--${BOUNDARY}\r\ncontent-disposition: form-data; name="a"\r\n\r\ncut`, headers: multipart },
  { name: 'a pooled task', app: 'tasks', ...task('echo', { a: [1, 'two', null] }) },
  { name: 'a task that throws', app: 'tasks', ...task('quota', 3) },
  { name: 'a task’s HttpError, uncaught', app: 'tasks', ...task('teapot', null) },
  { name: 'a task’s result that cannot be cloned: 500', app: 'tasks', ...task('unclonable', null) },
  { name: 'a task past its timeout', app: 'tasks', ...task('never', null) },
  { name: 'static file', app: 'static', path: '/assets/app.css' },
  { name: 'static file, HEAD', app: 'static', path: '/assets/app.css', method: 'HEAD' },
  { name: 'static file, precompressed br', app: 'static', path: '/assets/app.css', headers: { 'accept-encoding': 'br' } },
  { name: 'static file, streamed (past 64 KiB)', app: 'static', path: '/assets/big.bin' },
  { name: 'static file, streamed, HEAD', app: 'static', path: '/assets/big.bin', method: 'HEAD' },
  { name: 'static file, range', app: 'static', path: '/assets/big.bin', headers: { range: 'bytes=100-200099' } },
  { name: 'static file, 416', app: 'static', path: '/assets/big.bin', headers: { range: 'bytes=300007-' } },
  { name: 'static file, 304', app: 'static', path: '/assets/app.css', headers: { 'if-none-match': '*' } },
  { name: 'static directory index', app: 'static', path: '/assets/sub/' },
  { name: 'static directory without its slash', app: 'static', path: '/assets/sub' },
  { name: 'static symlink out of the root', app: 'static', path: '/assets/out.txt' },
  { name: 'static dotfile', app: 'static', path: '/assets/.env' },
  { name: 'static encoded climb', app: 'static', path: '/assets/%2e%2e/outside.txt' },
];

interface Seen {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** Header fields as one string each (set-cookie values joined by newlines), less the connection's. */
function comparable(entries: Iterable<[string, string | string[] | undefined]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (value === undefined || CONNECTION_FIELDS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join('\n') : value;
  }
  return out;
}

/** The body as the user reads it: decompressed when it was sent compressed, heartbeats left out of an event stream. */
function decoded(body: Buffer, encoding: string | undefined, events: boolean): Buffer {
  let bytes = body;
  if (encoding === 'gzip' && bytes.length > 0) bytes = gunzipSync(bytes);
  if (encoding === 'br' && bytes.length > 0) bytes = brotliDecompressSync(bytes);
  // sse()'s heartbeat comment (src/app/sse.ts) comes by the clock, not by the source.
  if (events) bytes = Buffer.from(bytes.toString('utf8').replaceAll(': keep-alive\n\n', ''));
  return bytes;
}

function fromServer(res: SimpleResponse, events: boolean): Seen {
  const headers = comparable(Object.entries(res.headers) as [string, string | string[] | undefined][]);
  return { status: res.status, headers, body: decoded(res.body, headers['content-encoding'], events) };
}

async function fromApp(res: Response, events: boolean): Promise<Seen> {
  const entries: [string, string | string[]][] = [];
  res.headers.forEach((value, name) => {
    if (name !== 'set-cookie') entries.push([name, value]);
  });
  const cookies = res.headers.getSetCookie();
  if (cookies.length > 0) entries.push(['set-cookie', cookies]);
  const headers = comparable(entries);
  return { status: res.status, headers, body: decoded(Buffer.from(await res.arrayBuffer()), headers['content-encoding'], events) };
}

function same(kind: string, c: Case, server: Seen, app: Seen): void {
  const what = `${c.name} (${c.method ?? 'GET'} ${c.path.slice(0, 60)}) over ${kind}`;
  assert.equal(app.status, server.status, `${what}: status`);
  // A whole body is compressed in one go on both sides, so its content-length matches too; a
  // streamed one has none on either side.
  assert.deepEqual(app.headers, server.headers, `${what}: headers`);
  assert.ok(app.body.equals(server.body), `${what}: body\n  in-process: ${app.body.toString('utf8', 0, 200)}\n  server:     ${server.body.toString('utf8', 0, 200)}`);
}

// The static app serves a tree of its own, named in the environment before its module loads
// (here and in the server's isolates, which inherit the environment).
const tree = makeStaticTree();
process.env['STATIC_TEST_DIR'] = tree.root;
after(() => tree.remove());
const fixture = (name: string): URL => new URL(`../fixtures/apps/${name}.ts`, import.meta.url);

const apps: Record<Case['app'], { url: URL; app: App; server: Server | null }> = {
  cookies: { url: fixture('cookies'), app: (await import(fixture('cookies').href)).default as App, server: null },
  forms: { url: fixture('forms'), app: (await import(fixture('forms').href)).default as App, server: null },
  tasks: { url: fixture('tasks'), app: (await import(fixture('tasks').href)).default as App, server: null },
  static: { url: STATIC_APP, app: (await import(STATIC_APP.href)).default as App, server: null },
  api: { url: API_APP, app: (await import(API_APP.href)).default as App, server: null },
  pooled: { url: TEST_POOLED_APP, app: (await import(TEST_POOLED_APP.href)).default as App, server: null },
  ws: { url: WS_APP, app: (await import(WS_APP.href)).default as App, server: null },
};

before(async () => {
  for (const entry of Object.values(apps)) entry.server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, entry.url);
});
after(async () => {
  for (const entry of Object.values(apps)) await entry.server?.close();
});

for (const kind of ['h1', 'h2c'] as const) {
  describe(`app.request() answers as the server does over ${kind}`, () => {
    const clients = new Map<Case['app'], Client>();
    const client = (app: Case['app']): Client => {
      let made = clients.get(app);
      if (made === undefined) {
        made = createClient(kind, (apps[app].server as Server).port);
        clients.set(app, made);
      }
      return made;
    };
    after(async () => {
      for (const made of clients.values()) await made.close();
    });

    CASES.forEach((c, i) => {
      test(c.name, async () => {
        const id = `${kind}-case-${i}`;
        const headers = { ...c.headers, 'x-request-id': id };
        const init = { method: c.method ?? 'GET', headers, ...(c.body === undefined ? {} : { body: c.body }) };
        const [server, app] = await Promise.all([client(c.app).request(c.path, init), apps[c.app].app.request(c.path, init)]);
        same(kind, c, fromServer(server, c.events === true), await fromApp(app, c.events === true));
        // The answer is this request's: its id comes back (and is a 500's errorId).
        assert.equal(app.headers.get('x-request-id'), id);
        if (app.status === 500 && app.headers.get('content-type')?.startsWith('application/json') === true) {
          assert.equal((JSON.parse(Buffer.from(server.body).toString('utf8')) as { errorId: string }).errorId, id);
        }
      });
    });
  });
}

describe('what the pool codec refuses is refused in-process too', () => {
  let server: Server;
  let client: Client;
  const pooled = apps.pooled.app;
  const small = inProcess(pooled, { poolRingSize: 4096, logLevel: 'silent' });
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, poolRingSize: 4096 }, TEST_POOLED_APP);
    client = createClient('h1', server.port);
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  for (const [name, path, headers] of [
    ['request headers larger than a ring record: 431', '/hello', { 'x-large': 'z'.repeat(3000) }],
    ['response headers larger than a ring record: 500', '/big-header?size=3000', {}],
    ['response headers that fit', '/big-header?size=1000', {}],
    ['a body in chunk records', '/binary', {}],
  ] as const) {
    test(name, async () => {
      const init = { headers: { ...headers, 'x-request-id': `codec-${path.length}` } };
      const [real, here] = await Promise.all([client.request(path, init), small.request(path, init)]);
      same('h1', { name, app: 'pooled', path }, fromServer(real, false), await fromApp(here, false));
    });
  }

  test('a request body larger than a ring record crosses in chunk records, in both directions', async () => {
    const payload = Buffer.alloc(20_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const init = { method: 'POST', body: payload, headers: { 'x-request-id': 'chunked-echo' } };
    const [real, here] = await Promise.all([client.request('/big-echo', init), small.request('/big-echo', init)]);
    same('h1', { name: 'big echo', app: 'pooled', path: '/big-echo' }, fromServer(real, false), await fromApp(here, false));
    assert.equal(real.body.length, payload.length);
  });
});
