/**
 * Hostile and malformed input: a corpus of over 200 malformed requests in raw HTTP/1.1 bytes and
 * raw HTTP/2 frames, a fast-check generator that mutates valid requests, and the HTTP/2 floods.
 * Each input must get a 4xx, a stream or connection error, or a closed connection — never a
 * 5xx, a hang, a crash or a worker restart — and the server must serve normally afterwards.
 */

import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import http2 from 'node:http2';
import net from 'node:net';
import fc from 'fast-check';
import { after, before, describe, test } from 'node:test';
import type { Server, WorkerEvent } from '../../src/index.ts';
import { createClient } from '../helpers/clients.ts';
import { http1Corpus, http2Corpus } from '../helpers/corpus.ts';
import {
  continuation,
  FrameType,
  GET,
  goawayCode,
  h2Exchange,
  headerBlock,
  headers,
  ping,
  PREFACE,
  responseStatus,
  rstStream,
  settings,
  type Frame,
} from '../helpers/h2frames.ts';
import { startTestServer } from '../helpers/server.ts';

/**
 * How long a single malformed request may go unanswered before it counts as a hang. The slowest
 * legitimate answer is a 408 for a body that stops arriving: the server below has a
 * requestTimeout of 2 s checked every 0.5 s (headersTimeout / 2), so it comes 2–2.5 s in, later
 * on a loaded machine; 4 s leaves room without letting a real hang pass.
 */
const WAIT_MS = 4_000;

type Outcome = '4xx' | 'closed' | 'stream-error' | 'goaway' | 'ignored' | '2xx' | '5xx' | 'hang';

/** Sends raw HTTP/1.1 bytes; the first status line decides, else whether the server closed. */
function h1Outcome(port: number, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('hang'), WAIT_MS);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const status = /^HTTP\/1\.[01] (\d)\d\d /.exec(text);
      if (status !== null) finish(status[1] === '4' ? '4xx' : status[1] === '5' ? '5xx' : '2xx');
    });
    socket.on('error', () => {});
    socket.on('close', () => finish('closed'));
  });
}

/**
 * Sends the frames (after the preface and SETTINGS unless the case is raw) and then a valid GET
 * on stream 101; a bad frame that the server may ignore must leave that request answered.
 */
async function h2Outcome(port: number, frames: readonly Buffer[], raw: boolean, served: readonly number[] = []): Promise<Outcome> {
  const probe = headers(101, headerBlock(GET('/hello')));
  const chunks = raw ? [...frames] : [PREFACE, settings(), ...frames, probe];
  // Done once the server has refused something, or answered the probe (so it read past the bad frames).
  const answered = (list: Frame[]): boolean =>
    list.some((f) => f.type === FrameType.GOAWAY || f.type === FrameType.RST_STREAM || (f.type === FrameType.HEADERS && f.streamId === 101));
  const { frames: received, closed } = await h2Exchange(port, chunks, WAIT_MS, answered);
  if (goawayCode(received) !== null) return 'goaway';
  const statuses = received.filter((f) => f.type === FrameType.HEADERS).map((f) => ({ stream: f.streamId, status: responseStatus(f.payload) }));
  if (statuses.some((s) => s.status !== null && s.status >= 500)) return '5xx';
  if (received.some((f) => f.type === FrameType.RST_STREAM)) return 'stream-error';
  // A valid request in the sequence is answered as usual; any other 2xx means a malformed one was served.
  const bad = statuses.find((s) => s.stream !== 101 && !(served.includes(s.stream) && s.status !== null && s.status < 400));
  if (bad !== undefined) return bad.status !== null && bad.status >= 400 ? '4xx' : '2xx';
  if (closed) return 'closed';
  if (statuses.some((s) => s.stream === 101 && s.status === 200)) return 'ignored';
  return 'hang';
}

function tally(outcomes: readonly Outcome[]): string {
  const counts = new Map<Outcome, number>();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => `${outcome} ${n}`).join(', ');
}

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(work))));
  return results;
}

describe('malformed requests', () => {
  let server: Server;
  const exits: WorkerEvent[] = [];
  const onExit = (event: unknown): void => void exits.push(event as WorkerEvent);
  before(async () => {
    diagnostics.subscribe('fasterapi:worker:exit', onExit);
    server = await startTestServer({ pinnedWorkers: 2, headersTimeout: 1_000, requestTimeout: 2_000, bodyLimit: 64 * 1024 });
  });
  after(async () => {
    diagnostics.unsubscribe('fasterapi:worker:exit', onExit);
    await server.close();
  });

  const assertHealthy = async (): Promise<void> => {
    for (const kind of ['h1', 'h2c'] as const) {
      const client = createClient(kind, server.port);
      assert.equal((await client.request('/hello')).text(), 'hello, world');
      await client.close();
    }
    assert.deepEqual(
      exits.filter((e) => e.port === server.port),
      [],
      'no worker died',
    );
  };

  test('the corpus has over 200 cases', () => {
    assert.ok(http1Corpus().length + http2Corpus().length >= 200);
  });

  test('every malformed HTTP/1.1 request gets a 4xx or a closed connection', async (t) => {
    const corpus = http1Corpus();
    const outcomes = await inBatches(corpus, 16, (c) => h1Outcome(server.port, c.bytes));
    const wrong = corpus
      .map((c, i) => [c.name, outcomes[i], c.tolerated] as const)
      .filter(([, o, tolerated]) => (tolerated === undefined ? o !== '4xx' && o !== 'closed' : o !== '2xx'));
    t.diagnostic(`${corpus.length} HTTP/1.1 cases: ${tally(outcomes)}`);
    assert.deepEqual(wrong, []);
    await assertHealthy();
  });

  test('every malformed HTTP/2 sequence gets a 4xx, a stream or connection error, or is ignored while the connection serves on', async (t) => {
    const corpus = http2Corpus();
    const outcomes = await inBatches(corpus, 16, (c) => h2Outcome(server.port, c.frames, c.raw === true, c.served));
    const wrong = corpus
      .map((c, i) => [c.name, outcomes[i], c.dropped] as const)
      .filter(([, o, dropped]) => o === '5xx' || o === 'hang' || (o === '2xx' && dropped === undefined));
    t.diagnostic(`${corpus.length} HTTP/2 cases: ${tally(outcomes)}`);
    assert.deepEqual(wrong, []);
    await assertHealthy();
  });

  test('an HTTP/2 field with an invalid name or value never reaches the handler', async () => {
    for (const c of http2Corpus().filter((c) => c.dropped !== undefined)) {
      const { frames } = await h2Exchange(server.port, [PREFACE, settings(), ...c.frames], WAIT_MS, (list) =>
        list.some((f) => f.type === FrameType.DATA && (f.flags & 1) === 1),
      );
      const body = Buffer.concat(frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).map((f) => f.payload)).toString('latin1');
      assert.match(body, /"headers":\{/, c.name);
      assert.ok(!body.includes(c.dropped as string), `${c.name}: ${body}`);
    }
  });

  test('mutations of valid requests never get a 5xx, a hang or a crash (fast-check)', async (t) => {
    const valid = [
      'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /items/42?a=1&b=2 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n',
      'POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"a":[1,2,3]}',
      'POST /bytes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ].map((s) => Buffer.from(s, 'latin1'));
    const noise = fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x25, 0x2f, 0x7f, 0xff, 0x09);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: noise }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
    );
    type Mutation = { readonly kind: 'flip' | 'insert' | 'delete' | 'duplicate'; readonly at: number; readonly byte?: number; readonly length?: number };
    const apply = (base: Buffer, list: readonly Mutation[]): Buffer => {
      let bytes = Buffer.from(base);
      for (const m of list) {
        const at = m.at % (bytes.length + 1);
        if (m.kind === 'flip' && bytes.length > 0) bytes[at % bytes.length] = m.byte ?? 0;
        else if (m.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte ?? 0]), bytes.subarray(at)]);
        else if (m.kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + (m.length ?? 1))]);
        else if (m.kind === 'duplicate') bytes = Buffer.concat([bytes.subarray(0, at + (m.length ?? 1)), bytes.subarray(at)]);
      }
      return bytes;
    };
    const seen: Outcome[] = [];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: valid.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (which, list) => {
        const outcome = await h1Outcome(server.port, apply(valid[which] as Buffer, list));
        seen.push(outcome);
        return outcome !== '5xx' && outcome !== 'hang';
      }),
      { numRuns: 300, interruptAfterTimeLimit: 60_000 },
    );
    t.diagnostic(`${seen.length} mutated requests: ${tally(seen)}`);
    await assertHealthy();
  });
});

/** Resident memory of this process (the server's workers are threads of it), in MiB. */
const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;

/** A bystander: sequential requests on its own HTTP/2 connection while `during` runs; their latencies in ms. */
async function bystander<T>(port: number, during: Promise<T>): Promise<{ result: T; latencies: number[]; failures: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const began = performance.now();
      const ok = await new Promise<boolean>((resolve) => {
        const stream = session.request({ ':path': '/hello' });
        stream.on('error', () => resolve(false));
        stream.on('response', (h) => {
          stream.resume();
          stream.on('end', () => resolve(h[':status'] === 200));
        });
      });
      if (ok) latencies.push(performance.now() - began);
      else failures++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    const result = await during;
    return { result, latencies, failures };
  } finally {
    running = false;
    await loop;
    session.destroy();
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1] ?? Number.NaN;

describe('HTTP/2 floods', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 2, sessionIdleTimeout: 2_000 });
  });
  after(() => server.close());

  /** Sends `chunks` as fast as the socket takes them, not reading until `readAfter`; what came back. */
  async function flood(chunks: readonly Buffer[], waitMs = 5_000): Promise<{ code: number | null; closed: boolean }> {
    const { frames, closed } = await h2Exchange(server.port, [PREFACE, settings(), ...chunks], waitMs, (list) => goawayCode(list) !== null);
    return { code: goawayCode(frames), closed };
  }

  /**
   * nghttp2 detects these floods; Node then ends the session with GOAWAY(INTERNAL_ERROR), where
   * nghttp2 on its own would say ENHANCE_YOUR_CALM. Either way the attacker is cut off.
   */
  const CUT_OFF = [http2.constants.NGHTTP2_INTERNAL_ERROR, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM];

  test('rapid reset (CVE-2023-44487): the attacker gets GOAWAY, bystanders are served throughout', async (t) => {
    const before = rssMiB();
    const pairs: Buffer[] = [];
    const block = headerBlock(GET('/hello'));
    for (let id = 1; id < 2 * 20_000; id += 2) pairs.push(headers(id, block), rstStream(id));
    const { result, latencies, failures } = await bystander(server.port, flood([Buffer.concat(pairs)]));
    t.diagnostic(`GOAWAY ${result.code}, closed ${result.closed}; RSS ${before.toFixed(0)} → ${rssMiB().toFixed(0)} MiB; bystander ${latencies.length} requests, median ${median(latencies).toFixed(2)} ms`);
    assert.ok((result.code !== null && CUT_OFF.includes(result.code)) || result.closed, 'the attacker is cut off');
    assert.equal(failures, 0);
    assert.ok(rssMiB() - before < 200, 'memory stays bounded');
  });

  test('SETTINGS flood: cut off, memory bounded', async (t) => {
    const before = rssMiB();
    const { result, failures } = await bystander(server.port, flood([Buffer.concat(Array.from({ length: 50_000 }, () => settings([[0x3, 100]])))]));
    t.diagnostic(`GOAWAY ${result.code}, closed ${result.closed}; RSS ${before.toFixed(0)} → ${rssMiB().toFixed(0)} MiB`);
    assert.ok((result.code !== null && CUT_OFF.includes(result.code)) || result.closed);
    assert.equal(failures, 0);
    assert.ok(rssMiB() - before < 200);
  });

  test('PING flood: cut off, memory bounded', async (t) => {
    const before = rssMiB();
    const { result, failures } = await bystander(server.port, flood([Buffer.concat(Array.from({ length: 100_000 }, () => ping()))]));
    t.diagnostic(`GOAWAY ${result.code}, closed ${result.closed}; RSS ${before.toFixed(0)} → ${rssMiB().toFixed(0)} MiB`);
    assert.ok((result.code !== null && CUT_OFF.includes(result.code)) || result.closed);
    assert.equal(failures, 0);
    assert.ok(rssMiB() - before < 200);
  });

  test('an endless CONTINUATION sequence is cut off', async (t) => {
    const frames = [headers(1, headerBlock([[':method', 'GET']]), 0)];
    const chunk = headerBlock([['x-c', 'c'.repeat(100)]]);
    for (let i = 0; i < 50_000; i++) frames.push(continuation(1, chunk, 0));
    const before = rssMiB();
    const { result, failures } = await bystander(server.port, flood([Buffer.concat(frames)]));
    t.diagnostic(`GOAWAY ${result.code}, closed ${result.closed}; RSS ${before.toFixed(0)} → ${rssMiB().toFixed(0)} MiB`);
    assert.ok(result.code !== null || result.closed);
    assert.equal(failures, 0);
    assert.ok(rssMiB() - before < 200);
  });

  test('zero-window stall: streams held open without reading stay bounded and end with the session', async (t) => {
    const before = rssMiB();
    // INITIAL_WINDOW_SIZE 0: the server may send headers but no body bytes, on 100 streams.
    const block = headerBlock(GET('/binary'));
    const frames = [settings([[0x4, 0]])];
    for (let id = 1; id < 200; id += 2) frames.push(headers(id, block));
    const { frames: received, closed } = await h2Exchange(server.port, [PREFACE, settings(), ...frames], 6_000, (list) => goawayCode(list) !== null);
    t.diagnostic(`GOAWAY ${goawayCode(received)}, closed ${closed}; RSS ${before.toFixed(0)} → ${rssMiB().toFixed(0)} MiB`);
    // The session idle timeout (2 s here) ends it even though its streams never finish.
    assert.ok(goawayCode(received) !== null || closed);
    assert.ok(rssMiB() - before < 100);
    assert.equal((await createClient('h2c', server.port).request('/hello')).status, 200);
  });
});
