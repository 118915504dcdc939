/**
 * What only the in-process runtime can show: that reading a streamed answer pulls it from its
 * source chunk by chunk and that cancelling the reader ends the request (its `signal` aborts),
 * that the app's lifespan hooks run once, that the app is frozen after its first request, that
 * no worker thread is started even for pooled routes, and the errors of misuse.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { App, ErrorCode, inProcess, isFasterApiError, reply, sse } from '../../src/index.ts';

/** Fails the test if `promise` has not settled soon: what it waits for did not happen. */
function soon<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen`)), 5_000);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Lets every pending callback run (the source may produce only if the reader asked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('a streamed answer is pulled one chunk at a time, and cancelling the reader releases the source and aborts req.signal', async () => {
  const app = new App();
  let produced = 0;
  const released = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<void>();
  app.get('/count', async function* (req) {
    req.signal.addEventListener('abort', () => aborted.resolve());
    try {
      for (;;) {
        produced++;
        yield `${produced}\n`;
      }
    } finally {
      released.resolve();
    }
  });
  const res = await app.request('/count');
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  assert.equal(Buffer.from(first.value as Uint8Array).toString(), '1\n');
  await settle();
  // The chunk read, and at most the one the source was asked for next: an endless source is not drained.
  assert.ok(produced <= 2, `produced ${produced} chunks for one read`);
  const second = await reader.read();
  assert.equal(Buffer.from(second.value as Uint8Array).toString(), '2\n');
  await reader.cancel();
  await soon(released.promise, "the source's finally block");
  await soon(aborted.promise, 'the abort of req.signal');
});

test('an event stream waiting on something else stops through req.signal when the reader cancels', async () => {
  const app = new App();
  const stopped = Promise.withResolvers<string>();
  app.get('/wait', sse(async function* (req) {
    yield { data: 'hello' };
    await once(req.signal, 'abort');
    stopped.resolve(String(req.signal.aborted));
  }));
  const res = await app.request('/wait');
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  assert.match(Buffer.from((await reader.read()).value as Uint8Array).toString(), /data: hello/);
  await reader.cancel();
  assert.equal(await soon(stopped.promise, 'the abort of req.signal'), 'true');
});

test("a stream that fails half way errors the reader, as a cut response does", async () => {
  const app = new App();
  app.get('/fail', async function* () {
    yield 'first\n';
    throw new Error('the source broke');
  });
  const res = await inProcess(app, { logLevel: 'silent' }).request('/fail');
  assert.equal(res.status, 200);
  await assert.rejects(res.text());
});

test('the onStartup hooks run once before the first request, and close() runs onShutdown once', async () => {
  const app = new App();
  const ran: string[] = [];
  app.onStartup((isolate) => {
    ran.push(`startup ${isolate.kind}`);
  });
  app.onShutdown(() => {
    ran.push('shutdown');
  });
  app.get('/', () => ran.join(','));
  assert.deepEqual(ran, []);
  const answers = await Promise.all([app.request('/'), app.request('/'), inProcess(app).request('/')]);
  for (const res of answers) assert.equal(await res.text(), 'startup pinned');
  const client = inProcess(app);
  await client.close();
  await client.close();
  await inProcess(app).close();
  assert.deepEqual(ran, ['startup pinned', 'shutdown']);
  await assert.rejects(app.request('/'), (thrown) => isFasterApiError(thrown) && thrown.code === ErrorCode.IN_PROCESS);
});

test('a failing onStartup hook makes requests reject with FA_ERR_STARTUP_HOOK', async () => {
  const app = new App();
  app.onStartup(() => {
    throw new Error('no database');
  });
  app.get('/', () => 'never');
  for (let i = 0; i < 2; i++) {
    await assert.rejects(app.request('/'), (thrown) => isFasterApiError(thrown) && thrown.code === ErrorCode.STARTUP_HOOK && /no database/.test(thrown.message));
  }
});

test('the app takes no routes after its first in-process request, and has its built-in routes then', async () => {
  const app = new App();
  app.get('/', () => 'root');
  app.get('/late-but-before', () => 'fine');
  assert.equal((await app.request('/late-but-before')).status, 200);
  assert.throws(() => app.get('/late', () => 'late'), (thrown) => isFasterApiError(thrown) && thrown.code === ErrorCode.ROUTE_DEFINITION);
  assert.equal((await app.request('/late')).status, 404);
  assert.equal((await app.request('/openapi.json')).status, 200);
});

test('pooled routes run in-process without starting a worker thread', async () => {
  const app = new App();
  const gate = Promise.withResolvers<void>();
  const entered = Promise.withResolvers<void>();
  app.get('/pooled', async (req) => {
    entered.resolve();
    await gate.promise;
    return { kind: req.isolate.kind };
  }, { pool: true });
  app.get('/inline', (req) => ({ kind: req.isolate.kind }));
  const workers = (): number => process.getActiveResourcesInfo().filter((name) => /worker|messageport/i.test(name)).length;
  const before = workers();
  const pending = app.request('/pooled');
  await entered.promise;
  assert.equal(workers(), before, 'no Worker or MessagePort while a pooled request runs');
  gate.resolve();
  assert.deepEqual(await (await pending).json(), { kind: 'pooled' });
  assert.deepEqual(await (await app.request('/inline')).json(), { kind: 'pinned' });
  assert.equal(workers(), before);
});

test('a pooled request body crosses the codec: FormData and URLSearchParams arrive as a client sends them', async () => {
  const app = new App();
  app.post('/echo', async (req) => reply(await req.bytes(), { headers: { 'x-type': req.header('content-type') ?? '', 'x-length': req.header('content-length') ?? '' } }), { pool: true });
  const form = new URLSearchParams({ a: '1', b: 'two words' });
  const res = await app.request('/echo', { method: 'POST', body: form });
  assert.equal(await res.text(), 'a=1&b=two+words');
  assert.equal(res.headers.get('x-type'), 'application/x-www-form-urlencoded;charset=UTF-8');
  assert.equal(res.headers.get('x-length'), '15');
  const data = new FormData();
  data.set('field', 'value');
  const multipart = await app.request('/echo', { method: 'POST', body: data });
  assert.match(multipart.headers.get('x-type') ?? '', /^multipart\/form-data; boundary=/);
  assert.match(await multipart.text(), /name="field"\r\n\r\nvalue\r\n/);
});

test('a streamed request body is read as it comes, and the body limit applies to it', async () => {
  const app = new App();
  app.post('/length', async (req) => String((await req.bytes()).byteLength));
  const client = inProcess(app, { bodyLimit: 10, logLevel: 'silent' });
  const stream = (size: number): ReadableStream<Uint8Array> =>
    new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(size));
        controller.close();
      },
    });
  assert.equal(await (await client.request('/length', { method: 'POST', body: stream(10) })).text(), '10');
  assert.equal((await client.request('/length', { method: 'POST', body: stream(11) })).status, 413);
  // With a content-length, the 413 comes before the handler runs, as on the server.
  assert.equal((await client.request('/length', { method: 'POST', body: 'x'.repeat(11) })).status, 413);
});

test('a URL takes its host, and a Request carries its method, headers and body', async () => {
  const app = new App();
  app.post('/who', async (req) => ({ host: req.header('host'), text: await req.text(), custom: req.header('x-custom') ?? null, query: req.rawQuery }));
  const viaUrl = await app.request(new URL('http://api.example.com:8443/who?x=1'), { method: 'POST', body: 'a' });
  assert.deepEqual(await viaUrl.json(), { host: 'api.example.com:8443', text: 'a', custom: null, query: 'x=1' });
  const viaRequest = await app.request(new Request('http://example.org/who', { method: 'POST', body: 'b', headers: { 'x-custom': 'yes' } }));
  assert.deepEqual(await viaRequest.json(), { host: 'example.org', text: 'b', custom: 'yes', query: '' });
});

test('an aborted signal rejects the request before its answer', async () => {
  const app = new App();
  const started = Promise.withResolvers<void>();
  app.get('/slow', async (req) => {
    started.resolve();
    await once(req.signal, 'abort');
    return 'too late';
  });
  const controller = new AbortController();
  const pending = app.request('/slow', { signal: controller.signal });
  await started.promise;
  controller.abort(new Error('gave up'));
  await assert.rejects(pending, /gave up/);
});

test('options are checked: unknown names and invalid values are FA_ERR_INVALID_OPTION', () => {
  const app = new App();
  assert.throws(() => inProcess(app, { port: 80 } as never), (thrown) => isFasterApiError(thrown) && thrown.code === ErrorCode.INVALID_OPTION && /port/.test(thrown.message));
  assert.throws(() => inProcess(app, { bodyLimit: -1 }), (thrown) => isFasterApiError(thrown) && thrown.code === ErrorCode.INVALID_OPTION && /bodyLimit/.test(thrown.message));
  assert.throws(() => inProcess({}), (thrown) => isFasterApiError(thrown) && thrown.code === ErrorCode.IN_PROCESS);
});

test('options apply: handlerTimeout, maxUrlLength, exposeErrors', async () => {
  const app = new App();
  app.get('/never', () => new Promise(() => {}));
  app.get('/throw', () => {
    throw new Error('visible message');
  });
  const client = inProcess(app, { handlerTimeout: 50, maxUrlLength: 20, exposeErrors: true, logLevel: 'silent' });
  assert.equal((await client.request('/never')).status, 504);
  assert.equal((await client.request('/never?abcdefghijklmn')).status, 414);
  assert.equal((await client.request('/never?abcdefghijklm')).status, 504);
  assert.match(await (await client.request('/throw')).text(), /visible message/);
});

test('more header fields than maxHeaderCount get 431, as the engines answer (the Host field counts)', async () => {
  const app = new App();
  app.get('/', () => 'ok');
  const client = inProcess(app, { maxHeaderCount: 4, logLevel: 'silent' });
  // host, x-request-id and two more: four fields.
  const fields = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f${i}`, 'v']));
  assert.equal((await client.request('/', { headers: { 'x-request-id': 'count-4', ...fields(2) } })).status, 200);
  const refused = await client.request('/', { headers: { 'x-request-id': 'count-5', ...fields(3) } });
  assert.equal(refused.status, 431);
  assert.match(await refused.text(), /the limit is 4 headers/);
});

test('without the package entry, app.request() says to import from fasterapi', async () => {
  const script = [
    "const { App } = await import(new URL('../../src/app/app.ts', process.env.BASE).href);",
    'try { await new App().request("/"); console.log("answered"); }',
    'catch (e) { console.log(e.code, /import .*from .fasterapi./.test(e.message)); }',
  ].join('\n');
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, BASE: import.meta.url } });
  assert.equal(stdout.trim(), `${ErrorCode.IN_PROCESS} true`);
});
