/** The plugins' pure parts: encoding negotiation, Vary, and option checking. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compression, negotiate } from '../../src/plugins/compression.ts';
import type { RequestInfo, ResponseDraft } from '../../src/app/hooks.ts';
import { isReply } from '../../src/app/response.ts';
import { cors } from '../../src/plugins/cors.ts';
import { addVary } from '../../src/plugins/vary.ts';

describe('negotiate (Accept-Encoding)', () => {
  const both = ['br', 'gzip'] as const;

  test('no header, or an empty one: no encoding', () => {
    assert.equal(negotiate(undefined, both), null);
    assert.equal(negotiate('', both), null);
    assert.equal(negotiate('identity', both), null);
  });

  test('our preference breaks ties; the client’s q-values come first', () => {
    assert.equal(negotiate('gzip, deflate, br', both), 'br');
    assert.equal(negotiate('gzip, deflate, br', ['gzip', 'br']), 'gzip');
    assert.equal(negotiate('br;q=0.5, gzip;q=0.8', both), 'gzip');
    assert.equal(negotiate('br;q=1.0, gzip;q=0.999', both), 'br');
  });

  test('q=0 refuses an encoding; * stands for the ones not named', () => {
    assert.equal(negotiate('br;q=0, gzip', both), 'gzip');
    assert.equal(negotiate('*', both), 'br');
    assert.equal(negotiate('br;q=0, *;q=0.1', both), 'gzip');
    assert.equal(negotiate('*;q=0', both), null);
    assert.equal(negotiate('gzip;q=0, br;q=0', both), null);
  });

  test('case, spaces and x-gzip are accepted; nonsense q-values are ignored', () => {
    assert.equal(negotiate(' GZIP ; Q=0.5 ', both), 'gzip');
    assert.equal(negotiate('x-gzip', both), 'gzip');
    assert.equal(negotiate('br;q=abc, gzip;q=0.2', both), 'gzip');
    assert.equal(negotiate('deflate, compress', both), null);
  });
});

describe('addVary', () => {
  test('adds a name once, keeps what is there, and leaves Vary: * alone', () => {
    const headers: Record<string, string | readonly string[]> = {};
    addVary(headers, 'Origin');
    addVary(headers, 'origin');
    addVary(headers, 'Accept-Encoding');
    assert.equal(headers['vary'], 'Origin, Accept-Encoding');
    const star: Record<string, string | readonly string[]> = { vary: '*' };
    addVary(star, 'Origin');
    assert.equal(star['vary'], '*');
    const list: Record<string, string | readonly string[]> = { vary: ['Cookie', 'Origin'] };
    addVary(list, 'Origin');
    addVary(list, 'Accept');
    assert.equal(list['vary'], 'Cookie, Origin, Accept');
  });
});

describe('plugin options are checked when the plugin is made, naming the option', () => {
  test('cors', () => {
    assert.throws(() => cors({ origin: 5 as never }), /cors\(\): origin must be/);
    assert.throws(() => cors({ origin: ['https://a', 3] as never }), /cors\(\): origin must be/);
    assert.throws(() => cors({ maxAge: -1 }), /cors\(\): maxAge must be a whole number/);
    assert.throws(() => cors({ methods: 'GET' as never }), /cors\(\): methods must be a list/);
    assert.throws(() => cors({ allowedHeaders: [''] }), /cors\(\): allowedHeaders must be a list/);
    assert.throws(() => cors({ credentials: 'yes' as never }), /cors\(\): credentials must be true or false/);
    assert.equal(cors().name, 'cors');
  });

  test('compression', () => {
    assert.throws(() => compression({ threshold: -5 }), /compression\(\): threshold must be/);
    assert.throws(() => compression({ encodings: [] }), /compression\(\): encodings must be/);
    assert.throws(() => compression({ encodings: ['deflate' as never] }), /compression\(\): encodings must be/);
    assert.throws(() => compression({ brotliQuality: 12 }), /compression\(\): brotliQuality must be 0–11/);
    assert.throws(() => compression({ gzipLevel: 0 }), /compression\(\): gzipLevel must be 1–9/);
    assert.equal(compression().name, 'compression');
  });
});

/** What the server gives hooks for one request. */
function request(method: string, headers: Record<string, string> = {}): RequestInfo {
  return { id: 'test-request', method, path: '/x', rawQuery: '', header: (name) => headers[name.toLowerCase()] };
}

async function respond(plugin: ReturnType<typeof cors>, req: RequestInfo): Promise<ResponseDraft> {
  const res: ResponseDraft = { status: 200, headers: {}, body: 'ok' };
  await plugin.onResponse?.(req, res);
  return res;
}

describe('cors() decisions', () => {
  test("credentials with any origin ('*' or unset) are refused: every site could read users' responses", () => {
    assert.throws(() => cors({ credentials: true }), /cors\(\): credentials need the allowed origins listed/);
    assert.throws(() => cors({ origin: '*', credentials: true }), /credentials need the allowed origins/);
  });

  test("'*' goes on every response, CORS request or not, without Vary", async () => {
    const plugin = cors();
    for (const req of [request('GET'), request('GET', { origin: 'https://a.example' })]) {
      const res = await respond(plugin, req);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['vary'], undefined);
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
    }
  });

  test('a listed origin is echoed with Vary: Origin; others get nothing but Vary', async () => {
    const plugin = cors({ origin: ['https://a.example'], credentials: true });
    const allowed = await respond(plugin, request('GET', { origin: 'https://a.example' }));
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://a.example');
    assert.equal(allowed.headers['access-control-allow-credentials'], 'true');
    assert.equal(allowed.headers['vary'], 'Origin');
    const other = await respond(plugin, request('GET', { origin: 'https://b.example' }));
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers['vary'], 'Origin');
  });

  test('a RegExp with the g flag gives the same answer every time', async () => {
    const plugin = cors({ origin: /^https:\/\/[a-z]+\.example$/g });
    const twice = [];
    for (let i = 0; i < 4; i++) twice.push((await respond(plugin, request('GET', { origin: 'https://a.example' }))).headers['access-control-allow-origin']);
    // ('*' is not in play: a RegExp echoes the origin.)
    assert.deepEqual(twice, Array(4).fill('https://a.example'));
  });

  test('a preflight is answered only when it is one (OPTIONS with Access-Control-Request-Method)', async () => {
    const plugin = cors({ origin: ['https://a.example'] });
    assert.equal(await plugin.onRequest?.(request('OPTIONS')), undefined);
    assert.equal(await plugin.onRequest?.(request('GET', { origin: 'https://a.example', 'access-control-request-method': 'GET' })), undefined);
    const answer = await plugin.onRequest?.(request('OPTIONS', { origin: 'https://a.example', 'access-control-request-method': 'PUT' }));
    assert.ok(isReply(answer));
    assert.equal(answer.status, 204);
  });
});
