/**
 * Static files against clients that mean harm or leave: a corpus of traversal paths sent as raw
 * bytes over HTTP/1.1 and verbatim as HTTP/2 :path (no client normalises them on the way), each
 * answered 400, 403 or 404 and never with the content of a file outside the root; downloads
 * cut off by the client, which must leave no file descriptor open; a file that shrinks while it
 * is sent; and curl's own conditional and range requests.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createClient } from '../helpers/clients.ts';
import { rawConnect } from '../helpers/raw.ts';
import { BIG_SIZE, HOSTILE, openFilesUnder, withStaticServer } from '../helpers/static-tree.ts';

const served = withStaticServer();


const REFUSED = new Set([400, 403, 404]);

/** One request as raw HTTP/1.1 bytes on a fresh connection: its status and body. */
async function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  const conn = await rawConnect(port);
  conn.socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, 'latin1');
  await conn.closed;
  const text = conn.received();
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

/** One request with `:path` exactly as given, on `session`. */
function h2Get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path }, { endStream: true });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('latin1') }));
    stream.on('error', reject);
  });
}

describe('traversal corpus', () => {
  test(`the corpus is large enough (${HOSTILE.length} paths)`, () => {
    assert.ok(HOSTILE.length >= 30);
  });

  test('over raw HTTP/1.1: every path is refused and no response carries a file from outside the root', async () => {
    for (const target of HOSTILE) {
      const res = await rawGet(served.server.port, target);
      assert.ok(REFUSED.has(res.status), `${target} → ${res.status}`);
      assert.ok(!res.body.includes(served.tree.sentinel) && !res.body.includes('root:x:0:0'), `${target} leaked`);
    }
  });

  test('over h2c, with :path as sent: the same', async () => {
    const session = http2.connect(`http://127.0.0.1:${served.server.port}`);
    session.on('error', () => {});
    try {
      for (const path of HOSTILE) {
        const res = await h2Get(session, path);
        assert.ok(REFUSED.has(res.status), `${path} → ${res.status}`);
        assert.ok(!res.body.includes(served.tree.sentinel) && !res.body.includes('root:x:0:0'), `${path} leaked`);
      }
    } finally {
      session.close();
    }
  });

  test('the files that are there are served on the same connections (the refusals are not blanket)', async () => {
    assert.equal((await rawGet(served.server.port, '/assets/app.css')).status, 200);
    assert.equal((await rawGet(served.server.port, '/assets/sub/../app.css')).status, 200);
    assert.equal((await rawGet(served.server.port, '/assets/%61pp.css')).status, 200);
  });
});

/** Waits until no descriptor of this process (the server's isolates are its threads) is open on the served.tree. */
async function noFileLeftOpen(what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const open = openFilesUnder(served.tree.base);
    if (open === null || open === 0) return;
    if (Date.now() > deadline) assert.fail(`${open} descriptor(s) still open on the served tree after ${what}`);
    await delay(20);
  }
}

describe('clients that leave, and files that change', () => {
  const large = (): string => join(served.tree.root, 'large.bin');
  const LARGE = 8 * 1024 * 1024;
  before(() => writeFileSync(large(), Buffer.alloc(LARGE, 0x61)));

  test('HTTP/1.1: a client that disconnects mid-download leaves no descriptor open, and the server serves on', async () => {
    for (let i = 0; i < 5; i++) {
      const conn = await rawConnect(served.server.port);
      conn.socket.write('GET /assets/large.bin HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await conn.until((text) => text.length > 100_000);
      conn.socket.destroy();
    }
    await noFileLeftOpen('five HTTP/1.1 downloads were cut');
    const client = createClient('h1', served.server.port);
    assert.equal((await client.request('/assets/big.bin')).body.byteLength, BIG_SIZE);
    await client.close();
  });

  test('HTTP/2: streams cancelled mid-download, and a session destroyed, leave no descriptor open', async () => {
    const session = http2.connect(`http://127.0.0.1:${served.server.port}`);
    session.on('error', () => {});
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const stream = session.request({ ':path': '/assets/large.bin' });
        stream.on('error', () => {});
        stream.once('data', () => {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
      });
    }
    const other = http2.connect(`http://127.0.0.1:${served.server.port}`);
    other.on('error', () => {});
    await new Promise<void>((resolve) => {
      const stream = other.request({ ':path': '/assets/large.bin' });
      stream.on('error', () => {});
      stream.once('data', () => {
        other.destroy();
        resolve();
      });
    });
    await noFileLeftOpen('h2 downloads were cancelled');
    const res = await new Promise<number>((resolve) => {
      const stream = session.request({ ':path': '/assets/big.bin' });
      let size = 0;
      stream.on('data', (chunk: Buffer) => (size += chunk.byteLength));
      stream.on('end', () => resolve(size));
    });
    assert.equal(res, BIG_SIZE);
    session.close();
  });

  test('HEAD, 304, 412, 416 and redirects open nothing they leave open', async () => {
    const client = createClient('h2c', served.server.port);
    const etag = String((await client.request('/assets/big.bin', { method: 'HEAD' })).headers['etag']);
    await Promise.all([
      ...Array.from({ length: 10 }, () => client.request('/assets/large.bin', { method: 'HEAD' })),
      ...Array.from({ length: 10 }, () => client.request('/assets/big.bin', { headers: { 'if-none-match': etag } })),
      ...Array.from({ length: 10 }, () => client.request('/assets/big.bin', { headers: { 'if-match': '"x"' } })),
      ...Array.from({ length: 10 }, () => client.request('/assets/big.bin', { headers: { range: `bytes=${BIG_SIZE}-` } })),
      ...Array.from({ length: 10 }, () => client.request('/assets/sub')),
      ...Array.from({ length: 10 }, () => client.request('/assets/app.css', { headers: { 'accept-encoding': 'br' } })),
    ]);
    await client.close();
    await noFileLeftOpen('headers-only answers');
  });

  test('a file body that an onResponse hook replaces is closed unread', async () => {
    const client = createClient('h2c', served.server.port);
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.request('/assets/large.bin', { headers: { 'x-replace-body': '1' } })));
    assert.deepEqual(new Set(answers.map((res) => res.text())), new Set(['replaced']));
    await client.close();
    await noFileLeftOpen('replaced bodies');
  });

  test('a file truncated while it is sent cuts the response (never a short body passed off as whole); the worker lives on', async () => {
    const path = join(served.tree.root, 'shrinking.bin');
    writeFileSync(path, Buffer.alloc(LARGE, 0x62));
    const session = http2.connect(`http://127.0.0.1:${served.server.port}`);
    session.on('error', () => {});
    const outcome = await new Promise<{ received: number; declared: number; errored: boolean }>((resolve) => {
      const stream = session.request({ ':path': '/assets/shrinking.bin' });
      let received = 0;
      let declared = 0;
      let errored = false;
      stream.on('response', (headers) => {
        declared = Number(headers['content-length']);
        // Read nothing until the file is cut short: flow control holds the server back.
        stream.pause();
        truncateSync(path, 1000);
        setImmediate(() => stream.resume());
      });
      stream.on('data', (chunk: Buffer) => (received += chunk.byteLength));
      stream.on('error', () => (errored = true));
      stream.on('close', () => resolve({ received, declared, errored: errored || stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR }));
    });
    assert.equal(outcome.declared, LARGE);
    assert.ok(outcome.received < LARGE, `${outcome.received} bytes`);
    assert.ok(outcome.errored, 'the stream was reset, not ended');
    const client = createClient('h1', served.server.port);
    assert.equal((await client.request('/assets/data.json')).status, 200);
    await client.close();
    session.close();
    await noFileLeftOpen('the truncated download');
  });
});

const run = promisify(execFile);
const curlMissing = await run('curl', ['--version']).then(() => false, () => 'curl is not installed');

describe('curl', { skip: curlMissing }, () => {
  const curl = async (args: string[]): Promise<{ status: string; headers: string; body: string }> => {
    const { stdout } = await run('curl', ['-sS', '--max-time', '10', '-D', '-', ...args]);
    const split = stdout.indexOf('\r\n\r\n');
    const headers = stdout.slice(0, split);
    return { status: /^HTTP\/[\d.]+ (\d{3})/.exec(headers)?.[1] ?? '', headers: headers.toLowerCase(), body: stdout.slice(split + 4) };
  };

  for (const [name, flag] of [['HTTP/1.1', '--http1.1'], ['h2c', '--http2-prior-knowledge']] as const) {
    test(`${name}: -r gets 206 with the bytes; a resume with -C continues the file`, async () => {
      const res = await curl([flag, '-r', '0-8', `${served.server.url}/assets/sub/page.txt`]);
      assert.equal(res.status, '206');
      assert.match(res.headers, /content-range: bytes 0-8\/9/);
      assert.equal(res.body, 'sub page\n');
      const resumed = await curl([flag, '-C', '4', `${served.server.url}/assets/sub/page.txt`]);
      assert.deepEqual([resumed.status, resumed.body], ['206', 'page\n']);
    });

    test(`${name}: If-None-Match and If-Modified-Since from curl get 304`, async () => {
      const first = await curl([flag, `${served.server.url}/assets/data.json`]);
      const etag = /etag: (.*)/.exec(first.headers)?.[1] as string;
      const notModified = await curl([flag, '-H', `If-None-Match: ${etag}`, `${served.server.url}/assets/data.json`]);
      assert.deepEqual([notModified.status, notModified.body], ['304', '']);
      const since = await curl([flag, '-z', new Date(Date.now() + 60_000).toUTCString(), `${served.server.url}/assets/data.json`]);
      assert.equal(since.status, '304');
    });
  }
});
