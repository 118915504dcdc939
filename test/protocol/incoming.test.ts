/**
 * One behaviour suite for the protocol engines, run against HTTP/1.1, h2c, TLS h2 and TLS
 * HTTP/1.1 through the shape they hand the layer above (`Incoming`): whichever protocol carries
 * a request, the lifecycle sees the same method, target, header fields and body, and answers it
 * the same way. The engines run on real sockets, fed by the real protocol sniff and TLS front,
 * with no server or lifecycle above them: the listener here is the whole application.
 */

import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { readBody } from '../../src/app/request.ts';
import { JSON_TYPE } from '../../src/app/response.ts';
import { createTlsFront, sniffCleartext, type Engines } from '../../src/protocol/connection.ts';
import { createHttp1Engine } from '../../src/protocol/http1.ts';
import { createHttp2Engine } from '../../src/protocol/http2.ts';
import type { Incoming, RespondOptions } from '../../src/protocol/incoming.ts';
import { createClient, TLS_CERT, TLS_KEY, type Client, type ClientKind } from '../helpers/clients.ts';

const MAX_HEADER_COUNT = 20;
const LIMITS = {
  keepAliveTimeout: 5_000,
  headersTimeout: 5_000,
  requestTimeout: 10_000,
  maxHeaderSize: 16 * 1024,
  maxHeaderCount: MAX_HEADER_COUNT,
  sessionIdleTimeout: 10_000,
  maxConcurrentStreams: 100,
  maxSessionMemory: 10,
};

/** What the listener saw of one request, sent back as the response body. */
interface Seen {
  readonly protocol: string;
  readonly method: string;
  readonly target: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyless: boolean;
  readonly body: string;
  readonly closedWhileServed: boolean;
}

const options = (incoming: Incoming): RespondOptions => ({ head: incoming.method === 'HEAD', abandonBody: false, draining: false, stop: undefined });

/** The application: echo what arrived, or exercise one part of the contract by path. */
async function serve(incoming: Incoming, onClose: Map<string, () => void>): Promise<void> {
  const id = incoming.headers['x-request-id'];
  const closed = typeof id === 'string' ? onClose.get(id) : undefined;
  if (closed !== undefined) incoming.once('close', closed);
  if (incoming.target === '/fail') {
    incoming.fail();
    return;
  }
  // Read before the body: once it has been read to its end, every request is bodyless.
  const { bodyless } = incoming;
  const body = bodyless ? '' : Buffer.from(await readBody(incoming.body, 1 << 20)).toString('utf8');
  const seen: Seen = {
    protocol: incoming.protocol,
    method: incoming.method,
    target: incoming.target,
    headers: { ...incoming.headers },
    bodyless,
    body,
    closedWhileServed: incoming.closed,
  };
  if (incoming.target === '/stream') {
    const chunks = (async function* () {
      yield 'one,';
      yield 'two';
    })();
    await incoming.respond({ status: 200, headers: { 'content-type': 'text/plain' }, body: chunks }, options(incoming));
    return;
  }
  void incoming.respond({ status: 200, headers: { 'content-type': JSON_TYPE, 'x-echo': 'yes' }, body: JSON.stringify(seen) }, options(incoming));
}

for (const kind of ['h1', 'h2c', 'h2-tls', 'h1-tls'] as const satisfies readonly ClientKind[]) {
  describe(`Incoming over ${kind}`, () => {
    const protocol = kind.startsWith('h2') ? 'h2' : 'h1';
    let listener: net.Server;
    let client: Client;
    let port: number;
    const sessions = new Set<http2.ServerHttp2Session>();
    const sockets = new Set<net.Socket>();
    /** What to call when the Incoming of the request with this `x-request-id` closes. */
    const onClose = new Map<string, () => void>();
    let served = 0;

    before(async () => {
      const onIncoming = (incoming: Incoming): void => {
        served++;
        void serve(incoming, onClose);
      };
      const engines: Engines = { h1: createHttp1Engine(LIMITS, onIncoming), h2: createHttp2Engine(LIMITS, sessions, onIncoming) };
      const tls = kind.endsWith('-tls') ? createTlsFront({ cert: TLS_CERT, key: TLS_KEY }, engines, 5_000) : null;
      listener = net.createServer((socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        if (tls !== null) tls.emit('connection', socket);
        else sniffCleartext(socket, engines, 5_000, () => {});
      });
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      port = (listener.address() as net.AddressInfo).port;
      client = createClient(kind, port);
    });
    after(async () => {
      await client.close();
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    });

    const echo = async (path: string, init?: Parameters<Client['request']>[1]): Promise<Seen> => {
      const res = await client.request(path, init);
      assert.equal(res.status, 200, res.text());
      assert.equal(res.headers['x-echo'], 'yes');
      return res.json() as Seen;
    };

    test('method, origin-form target and protocol arrive as sent', async () => {
      const seen = await echo('/items/7?q=a%20b&r=1', { method: 'PUT', body: 'x' });
      assert.deepEqual([seen.protocol, seen.method, seen.target], [protocol, 'PUT', '/items/7?q=a%20b&r=1']);
    });

    test('headers are the header fields only: lowercase names, no pseudo-headers, host given either way', async () => {
      const seen = await echo('/h', { headers: { 'X-Custom': 'Value', 'x-request-id': 'h-1' } });
      assert.equal(seen.headers['x-custom'], 'Value');
      assert.equal(seen.headers['x-request-id'], 'h-1', 'each request gets its own headers');
      assert.equal(seen.headers['host'], `127.0.0.1:${port}`, 'HTTP/2 :authority stands for Host');
      assert.deepEqual(Object.keys(seen.headers).filter((name) => name.startsWith(':') || name !== name.toLowerCase()), []);
    });

    test('a request without a body is bodyless; one with a body is not, and its bytes arrive whole', async () => {
      const empty = await echo('/b');
      assert.deepEqual([empty.bodyless, empty.body], [true, '']);
      const text = 'é'.repeat(5_000);
      const full = await echo('/b', { method: 'POST', body: text });
      assert.equal(full.bodyless, false);
      assert.ok(full.body === text, `${Buffer.byteLength(full.body)} bytes of ${Buffer.byteLength(text)} arrived intact`);
      const chunked = await echo('/b', { method: 'POST', body: 'abc', chunked: true });
      assert.deepEqual([chunked.bodyless, chunked.body], [false, 'abc']);
    });

    test('exactly maxHeaderCount header fields reach the listener; one more is a 431 that never does', async () => {
      const headers = (count: number): Record<string, string> => {
        // HTTP/1.1 counts the Host and Connection fields its client adds; HTTP/2 has no such fields.
        const added = protocol === 'h1' ? 2 : 0;
        return Object.fromEntries(Array.from({ length: count - added }, (_, i) => [`x-h${i}`, 'v']));
      };
      const before = served;
      const atLimit = await client.request('/count', { headers: headers(MAX_HEADER_COUNT) });
      assert.equal(atLimit.status, 200);
      assert.equal(served, before + 1);
      const past = await client.request('/count', { headers: headers(MAX_HEADER_COUNT + 1) });
      assert.equal(past.status, 431);
      assert.deepEqual(past.json(), { detail: `Request Header Fields Too Large: the limit is ${MAX_HEADER_COUNT} headers` });
      assert.equal(served, before + 1, 'the refused request never reached the listener');
    });

    if (protocol === 'h2') {
      test('cookie crumbs count as one header field, as the one Cookie line of HTTP/1.1 does', async () => {
        const crumbs = Array.from({ length: 10 }, (_, i) => `c${i}=${i}`);
        const headers: Record<string, string | string[]> = { cookie: crumbs };
        for (let i = 1; i < MAX_HEADER_COUNT; i++) headers[`x-h${i}`] = 'v';
        const seen = await echo('/cookies', { headers: headers as Record<string, string> });
        assert.equal(seen.headers['cookie'], crumbs.join('; '));
      });
    }

    test('HEAD is answered with the content-length and no body', async () => {
      const res = await client.request('/head', { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.ok(Number(res.headers['content-length']) > 0);
      assert.equal(res.body.length, 0);
    });

    test('a streamed body is written chunk by chunk and ends', async () => {
      const res = await client.request('/stream');
      assert.equal(res.status, 200);
      assert.equal(res.text(), 'one,two');
    });

    test('fail() before anything was sent is a bare 500', async () => {
      const res = await client.request('/fail');
      assert.equal(res.status, 500);
      assert.equal(res.text(), 'Internal Server Error');
    });

    test('the Incoming is open while served and closes once its response is done', async () => {
      const id = `close-${kind}`;
      const closed = new Promise<'closed'>((resolve) => onClose.set(id, () => resolve('closed')));
      const seen = await echo('/close', { headers: { 'x-request-id': id } });
      assert.equal(seen.closedWhileServed, false);
      const limit = new Promise<'never'>((resolve) => setTimeout(() => resolve('never'), 5_000).unref());
      assert.equal(await Promise.race([closed, limit]), 'closed', "'close' was emitted once the response was done");
    });

    test('concurrent requests each get their own answer', async () => {
      const seen = await Promise.all(Array.from({ length: 20 }, (_, i) => echo(`/n/${i}`, { headers: { 'x-request-id': `n-${i}` } })));
      seen.forEach((s, i) => assert.deepEqual([s.target, s.headers['x-request-id']], [`/n/${i}`, `n-${i}`]));
    });
  });
}
