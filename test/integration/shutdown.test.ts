/** Graceful shutdown through `close()`: in-flight requests finish, then the server is gone. */

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { test } from 'node:test';
import { createClient } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';
import { rawConnect } from '../helpers/raw.ts';
import { slowStarted } from '../helpers/slow.ts';

function connectRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/hello', agent: false }, (res) => {
      res.resume();
      resolve(`answered ${res.statusCode}`);
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

for (const listener of ['reuseport', 'acceptor'] as const) {
  test(`close() lets in-flight HTTP/1.1 and HTTP/2 requests finish (${listener})`, async () => {
    const server = await startTestServer({ listener, gracePeriod: 5_000 });
    // An idle keep-alive connection, which the shutdown must close rather than wait for.
    const idle = await rawConnect(server.port);
    idle.socket.write('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.until((text) => text.endsWith('hello, world'));
    const h1 = createClient('h1', server.port);
    const h2 = createClient('h2c', server.port);
    try {
      const started = slowStarted(['h1', 'h2']);
      const slowH1 = h1.request('/slow?ms=700&id=h1');
      const slowH2 = h2.request('/slow?ms=700&id=h2');
      await started;

      const began = Date.now();
      const closing = server.close();
      await idle.closed; // closed by the server, while the slow requests are still running
      const [r1, r2] = await Promise.all([slowH1, slowH2]);
      assert.equal(r1.status, 200);
      assert.match(r1.text(), /^slow done/);
      assert.equal(r2.status, 200);
      assert.match(r2.text(), /^slow done/);
      await closing;
      // Done when the last request finished, not at the end of the 5 s grace period.
      assert.ok(Date.now() - began < 3_000, `close() took ${Date.now() - began} ms`);
      assert.equal(await connectRefused(server.port), 'ECONNREFUSED');
    } finally {
      idle.socket.destroy();
      await Promise.all([h1.close(), h2.close()]);
    }
  });
}

test('close() sends GOAWAY to HTTP/2 sessions, and open streams still complete', async () => {
  const server = await startTestServer({ gracePeriod: 5_000 });
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  try {
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
    const started = slowStarted(['goaway']);
    const stream = session.request({ ':path': '/slow?ms=500&id=goaway' });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    const ended = new Promise<void>((resolve) => stream.on('end', resolve));
    await started;
    const closing = server.close();
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    await ended;
    assert.match(body, /^slow done/);
    await closing;
  } finally {
    session.destroy();
  }
});

test('requests still running at the end of the grace period are cut, and close() returns', async () => {
  const server = await startTestServer({ gracePeriod: 300 });
  const client = createClient('h1', server.port);
  try {
    const started = slowStarted(['cut']);
    const slow = client.request('/slow?ms=20000&id=cut').then(
      (res) => `answered ${res.status}`,
      (error: Error) => `failed: ${error.message}`,
    );
    await started;
    const began = Date.now();
    await server.close();
    // The worker cuts at the grace period (300 ms); the supervisor's backstop would be 2 s later.
    assert.ok(Date.now() - began < 1_500, `close() took ${Date.now() - began} ms`);
    assert.match(await slow, /^failed/);
  } finally {
    await client.close();
  }
});
