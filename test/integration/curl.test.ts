/** curl, a client the server did not grow up with, against one port: h2c, HTTP/1.1, Upgrade, TLS. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { startTestServer } from '../helpers/server.ts';

const run = promisify(execFile);
const CA = fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url));

async function curlVersion(): Promise<string | null> {
  try {
    const { stdout } = await run('curl', ['--version']);
    return stdout;
  } catch {
    return null;
  }
}

/** Runs curl; returns the body followed by `\n<http_version> <status>`. */
async function curl(args: string[]): Promise<{ body: string; version: string; status: string }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_version} %{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  const [version = '', status = ''] = stdout.slice(cut + 1).split(' ');
  return { body: stdout.slice(0, cut), version, status };
}

const version = await curlVersion();
const skip = version === null ? 'curl is not installed (apt-get install curl)' : !/HTTP2/.test(version) ? 'this curl has no HTTP/2 support' : false;
if (skip !== false) console.log(`# curl tests skipped: ${skip}`);

describe('curl against one cleartext port', { skip }, () => {
  let server: Server;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('--http2-prior-knowledge speaks h2c', async () => {
    const res = await curl(['--http2-prior-knowledge', `${server.url}/`]);
    assert.deepEqual(res, { body: 'Hello from /', version: '2', status: '200' });
  });

  test('--http1.1 speaks HTTP/1.1 on the same port', async () => {
    const res = await curl(['--http1.1', `${server.url}/`]);
    assert.deepEqual(res, { body: 'Hello from /', version: '1.1', status: '200' });
  });

  test('an Upgrade: h2c request is answered over HTTP/1.1', async () => {
    const res = await curl(['--http2', `${server.url}/items/7`]);
    assert.deepEqual(res, { body: '{"id":"7"}', version: '1.1', status: '200' });
  });

  test('a binary upload round-trips over h2c', async () => {
    const res = await curl(['--http2-prior-knowledge', '--data-binary', 'x'.repeat(100_000), `${server.url}/text`]);
    assert.deepEqual(res, { body: '100000 chars', version: '2', status: '200' });
  });
});

describe('curl against a TLS port', { skip }, () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ withTls: true });
  });
  after(() => server.close());

  test('ALPN negotiates h2', async () => {
    const res = await curl(['--cacert', CA, '--http2', `${server.url}/`]);
    assert.deepEqual(res, { body: 'Hello from /', version: '2', status: '200' });
  });

  test('ALPN falls back to HTTP/1.1', async () => {
    const res = await curl(['--cacert', CA, '--http1.1', `${server.url}/`]);
    assert.deepEqual(res, { body: 'Hello from /', version: '1.1', status: '200' });
  });
});
