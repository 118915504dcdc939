/** Lifespan hooks: startup in every isolate before it serves, shutdown in every isolate, failures. */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, isFasterApiError, type Server } from '../../src/index.ts';
import { runCli } from '../helpers/cli.ts';
import { createClient } from '../helpers/clients.ts';
import { API_APP, startTestServer } from '../helpers/server.ts';

const STARTUP_FAILS = new URL('../fixtures/apps/startup-fails.ts', import.meta.url);

const dir = mkdtempSync(join(tmpdir(), 'fasterapi-lifespan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('startup and shutdown hooks', () => {
  test('startup hooks ran in every pinned and pooled isolate before it served', async () => {
    const server = await startTestServer({ pinnedWorkers: 2, pooledWorkers: 2, pooledIsolates: 2 }, API_APP);
    try {
      // New connections land on either pinned worker; pooled requests on either pooled isolate.
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const client = createClient('h1', server.port);
        for (const where of ['inline', 'pooled']) {
          const body = (await client.request(`/${where}/lifespan`)).json() as { started: boolean; ran: string };
          assert.equal(body.started, true, `${where} request ${i}`);
          seen.add(body.ran);
        }
        await client.close();
      }
      assert.deepEqual([...seen].sort(), ['pinned', 'pooled']);
    } finally {
      await server.close();
    }
  });

  test('shutdown hooks run once in every isolate, told which one', async () => {
    const file = join(dir, 'shutdown.log');
    process.env['FASTERAPI_TEST_SHUTDOWN_FILE'] = file;
    let server: Server;
    try {
      server = await startTestServer({ pinnedWorkers: 2, pooledWorkers: 2, pooledIsolates: 2 }, API_APP);
    } finally {
      delete process.env['FASTERAPI_TEST_SHUTDOWN_FILE'];
    }
    await server.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n').sort();
    assert.deepEqual(lines, ['pinned 0 true', 'pinned 1 true', 'pooled 0 true', 'pooled 1 true']);
  });

  for (const failIn of ['pinned', 'pooled'] as const) {
    test(`a startup hook that throws in a ${failIn} isolate stops the server from starting, with its stack`, async () => {
      process.env['FASTERAPI_TEST_FAIL_IN'] = failIn;
      try {
        await assert.rejects(startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, STARTUP_FAILS), (thrown: unknown) => {
          assert.ok(isFasterApiError(thrown));
          assert.equal(thrown.code, ErrorCode.STARTUP_HOOK);
          assert.match(thrown.message, /an onStartup hook of .*startup-fails\.ts failed: Error: cannot reach the database at db\.internal:5432/);
          assert.match(thrown.message, /startup-fails\.ts:\d+/);
          return true;
        });
      } finally {
        delete process.env['FASTERAPI_TEST_FAIL_IN'];
      }
    });
  }

  test('the CLI exits 1 with the hook’s error when startup fails', async () => {
    const done = await runCli(['serve', 'test/fixtures/apps/startup-fails.ts', '--port', '0', '--pinned', '1']);
    assert.equal(done.code, 1);
    assert.match(done.stderr, /^fasterapi: an onStartup hook of .*startup-fails\.ts failed: Error: cannot reach the database/);
    assert.doesNotMatch(done.stdout, /Ready:/);
  });
});
