/**
 * Values from user code that lie about themselves or change between reads (see the fixture):
 * the server reads each once, sends what it checked, never trusts a getter for where bytes are,
 * and answers 500 with an error id where the value cannot be sent — inline and on the pool, over
 * HTTP/1.1 and h2c, with no isolate replaced.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { overEachClient, type SimpleResponse } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const APP = new URL('../fixtures/apps/lying-values.ts', import.meta.url);

function assertFault(res: SimpleResponse, path: string): void {
  assert.equal(res.status, 500, path);
  assert.match((res.json() as { errorId?: string }).errorId ?? '', GENERATED_ID, path);
}

let server: Server;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, handlerTimeout: 3_000 }, APP);
});
after(() => server.close());

overEachClient(['h1', 'h2c'], () => server.port, (client) => {

  test('hooks that write over the request info they are given still answer 500 with an id', async () => {
    assertFault(await client().request('/hook/info-written-over'), 'onRequest');
    assertFault(await client().request('/hook/draft-status'), 'onResponse');
  });

  for (const place of ['inline', 'pool']) {
    describe(place, () => {
      test('a handler that writes over req.path still answers 500 with an id', async () => {
        assertFault(await client().request(`/${place}/req-written-over`), 'req');
      });

      test('bytes are sent by their real length, whatever byteLength says', async () => {
        const subclass = await client().request(`/${place}/lying-byte-length`);
        assert.equal(subclass.status, 200);
        assert.deepEqual([...subclass.body], [1, 2, 3, 4]);
        const own = await client().request(`/${place}/lying-own-length`);
        assert.deepEqual([...own.body], [5, 6, 7]);
        assert.equal(own.headers['content-length'] ?? String(own.body.length), '3');
      });

      test('a resizable buffer is sent as it was when returned; a detached one is a 500', async () => {
        const grown = await client().request(`/${place}/growing-body`);
        assert.equal(grown.status, 200);
        assert.equal(grown.body.length, 1 << 20);
        assert.ok(grown.body.every((byte) => byte === 7));
        assertFault(await client().request(`/${place}/detached-body`), 'detached');
      });

      test('a content type that is not a string is a 500', async () => {
        for (const which of ['number', 'boxed', 'list']) assertFault(await client().request(`/${place}/content-type/${which}`), which);
      });

      test('a status is read once: the response schema judges what is sent', async () => {
        const res = await client().request(`/${place}/flip-status`);
        // Read once as 500: an error reply, passed as the handler made it; never a 200 with
        // fields the schema would have removed.
        assert.equal(res.status, 500);
      });

      test('header values are converted once, and what was checked is what is sent', async () => {
        const flip = await client().request(`/${place}/flip-header`);
        assert.equal(flip.status, 200);
        assert.equal(flip.headers['x-flip'], 'clean');
        assert.equal(flip.headers['x-injected'], undefined);
        assertFault(await client().request(`/${place}/flip-list-header`), 'list');
        const proto = await client().request(`/${place}/proto-header`);
        assert.equal(proto.status, 200);
        assert.equal(proto.headers['x-ok'], '1');
        assert.equal(proto.headers['0'], undefined, 'a __proto__ header does not turn into headers named 0 and 1');
      });

      test('an HttpError whose status was written over is a 500, not whatever it now says', async () => {
        for (const status of ['70000', '-1', '200', '302', '1.5', '101']) {
          const res = await client().request(`/${place}/http-status/${status}`);
          assertFault(res, status);
          assert.equal(res.headers['location'], undefined);
        }
      });

      test('odd validator issues become a plain 422; a failure without issues fails; issues that are not a list are a 500', async () => {
        const odd = await client().request(`/${place}/issues/odd?q=1`);
        assert.equal(odd.status, 422);
        assert.deepEqual(odd.json(), { detail: [{ loc: ['query', 'Symbol(s)', '10n', 'q', 3], msg: '10n', type: 'value_error' }] });
        const oddAsync = await client().request(`/${place}/issues/odd-async?q=1`);
        assert.equal(oddAsync.status, 422);
        const empty = await client().request(`/${place}/issues/empty?q=1`);
        assert.equal(empty.status, 422);
        assert.deepEqual(empty.json(), { detail: [{ loc: ['query'], msg: 'the validator reported a failure without saying why', type: 'value_error' }] });
        assertFault(await client().request(`/${place}/issues/not-a-list?q=1`), 'not a list');
      });
    });
  }
});

test('no isolate was replaced', () => {
  assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
});
