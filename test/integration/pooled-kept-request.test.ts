/**
 * A pooled handler may keep its `req` after it returns, and read it later: its headers, which a
 * pooled isolate decodes lazily (codec.ts, DecodedRequest), must then still be its own.
 *
 * The ring record a request came in is freed once take() has visited it, and the pinned worker
 * writes later records over it. Headers are kept as a JS string copied out of the record (the
 * record's string area, as latin1), not as a view of ring memory. This test would catch the
 * difference: with a 4 KiB ring and ~300 requests of 100 B – 5 KiB, the ring wraps over and
 * over before GET /kept reads the kept requests' headers, so headers decoded from ring memory at
 * that point would come out of some later record (another request's x-id, or bytes that are not
 * a header list at all, which makes the decoder throw and the report answer 500).
 *
 * Covered: both decoding paths (ASCII records keep their headers lazily; a record with any
 * non-ASCII string — a latin1 header value, a percent-decoded param — decodes them with the
 * record), bodies that need chunk records (5 KiB > the 2040-byte largest record of a 4 KiB ring),
 * many requests in flight over one HTTP/2 session, and some over HTTP/1.1.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { serve, type Server } from '../../src/index.ts';

const APP = new URL('../fixtures/kept-request-app.ts', import.meta.url);
const RING = 4096;

interface Spec {
  readonly i: number;
  readonly route: 'keep' | 'keep-headers';
  /** Sent in the URL (percent-encoded) / what params.id decodes to. */
  readonly rawId: string;
  readonly id: string;
  readonly xId: string;
  readonly other: string;
  readonly n: string;
  readonly body: Buffer;
  readonly over: 'h1' | 'h2';
  readonly path: string;
}

/** Request `i`: distinct in every part, non-ASCII in some, with a chunked body in some. */
function spec(i: number): Spec {
  const route = i % 2 === 0 ? 'keep' : 'keep-headers';
  // A percent-decoded param with é makes the record non-ASCII: headers decoded with it.
  const nonAsciiParam = i % 7 === 3;
  const rawId = nonAsciiParam ? `p%C3%A9${i}` : `p${i}`;
  const id = nonAsciiParam ? `pé${i}` : `p${i}`;
  // A latin1 header value (HTTP carries it as a byte ≥ 0x80): non-ASCII record, too.
  const xId = i % 5 === 1 ? `ïd-${i}-ÿ` : `id-${i}-${'x'.repeat(i % 13)}`;
  // 5 KiB bodies need chunk records; some are empty, the rest small.
  const body =
    i % 10 === 4
      ? Buffer.from(`big-${i}:`.padEnd(5 * 1024, String.fromCharCode(97 + (i % 26))), 'latin1')
      : i % 10 === 7
        ? Buffer.alloc(0)
        : Buffer.from(`body-${i}`, 'latin1');
  const over = i % 6 === 5 ? 'h1' : 'h2';
  const n = `q${i}`;
  return { i, route, rawId, id, xId, other: `o${i}`, n, body, over, path: `/${route}/${rawId}` };
}

const SPECS = Array.from({ length: 300 }, (_, i) => spec(i));

let server: Server;
let session: http2.ClientHttp2Session;
let agent: http.Agent;

before(async () => {
  server = await serve(APP, {
    host: '127.0.0.1',
    port: 0,
    pinnedWorkers: 1,
    pooledWorkers: 16,
    pooledIsolates: 1,
    poolQueueLimit: 1024,
    poolRingSize: RING,
    logLevel: 'silent',
    handleSignals: false,
    gracePeriod: 2_000,
  });
  session = http2.connect(server.url);
  session.on('error', () => {});
  agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
});

after(async () => {
  agent.destroy();
  await new Promise<void>((resolve) => session.close(() => resolve()));
  await server.close();
});

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

function overH2(path: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':method': method, ...headers }, { endStream: body === undefined });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

function overH1(path: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const all = body === undefined ? headers : { ...headers, 'content-length': String(body.byteLength) };
    const req = http.request({ host: '127.0.0.1', port: server.port, path, method, headers: all, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function send(s: Spec): Promise<Answer> {
  const headers = {
    'x-id': s.xId,
    'x-other': s.other,
    'content-type': 'application/octet-stream',
    'user-agent': `kept-test/${s.i}`,
  };
  return (s.over === 'h2' ? overH2 : overH1)(`${s.path}?n=${s.n}`, 'POST', headers, s.body);
}

interface KeptReport {
  readonly count: number;
  readonly kept: ReadonlyArray<{
    readonly route: string;
    readonly xId: string | null;
    readonly other: string | null;
    readonly n: string | null;
    readonly id: string | null;
    readonly path: string;
    readonly body?: string;
    readonly error?: string;
  }>;
}

test('kept pooled requests read later see exactly their own headers, query, params, path and body', { timeout: 60_000 }, async (t) => {
  assert.equal((await overH2('/reset', 'POST', {}, Buffer.alloc(0))).status, 200);

  // Waves of 60 in flight: the HTTP/2 ones on one session, the HTTP/1.1 ones on 4 sockets.
  const statuses: string[] = [];
  for (let from = 0; from < SPECS.length; from += 60) {
    const wave = SPECS.slice(from, from + 60);
    const answers = await Promise.all(wave.map((s) => send(s)));
    answers.forEach((answer, k) => {
      const s = wave[k] as Spec;
      if (answer.status !== 200 || answer.body.toString() !== 'ok') statuses.push(`${s.path}: ${answer.status} ${answer.body.toString().slice(0, 80)}`);
    });
  }

  const answer = await overH2('/kept', 'GET', {});
  assert.equal(answer.status, 200, `GET /kept: ${answer.body.toString().slice(0, 300)}`);
  const report = JSON.parse(answer.body.toString('utf8')) as KeptReport;

  const byPath = new Map(SPECS.map((s) => [s.path, s]));
  const seen = new Set<string>();
  const wrong: string[] = [];
  for (const entry of report.kept) {
    const s = byPath.get(entry.path);
    assert.ok(s !== undefined, `a kept request with an unknown path ${entry.path}`);
    assert.equal(seen.has(entry.path), false, `${entry.path} kept once`);
    seen.add(entry.path);
    const expected = { route: s.route, xId: s.xId, other: s.other, n: s.n, id: s.id, path: s.path, body: s.body.toString('latin1') };
    const actual = { ...entry };
    try {
      assert.deepEqual(actual, expected);
    } catch {
      wrong.push(`${s.path} (${s.over}, body ${s.body.byteLength} B): got ${JSON.stringify({ ...actual, body: actual.body?.slice(0, 24) })}`);
    }
  }
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} kept requests saw data that is not theirs`);
  // A handler that read its headers after its await, from bytes no longer its own, may throw.
  assert.deepEqual(statuses, [], 'every POST answered ok');
  assert.equal(report.count, SPECS.length);
  assert.equal(seen.size, SPECS.length);

  const nonAscii = SPECS.filter((s) => /[^\x00-\x7f]/.test(s.xId + s.id)).length;
  const chunked = SPECS.filter((s) => s.body.byteLength > RING / 2 - 8).length;
  const h1 = SPECS.filter((s) => s.over === 'h1').length;
  t.diagnostic(`${SPECS.length} kept requests: ${nonAscii} non-ASCII (headers decoded with the record), ${SPECS.length - nonAscii} ASCII (decoded lazily), ${chunked} with chunked bodies, ${h1} over HTTP/1.1`);
});
