// Tests of the kit example written the way an app's own tests are: node:test and app.request(),
// no port, no worker isolates. Run: node --test examples/kit/app.test.ts
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { inProcess } from 'fasterapi';
import app, { audit } from './app.ts';

after(() => inProcess(app).close());

test('serves a static file with its validators, and 304 when it has not changed', async () => {
  const first = await app.request('/assets/app.css');
  assert.equal(first.status, 200);
  assert.match(first.headers.get('content-type') ?? '', /^text\/css/);
  const etag = first.headers.get('etag');
  assert.ok(etag !== null);
  const again = await app.request('/assets/app.css', { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const part = await app.request('/assets/app.css', { headers: { range: 'bytes=0-1' } });
  assert.equal(part.status, 206);
  assert.equal(await part.text(), '/*');
  assert.equal((await app.request('/assets/../app.ts')).status, 404);
});

test('takes an upload and hashes it', async () => {
  const bytes = readFileSync(new URL('./public/index.html', import.meta.url));
  const form = new FormData();
  form.set('doc', new Blob([bytes], { type: 'text/html' }), 'index.html');
  form.set('note', 'first');
  const res = await app.request('/upload', { method: 'POST', body: form });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { name: 'index.html', type: 'text/html', size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), note: 'first' });
});

test('keeps a signed session that a changed cookie cannot pass', async () => {
  const login = await app.request('/login?user=ann');
  const cookie = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';
  assert.match(cookie, /^sid=ann\./);
  assert.deepEqual(await (await app.request('/me', { headers: { cookie } })).json(), { user: 'ann' });
  const forged = cookie.replace('sid=ann.', 'sid=bob.');
  assert.equal((await app.request('/me', { headers: { cookie: forged } })).status, 401);
});

test('hashes on the pool and writes the audit line after the response', async () => {
  const res = await app.request('/signup', { method: 'POST', body: JSON.stringify({ user: 'cy', password: 'correct horse' }) });
  assert.equal(res.status, 201);
  const { hash } = (await res.json()) as { hash: string };
  assert.match(hash, /^[0-9a-f]{64}$/);
  await nextTurn();
  await nextTurn();
  assert.deepEqual(audit, ['signed up cy']);
});
