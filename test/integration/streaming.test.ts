/**
 * Streamed bodies and Server-Sent Events end to end: async iterables, Readables and web streams
 * over every protocol; a body that fails half way; a client that leaves; a client that reads
 * slowly, against which the server must not buffer; and SSE read by undici's EventSource over
 * HTTP/1.1, h2c and TLS h2.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, EventSource, H2CClient, type Dispatcher, type MessageEvent } from 'undici';
import type { Server } from '../../src/index.ts';
import { CLIENT_KINDS, createClient, TLS_CERT, type Client } from '../helpers/clients.ts';
import { API_APP, startTestServer } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

let server: Server;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, withTls: false }, API_APP);
});
after(() => server.close());

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

describe('streamed bodies over every protocol', () => {
  let tlsServer: Server;
  before(async () => {
    tlsServer = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 0, withTls: true }, API_APP);
  });
  after(() => tlsServer.close());

  for (const kind of CLIENT_KINDS) {
    describe(kind, () => {
      let client: Client;
      before(() => {
        client = createClient(kind, kind.endsWith('tls') ? tlsServer.port : server.port);
      });
      after(() => client.close());

      test('an async generator handler streams its chunks, without content-length', async () => {
        const res = await client.request('/stream/numbers?n=1000');
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-type'], 'application/octet-stream');
        assert.equal(res.headers['content-length'], undefined);
        if (kind.startsWith('h1')) assert.equal(res.headers['transfer-encoding'], 'chunked');
        assert.equal(res.text(), Array.from({ length: 1000 }, (_, i) => `${i}\n`).join(''));
      });

      test('a Node.js Readable and a web ReadableStream', async () => {
        assert.equal((await client.request('/stream/readable')).text(), 'readable stream');
        const web = await client.request('/stream/web');
        assert.equal(web.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal(web.text(), 'web stream');
      });

      test('HEAD gets the headers and no body', async () => {
        const res = await client.request('/stream/numbers?n=3', { method: 'HEAD' });
        assert.equal(res.status, 200);
        assert.equal(res.body.byteLength, 0);
      });
    });
  }
});

describe('a stream that fails after its headers were sent', () => {
  test('HTTP/1.1: the chunked body is cut, so the client sees an incomplete response', async () => {
    const outcome = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/stream/fail', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(`complete: ${body}`));
        res.on('error', () => resolve(`cut after ${JSON.stringify(body)}`));
      });
    });
    assert.equal(outcome, 'cut after "first chunk\\n"');
  });

  test('HTTP/2: the stream is reset with INTERNAL_ERROR; the session lives on', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const stream = session.request({ ':path': '/stream/fail' });
      stream.on('error', () => {}); // the reset, checked below
      let body = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      const code = await new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
      assert.equal(body, 'first chunk\n');
      assert.equal(code, http2.constants.NGHTTP2_INTERNAL_ERROR);
      const next = session.request({ ':path': '/inline/small' });
      const status = await new Promise((resolve) => next.on('response', (h) => resolve(h[':status'])));
      next.resume();
      assert.equal(status, 200);
    } finally {
      session.close();
    }
  });
});

test('a pooled route that returns a stream anyway gets a 500 with an error id', async () => {
  const client = createClient('h2c', server.port);
  try {
    const res = await client.request('/pooled-stream');
    assert.equal(res.status, 500);
    assert.match((res.json() as { errorId: string }).errorId, GENERATED_ID);
  } finally {
    await client.close();
  }
});

describe('streams that are never sent are released', () => {
  let client: Client;
  before(() => {
    client = createClient('h1', server.port);
  });
  after(() => client.close());

  const closed = (id: string): Promise<true> =>
    until(`file ${id} to be closed`, async () => ((await client.request(`/stream/file-state?id=${id}`)).text() === 'closed' ? true : undefined));

  test('HEAD, with and without compression', async () => {
    assert.equal((await client.request('/stream/file?id=head', { method: 'HEAD' })).status, 200);
    await closed('head');
    const compressed = await client.request('/stream/file?id=head-gzip', { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(compressed.headers['content-encoding'], 'gzip');
    await closed('head-gzip');
  });

  test('a 204 answer', async () => {
    assert.equal((await client.request('/stream/file-no-content?id=no-content')).status, 204);
    await closed('no-content');
  });

  test('a client that left before the handler answered', async () => {
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/stream/file-late?id=late', agent: false });
      req.on('error', () => resolve());
      setTimeout(() => req.destroy(), 30);
    });
    await closed('late');
  });

  test('a body that is sent is closed once sent', async () => {
    assert.match((await client.request('/stream/file?id=sent')).text(), /The developer layer's test app/);
    await closed('sent');
  });
});

describe('a client that goes away', () => {
  for (const [kind, route] of [['h1', 'endless'], ['h2c', 'endless'], ['h1', 'waiting'], ['h2c', 'waiting']] as const) {
    const what = route === 'endless' ? 'the event source is stopped and its finally blocks run' : 'a source waiting on something else stops through req.signal';
    test(`${kind}: ${what}`, async () => {
      const id = `gone-${kind}-${route}`;
      const path = `/events/${route}?id=${id}`;
      if (kind === 'h1') {
        await new Promise<void>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: server.port, path, agent: false }, (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          });
          req.on('error', () => {});
          setTimeout(() => reject(new Error('no event arrived')), 5_000).unref();
        });
      } else {
        const session = http2.connect(`http://127.0.0.1:${server.port}`);
        const stream = session.request({ ':path': path });
        await new Promise((resolve) => stream.once('data', resolve));
        stream.close(http2.constants.NGHTTP2_CANCEL);
        session.close();
      }
      const client = createClient('h1', server.port);
      try {
        await until('the source to be closed', async () => ((await client.request(`/events/state?id=${id}`)).text() === 'closed' ? true : undefined));
      } finally {
        await client.close();
      }
    });
  }
});

describe('a slow reader against a large stream', () => {
  const MiB = 1024 * 1024;

  interface Stats {
    produced: number;
    finished: boolean;
    cleanedUp: boolean;
  }

  async function stats(client: Client, id: string): Promise<Stats> {
    return (await client.request(`/stream/large-stats?id=${id}`)).json() as Stats;
  }

  for (const kind of ['h1', 'h2c'] as const) {
    test(`${kind}: the server produces only what the client takes, plus bounded buffers`, async (t) => {
      const id = `slow-${kind}`;
      const path = `/stream/large?id=${id}&mb=512`;
      const rssBefore = process.memoryUsage().rss;
      let received = 0;
      let cancel: () => void;
      const paused = new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer, pause: () => void): void => {
          received += chunk.byteLength;
          if (received >= 4 * MiB) {
            pause();
            resolve();
          }
        };
        if (kind === 'h1') {
          const req = http.get({ host: '127.0.0.1', port: server.port, path, agent: false }, (res) => {
            res.on('data', (chunk: Buffer) => onData(chunk, () => res.pause()));
          });
          req.on('error', () => {});
          cancel = () => req.destroy();
        } else {
          const session = http2.connect(`http://127.0.0.1:${server.port}`);
          session.on('error', () => {});
          const stream = session.request({ ':path': path });
          stream.on('error', () => {});
          stream.on('data', (chunk: Buffer) => onData(chunk, () => stream.pause()));
          cancel = () => {
            stream.close(http2.constants.NGHTTP2_CANCEL);
            session.destroy();
          };
        }
        setTimeout(() => reject(new Error('the stream did not start')), 10_000).unref();
      });
      await paused;
      const client = createClient('h1', server.port);
      try {
        // Let every buffer on the way fill up: the producer must then stop.
        await delay(1_500);
        const first = await stats(client, id);
        await delay(500);
        const second = await stats(client, id);
        const rssPaused = process.memoryUsage().rss;
        t.diagnostic(
          `${kind}: client took ${(received / MiB).toFixed(1)} MiB and paused; server produced ${(first.produced / MiB).toFixed(1)} MiB, ` +
            `then ${(second.produced / MiB).toFixed(1)} MiB 0.5 s later, of 512 MiB; process RSS ${((rssPaused - rssBefore) / MiB).toFixed(1)} MiB above the start`,
        );
        assert.equal(second.produced, first.produced, 'the producer kept going while the client was paused');
        assert.ok(first.produced - received <= 32 * MiB, `${((first.produced - received) / MiB).toFixed(1)} MiB produced beyond what the client took`);
        assert.equal(first.finished, false);
        cancel!();
        const done = await until('the stream to be cleaned up', async () => {
          const now = await stats(client, id);
          return now.cleanedUp ? now : undefined;
        });
        assert.equal(done.finished, false);
      } finally {
        cancel!();
        await client.close();
      }
    });
  }
});

/** EventSource's listeners are typed for any event; named SSE events are MessageEvents. */
function message(event: Event): MessageEvent {
  return event as MessageEvent;
}

describe('Server-Sent Events read by EventSource (undici)', () => {
  let tlsServer: Server;
  before(async () => {
    tlsServer = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 0, withTls: true }, API_APP);
  });
  after(() => tlsServer.close());

  const transports: Array<[string, () => { url: string; dispatcher: Dispatcher | undefined }]> = [
    ['HTTP/1.1', () => ({ url: `http://127.0.0.1:${server.port}`, dispatcher: undefined })],
    ['h2c', () => ({ url: `http://127.0.0.1:${server.port}`, dispatcher: new H2CClient(`http://127.0.0.1:${server.port}`) })],
    ['TLS h2', () => ({ url: `https://127.0.0.1:${tlsServer.port}`, dispatcher: new Agent({ allowH2: true, connect: { ca: TLS_CERT } }) })],
  ];

  for (const [name, transport] of transports) {
    test(`${name}: named events, ids, multi-line data and the last event arrive in order`, async () => {
      const { url, dispatcher } = transport();
      const source = new EventSource(`${url}/events?n=3&quiet=150`, dispatcher === undefined ? {} : { node: { dispatcher } });
      const seen: string[] = [];
      try {
        await new Promise<void>((resolve, reject) => {
          source.addEventListener('tick', (event) => seen.push(`tick ${message(event).lastEventId} ${message(event).data}`));
          source.addEventListener('message', (event) => seen.push(`message ${JSON.stringify(event.data)}`));
          source.addEventListener('done', (event) => {
            seen.push(`done ${message(event).data}`);
            resolve();
          });
          source.onerror = () => reject(new Error(`EventSource error after ${JSON.stringify(seen)}`));
        });
      } finally {
        source.close();
        await dispatcher?.close();
      }
      assert.deepEqual(seen, ['tick 0 {"i":0}', 'tick 1 {"i":1}', 'tick 2 {"i":2}', 'message "line one\\nline two"', 'done bye']);
    });
  }

  test('the raw stream: headers, and heartbeat comments while the source is quiet', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const stream = session.request({ ':path': '/events?n=1&quiet=200' });
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('response', resolve));
      let text = '';
      stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      await new Promise((resolve) => stream.on('end', resolve));
      assert.equal(headers['content-type'], 'text/event-stream');
      assert.equal(headers['cache-control'], 'no-cache');
      assert.ok(text.startsWith(': hello\n\nevent: tick\nid: 0\ndata: {"i":0}\n\ndata: line one\ndata: line two\n\n'), text);
      assert.ok(text.endsWith('event: done\nretry: 1000\ndata: bye\n\n'), text);
      const beats = text.split(': keep-alive\n\n').length - 1;
      assert.ok(beats >= 2, `expected heartbeats during 200 ms of quiet at 40 ms, got ${beats}`);
    } finally {
      session.close();
    }
  });
});

describe('shutting down with event streams open', () => {
  test('event streams end cleanly at once; the server does not wait out the grace period', async (t) => {
    const own = await startTestServer({ pinnedWorkers: 1, gracePeriod: 10_000 }, API_APP);
    const ended: string[] = [];
    const h1Done = new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: own.port, path: '/events/endless?id=shutdown-h1', agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          ended.push('h1');
          resolve();
        });
        res.on('error', reject);
      });
    });
    const session = http2.connect(`http://127.0.0.1:${own.port}`);
    session.on('error', () => {});
    const h2Done = new Promise<void>((resolve, reject) => {
      const stream = session.request({ ':path': '/events/endless?id=shutdown-h2' });
      stream.resume();
      stream.on('end', () => {
        ended.push('h2');
        resolve();
      });
      stream.on('error', reject);
    });
    const client = createClient('h1', own.port);
    await until('both streams to be open', async () => {
      const states = await Promise.all(['h1', 'h2'].map(async (p) => (await client.request(`/events/state?id=shutdown-${p}`)).text()));
      return states.every((state) => state === 'open') ? true : undefined;
    });
    await client.close();
    const began = Date.now();
    await own.close();
    const took = Date.now() - began;
    t.diagnostic(`close() took ${took} ms with two event streams open and a 10 s grace period`);
    await Promise.all([h1Done, h2Done]);
    session.destroy();
    assert.deepEqual(ended.sort(), ['h1', 'h2']);
    assert.ok(took < 5_000, `close() took ${took} ms with a 10 s grace period`);
  });
});
