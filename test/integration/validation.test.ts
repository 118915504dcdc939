/**
 * Validation end to end: the same routes inline and on the pool give the same answers, over
 * HTTP/1.1 and h2c, with zod, valibot and arktype schemas.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { API_APP, startTestServer } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

let server: Server;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, API_APP);
});
after(() => server.close());

for (const kind of ['h1', 'h2c'] as const) {
  describe(`validation over ${kind}`, () => {
    let client: Client;
    before(() => {
      client = createClient(kind, server.port);
    });
    after(() => client.close());

    for (const where of ['inline', 'pooled'] as const) {
      const kindOfIsolate = where === 'inline' ? 'pinned' : 'pooled';

      test(`${where}: a valid request reaches the handler with parsed, defaulted, coerced values`, async () => {
        const res = await client.request(`/${where}/items/shop?dryRun=yes`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify({ name: 'lamp', price: 12.5 }),
        });
        assert.equal(res.status, 201);
        assert.deepEqual(res.json(), { shop: 'shop', name: 'lamp', price: 12.5, tags: [], dryRun: true, ran: kindOfIsolate });
      });

      test(`${where}: an invalid request gets 422 listing every problem, and the handler never runs`, async () => {
        const res = await client.request(`/${where}/items/Shop1?dryRun=maybe`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: JSON.stringify({ name: '', price: -2, tags: ['ok', 7] }),
        });
        assert.equal(res.status, 422);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const { detail } = res.json() as { detail: Array<{ loc: unknown[]; msg: string; type: string }> };
        assert.deepEqual(
          detail.map((issue) => issue.loc),
          [['path', 'shop'], ['query', 'dryRun'], ['body', 'name'], ['body', 'price'], ['body', 'tags', 1]],
        );
        for (const issue of detail) {
          assert.equal(issue.type, 'value_error');
          assert.equal(typeof issue.msg, 'string');
          assert.ok(issue.msg.length > 0);
        }
      });

      test(`${where}: a missing body field is located, and extra fields are dropped by the schema`, async () => {
        const res = await client.request(`/${where}/items/shop`, { method: 'POST', headers: JSON_HEADERS, body: '{"price":1}' });
        assert.equal(res.status, 422);
        assert.deepEqual((res.json() as { detail: Array<{ loc: unknown[] }> }).detail.map((i) => i.loc), [['body', 'name']]);
        const extra = await client.request(`/${where}/items/shop`, {
          method: 'POST',
          headers: JSON_HEADERS,
          body: '{"name":"a","price":1,"admin":true}',
        });
        assert.equal(extra.status, 201);
        assert.equal('admin' in (extra.json() as object), false);
      });

      test(`${where}: a body that is not JSON gets 400 json_invalid; no body at all is a 422`, async () => {
        const broken = await client.request(`/${where}/items/shop`, { method: 'POST', headers: JSON_HEADERS, body: '{"name":' });
        assert.equal(broken.status, 400);
        assert.deepEqual(broken.json(), { detail: [{ loc: ['body'], msg: 'the body is not valid JSON', type: 'json_invalid' }] });
        const empty = await client.request(`/${where}/items/shop`, { method: 'POST' });
        assert.equal(empty.status, 422);
        assert.deepEqual((empty.json() as { detail: Array<{ loc: unknown[] }> }).detail.map((i) => i.loc), [['body']]);
      });

      test(`${where}: valibot params with a transform, and a query default`, async () => {
        const ok = await client.request(`/${where}/users/42`);
        assert.equal(ok.status, 200);
        assert.deepEqual(ok.json(), { id: 42, verbose: 'no', ran: kindOfIsolate });
        const bad = await client.request(`/${where}/users/x?verbose=maybe`);
        assert.equal(bad.status, 422);
        assert.deepEqual((bad.json() as { detail: Array<{ loc: unknown[] }> }).detail.map((i) => i.loc), [['path', 'id'], ['query', 'verbose']]);
      });

      test(`${where}: arktype bodies`, async () => {
        const ok = await client.request(`/${where}/points`, { method: 'POST', body: '{"x":1,"y":2}' });
        assert.deepEqual(ok.json(), { sum: 3, ran: kindOfIsolate });
        const bad = await client.request(`/${where}/points`, { method: 'POST', body: '{"x":1,"y":"2"}' });
        assert.equal(bad.status, 422);
        assert.deepEqual((bad.json() as { detail: Array<{ loc: unknown[] }> }).detail.map((i) => i.loc), [['body', 'y']]);
      });

      test(`${where}: headers are validated with lowercase names`, async () => {
        const ok = await client.request(`/${where}/keyed`, { headers: { 'X-Api-Key': 'abcdefgh' } });
        assert.deepEqual(ok.json(), { key: 'abcdefgh' });
        const bad = await client.request(`/${where}/keyed`, { headers: { 'x-api-key': 'short' } });
        assert.equal(bad.status, 422);
        assert.deepEqual((bad.json() as { detail: Array<{ loc: unknown[] }> }).detail.map((i) => i.loc), [['header', 'x-api-key']]);
        const missing = await client.request(`/${where}/keyed`);
        assert.equal(missing.status, 422);
      });

      test(`${where}: the response schema decides what is sent: unknown fields are dropped, error replies pass`, async () => {
        const account = await client.request(`/${where}/accounts/7`);
        assert.equal(account.status, 200);
        assert.deepEqual(account.json(), { id: 7, name: 'Ada' });
        const missing = await client.request(`/${where}/accounts/0`);
        assert.equal(missing.status, 404);
        assert.deepEqual(missing.json(), { detail: 'no such account' });
      });

      test(`${where}: a response that breaks its schema is a 500 with an error id, not sent`, async () => {
        const res = await client.request(`/${where}/bad-response`);
        assert.equal(res.status, 500);
        const body = res.json() as { detail: string; errorId: string };
        assert.equal(body.detail, 'Internal Server Error');
        assert.match(body.errorId, GENERATED_ID);
        assert.equal(JSON.stringify(body).includes('wrong'), false);
      });
    }

    test('inline and pooled answers are byte for byte the same (but for where they ran)', async () => {
      const cases: Array<[string, Parameters<Client['request']>[1]]> = [
        ['/items/Shop1?dryRun=maybe', { method: 'POST', headers: JSON_HEADERS, body: '{"name":"","price":-2,"tags":["ok",7]}' }],
        ['/items/shop', { method: 'POST', headers: JSON_HEADERS, body: '{"name":' }],
        ['/users/x?verbose=maybe', {}],
        ['/points', { method: 'POST', body: '[1,2]' }],
      ];
      for (const [path, init] of cases) {
        const inline = await client.request(`/inline${path}`, init);
        const pooled = await client.request(`/pooled${path}`, init);
        assert.equal(pooled.status, inline.status, path);
        assert.equal(pooled.text(), inline.text(), path);
      }
    });
  });
}
