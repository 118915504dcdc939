/**
 * The executor's binary records, end to end through a real ring: encode → drain → decode, with
 * body chunk records reassembled per task and several tasks' chunks interleaved. Property tests
 * cover unicode strings everywhere, table and literal methods and header names, repeated header
 * values, bodies from empty to several times the largest record (a 4 KiB ring forces chunking),
 * null vs empty response bodies, string response bodies, and both kinds of fault with every
 * error code. Where the encoder refuses (ring full), the harness drains and retries, as the
 * pinned worker and the pool will.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { IncomingHeaders } from '../../src/app/request.ts';
import type { BufferedOutgoing } from '../../src/app/response.ts';
import { ErrorCode } from '../../src/core/errors.ts';
import { emptyRecord } from '../../src/core/record.ts';
import {
  decodeBodyChunk,
  decodeFault,
  decodeRequest,
  decodeResponse,
  decodeTask,
  encodeBodyChunk,
  encodeCancel,
  encodeFault,
  encodeRequest,
  encodeResponse,
  encodeTask,
  ERROR_CODES,
  FLAG_ASCII,
  FLAG_MORE,
  FLAG_TEXT,
  HEADER_NAMES,
  METHODS,
  NO_ROOM,
  recordFlags,
  recordKind,
  recordTaskId,
  RecordKind,
  SHORT_STRING,
  TOO_LARGE,
  type DecodedRequest,
  type DecodedResponse,
  type DecodedTask,
  type PoolRequest,
  type PoolTaskRequest,
  type PooledFault,
} from '../../src/executor/codec.ts';
import { createRing, RingConsumer, RingProducer } from '../../src/executor/ring.ts';

// ─── the receiving side, as the pool and the pinned worker will have it ─────────────────────

interface Assembly<T> {
  readonly head: T;
  /** Length of the head record, and how many body bytes it carried. */
  readonly recordLength: number;
  readonly inline: number;
  chunks: number;
  complete: boolean;
}

/** Reassembles records into messages by task id, checking the record framing on the way. */
class Receiver {
  readonly requests = new Map<number, Assembly<DecodedRequest>>();
  readonly responses = new Map<number, Assembly<DecodedResponse>>();
  readonly tasks = new Map<number, Assembly<DecodedTask>>();
  readonly faults = new Map<number, PooledFault>();
  readonly cancels: number[] = [];

  readonly visit = (bytes: Buffer, offset: number, length: number): void => {
    const kind = recordKind(bytes, offset);
    const flags = recordFlags(bytes, offset);
    const taskId = recordTaskId(bytes, offset);
    assert.ok(length >= 8, 'every record has the 8-byte prefix');
    assert.equal(bytes.readUInt16LE(offset + 2), 0, 'reserved prefix bytes are zero');
    const more = (flags & FLAG_MORE) !== 0;
    assert.equal(flags & ~(FLAG_MORE | FLAG_ASCII | (kind === RecordKind.RESPONSE ? FLAG_TEXT : 0)), 0, 'only known flags are set');
    if ((flags & FLAG_TEXT) !== 0) assert.equal(more, false, 'a text body is carried whole');
    switch (kind) {
      case RecordKind.REQUEST: {
        assert.equal(this.requests.has(taskId), false, `one REQUEST head for task ${taskId}`);
        const head = decodeRequest(bytes, offset, length);
        assert.equal(head.taskId, taskId);
        assert.equal(head.more, more);
        this.requests.set(taskId, { head, recordLength: length, inline: head.received, chunks: 0, complete: !more });
        return;
      }
      case RecordKind.RESPONSE: {
        assert.equal(this.responses.has(taskId), false, `one RESPONSE head for task ${taskId}`);
        const head = decodeResponse(bytes, offset, length);
        assert.equal(head.taskId, taskId);
        assert.equal(head.more, more);
        if (head.body === null) assert.equal(more, false, 'no chunks follow a response without a body');
        this.responses.set(taskId, { head, recordLength: length, inline: head.received, chunks: 0, complete: !more });
        return;
      }
      case RecordKind.TASK: {
        assert.equal(this.tasks.has(taskId), false, `one TASK head for task ${taskId}`);
        assert.equal(flags & ~FLAG_MORE, 0, 'a TASK record has no strings');
        const head = decodeTask(bytes, offset, length);
        assert.equal(head.taskId, taskId);
        assert.equal(head.more, more);
        this.tasks.set(taskId, { head, recordLength: length, inline: head.received, chunks: 0, complete: !more });
        return;
      }
      case RecordKind.REQUEST_BODY:
      case RecordKind.RESPONSE_BODY: {
        const assembly = kind === RecordKind.REQUEST_BODY ? (this.requests.get(taskId) ?? this.tasks.get(taskId)) : this.responses.get(taskId);
        assert.ok(assembly !== undefined && !assembly.complete, `a body chunk for task ${taskId} comes after its head and before its last chunk`);
        const target = assembly.head.body;
        assert.ok(target instanceof Buffer, 'a body that arrives in chunks is bytes');
        assembly.head.received = decodeBodyChunk(bytes, offset, length, target, assembly.head.received);
        assembly.chunks++;
        assembly.complete = !more;
        return;
      }
      case RecordKind.FAULT:
        assert.equal(flags & FLAG_MORE, 0);
        this.faults.set(taskId, decodeFault(bytes, offset, length));
        return;
      case RecordKind.CANCEL:
        assert.equal(flags, 0);
        assert.equal(length, 8);
        this.cancels.push(taskId);
        return;
      default:
        assert.fail(`unknown record kind ${kind}`);
    }
  };
}

/** One ring with both ends on this thread, and the receiver behind its consumer. */
class Link {
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
  readonly receiver = new Receiver();
  /** How many records to drain when the producer finds the ring full (1: free as little as possible). */
  readonly batch: number;

  constructor(capacity: number, batch = Number.POSITIVE_INFINITY) {
    const buffer = createRing(capacity);
    this.producer = new RingProducer(buffer);
    this.consumer = new RingConsumer(buffer);
    this.batch = batch;
  }

  /** Calls `write` until it is not refused, draining in between; an empty ring must not refuse. */
  send<T>(write: () => T, refused: (result: T) => boolean): T {
    for (;;) {
      const result = write();
      if (!refused(result)) return result;
      this.producer.publish();
      assert.ok(this.consumer.hasRecords(), 'the encoder refused an empty ring');
      this.consumer.take(this.receiver.visit, this.batch);
    }
  }

  flush(): void {
    this.producer.publish();
    this.consumer.take(this.receiver.visit);
    assert.equal(this.consumer.hasRecords(), false);
  }
}

/** A task's body still to send in chunk records, from `offset`. */
interface Stream {
  readonly taskId: number;
  readonly kind: typeof RecordKind.REQUEST_BODY | typeof RecordKind.RESPONSE_BODY;
  readonly body: Uint8Array;
  offset: number;
}

/** Sends one chunk of every unfinished stream, round-robin, so tasks' chunks interleave. */
function stepStreams(link: Link, streams: Stream[]): void {
  for (const stream of streams) {
    if (stream.offset >= stream.body.byteLength) continue;
    const next = link.send(
      () => encodeBodyChunk(link.producer, stream.kind, stream.taskId, stream.body, stream.offset),
      (offset) => offset === NO_ROOM,
    );
    assert.ok(next > stream.offset && next <= stream.body.byteLength, `chunk progress ${stream.offset} → ${next}`);
    stream.offset = next;
  }
}

function finishStreams(link: Link, streams: Stream[]): void {
  while (streams.some((s) => s.offset < s.body.byteLength)) stepStreams(link, streams);
  link.flush();
}

function sendRequests(link: Link, requests: readonly PoolRequest[]): void {
  const streams: Stream[] = [];
  for (const request of requests) {
    const inline = link.send(
      () => encodeRequest(link.producer, request),
      (n) => n === NO_ROOM,
    );
    assert.ok(inline >= 0 && inline <= request.body.byteLength, `inline ${inline}`);
    streams.push({ taskId: request.taskId, kind: RecordKind.REQUEST_BODY, body: request.body, offset: inline });
    stepStreams(link, streams);
  }
  finishStreams(link, streams);
}

function sendResponses(link: Link, responses: ReadonlyArray<{ taskId: number; outgoing: BufferedOutgoing }>): void {
  const streams: Stream[] = [];
  for (const { taskId, outgoing } of responses) {
    const result = link.send(
      () => encodeResponse(link.producer, taskId, outgoing),
      (r) => r === NO_ROOM,
    );
    // A body sent whole comes back as the count of its bytes inline; otherwise as what is left of it.
    assert.ok(typeof result === 'number' ? result >= 0 : result.offset < result.body.byteLength, `encodeResponse gave ${String(result)}`);
    if (typeof result !== 'number') streams.push({ taskId, kind: RecordKind.RESPONSE_BODY, body: result.body, offset: result.offset });
    stepStreams(link, streams);
  }
  finishStreams(link, streams);
}

// ─── what the decoder should give back ──────────────────────────────────────────────────────

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8');
/** Strings cross as UTF-8: a lone surrogate comes back as U+FFFD, everything else as it was. */
const viaUtf8 = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');
const TABLE_NAMES: ReadonlySet<string> = new Set(HEADER_NAMES);
const TABLE_METHODS: ReadonlySet<string> = new Set(METHODS);

/** Header entries in the order the encoder writes them: undefined values skipped. */
function headerEntries(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') entries.push([name, value]);
    else for (const item of value) entries.push([name, item]);
  }
  return entries;
}

/** The decoded shape: a null-prototype object, one value as a string, repeated ones as an array. */
function decodedHeaders(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Record<string, string | string[]> {
  const out = emptyRecord<string | string[]>();
  for (const [name, raw] of headerEntries(headers)) {
    const value = viaUtf8(raw);
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (typeof existing === 'string') out[name] = [existing, value];
    else existing.push(value);
  }
  return out;
}

function headersSize(headers: Readonly<Record<string, string | readonly string[] | undefined>>): number {
  let size = 0;
  for (const [name, value] of headerEntries(headers)) size += (TABLE_NAMES.has(name) ? 1 : 5 + utf8(name)) + 4 + utf8(value);
  return size;
}

/** Exact bytes of a FAULT record's strings and headers, per the format in codec.ts. */
function faultTextSize(headers: Readonly<Record<string, string | readonly string[] | undefined>>, text: string): number {
  return 4 + utf8(text) + headersSize(headers);
}

/** Exact bytes of a REQUEST record before its inline body, per the format in codec.ts. */
function requestHeadSize(request: PoolRequest): number {
  let size = 24 + (TABLE_METHODS.has(request.method) ? 0 : 4 + utf8(request.method)) + 4 + utf8(request.path) + 4 + utf8(request.rawQuery);
  for (const name in request.params) size += 8 + utf8(name) + utf8(request.params[name] as string);
  return size + headersSize(request.headers);
}

function expectedRequest(request: PoolRequest): Omit<DecodedRequest, 'received' | 'more' | 'decode'> {
  const params = emptyRecord<string>();
  for (const name in request.params) params[name] = viaUtf8(request.params[name] as string);
  return {
    taskId: request.taskId,
    routeId: request.routeId,
    method: request.method,
    path: viaUtf8(request.path),
    rawQuery: viaUtf8(request.rawQuery),
    params,
    headers: decodedHeaders(request.headers),
    body: Buffer.from(request.body),
  };
}

function bodyBytes(body: BufferedOutgoing['body']): Buffer | null {
  if (body === null) return null;
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
}

function expectedFault(fault: PooledFault): PooledFault {
  if (fault.kind === 'overloaded') return { kind: 'overloaded' };
  if (fault.kind === 'internal') return { kind: 'internal', code: fault.code, errorId: viaUtf8(fault.errorId) };
  const headers = fault.headers === undefined ? undefined : decodedHeaders(fault.headers);
  return {
    kind: 'http',
    status: fault.status,
    detail: typeof fault.detail === 'string' ? viaUtf8(fault.detail) : fault.detail,
    code: fault.code,
    // No header entries at all is sent as a headerCount of 0, which decodes as `undefined`.
    headers: headers === undefined || Object.keys(headers).length === 0 ? undefined : headers,
  };
}

/** Compares bodies without asking assert for a diff of a 100 KB buffer (slow, and unreadable). */
function assertSameBody(actual: Buffer | null, expected: Buffer | null, what: string): void {
  if (actual === null || expected === null) {
    assert.equal(actual, expected, `${what}: null body`);
    return;
  }
  assert.equal(actual.byteLength, expected.byteLength, `${what}: body length`);
  const at = actual.findIndex((byte, i) => byte !== expected[i]);
  assert.equal(at, -1, `${what}: body differs from byte ${at}`);
}

/**
 * A response body that was a string and fit its record may arrive as a string (FLAG_TEXT),
 * anything else arrives as bytes; either way its UTF-8 bytes are the ones sent.
 */
function assertSameResponseBody(actual: Buffer | string | null, sent: BufferedOutgoing['body'], expected: Buffer | null, inline: boolean, what: string): void {
  if (typeof actual === 'string') {
    assert.ok(typeof sent === 'string' && inline, `${what}: only a string body carried whole arrives as a string`);
    assertSameBody(Buffer.from(actual, 'utf8'), expected, what);
    return;
  }
  assertSameBody(actual, expected, what);
}

function checkRequests(link: Link, requests: readonly PoolRequest[]): void {
  assert.equal(link.receiver.requests.size, requests.length);
  for (const request of requests) {
    const assembly = link.receiver.requests.get(request.taskId);
    assert.ok(assembly !== undefined, `request ${request.taskId} arrived`);
    assert.equal(assembly.complete, true, 'its last chunk arrived');
    assert.equal(assembly.head.received, request.body.byteLength, 'every body byte arrived');
    assert.equal(assembly.recordLength, requestHeadSize(request) + assembly.inline, 'head record length');
    assert.ok(assembly.recordLength <= link.producer.maxPayload);
    assert.equal(assembly.chunks > 0, assembly.inline < request.body.byteLength, 'chunks follow only when the body did not fit inline');
    const { taskId, routeId, method, path, rawQuery, params, headers, body } = assembly.head;
    const { body: expectedBody, ...expected } = expectedRequest(request);
    assert.deepEqual({ taskId, routeId, method, path, rawQuery, params, headers }, expected);
    assertSameBody(body, expectedBody, `request ${taskId}`);
  }
}

function checkResponses(link: Link, responses: ReadonlyArray<{ taskId: number; outgoing: BufferedOutgoing }>): void {
  assert.equal(link.receiver.responses.size, responses.length);
  for (const { taskId, outgoing } of responses) {
    const assembly = link.receiver.responses.get(taskId);
    assert.ok(assembly !== undefined, `response ${taskId} arrived`);
    assert.equal(assembly.complete, true);
    const expectedBody = bodyBytes(outgoing.body);
    assert.equal(assembly.head.received, expectedBody?.byteLength ?? 0);
    assert.equal(assembly.recordLength, 20 + headersSize(outgoing.headers) + assembly.inline, 'head record length');
    const { status, headers, body } = assembly.head;
    assert.deepEqual({ taskId: assembly.head.taskId, status, headers }, { taskId, status: outgoing.status, headers: decodedHeaders(outgoing.headers) });
    assertSameResponseBody(body, outgoing.body, expectedBody, assembly.chunks === 0, `response ${taskId}`);
  }
}

// ─── arbitraries ────────────────────────────────────────────────────────────────────────────

/** Any code point; `withLoneSurrogates` adds unpaired surrogates, which UTF-8 turns into U+FFFD. */
function text(maxLength: number, withLoneSurrogates = true): fc.Arbitrary<string> {
  const units: Array<fc.Arbitrary<string>> = [
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength: Math.max(1, maxLength >> 2) }),
    // Three UTF-8 bytes per UTF-16 unit: the encoder's worst-case bound, met exactly.
    fc.string({ unit: fc.constantFrom('€', '☃', '日', '\uffff', '\u0800'), maxLength }),
  ];
  if (withLoneSurrogates) {
    units.push(fc.string({ unit: fc.oneof(fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength }));
  }
  return fc.oneof(...units);
}

const headerName = fc.oneof(
  fc.constantFrom(...HEADER_NAMES),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  fc.constantFrom('X-Custom', 'Content-Type', 'x-ünïcödé', '☃'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).filter((name) => !name.startsWith(':')),
);
const headerValue = fc.oneof({ weight: 3, arbitrary: text(24) }, { weight: 2, arbitrary: fc.array(text(16), { maxLength: 3 }) });
const responseHeaders = fc.dictionary(headerName, headerValue, { maxKeys: 4 });
const requestHeaders: fc.Arbitrary<IncomingHeaders> = fc.dictionary(
  headerName,
  fc.oneof({ weight: 6, arbitrary: headerValue.map((v) => (typeof v === 'string' ? v : [...v])) }, { weight: 1, arbitrary: fc.constant(undefined) }),
  { maxKeys: 5 },
);

const method = fc.oneof(
  fc.constantFrom(...METHODS),
  fc.constantFrom('PROPFIND', 'MKCOL', 'PURGE', 'M-SEARCH', 'get', 'Post'),
  fc.stringMatching(/^[A-Z]{1,12}$/),
);

/** Deterministic bytes of any length, without asking fast-check for a huge array. */
function filled(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = Math.imul(seed, 0x9e37_79b1) ^ 0x7f4a_7c15;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b_3c6d) + i) | 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Bodies from empty to three records' worth for `maxPayload`, sometimes a view into a larger buffer. */
function body(maxPayload: number): fc.Arbitrary<Uint8Array> {
  const large = fc.record({ length: fc.integer({ min: 1, max: 3 * maxPayload }), seed: fc.integer() }).map(({ length, seed }) => filled(length, seed));
  const boundary = fc
    .record({ near: fc.constantFrom(maxPayload - 24, maxPayload - 8, maxPayload, 2 * maxPayload - 16), delta: fc.integer({ min: -8, max: 8 }), seed: fc.integer() })
    .map(({ near, delta, seed }) => filled(Math.max(0, near + delta), seed));
  const view = fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.nat(16), fc.nat(16)).map(([bytes, before, after]) => {
    const backing = new Uint8Array(before + bytes.byteLength + after).fill(0xee);
    backing.set(bytes, before);
    return backing.subarray(before, before + bytes.byteLength);
  });
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }) },
    { weight: 1, arbitrary: view },
    { weight: 2, arbitrary: large },
    { weight: 1, arbitrary: boundary },
  );
}

/** Distinct task ids over the whole u32 range. */
const taskIds = (count: number): fc.Arbitrary<number[]> =>
  fc.uniqueArray(fc.oneof(fc.nat(0xffff_ffff), fc.constantFrom(0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff)), { minLength: count, maxLength: count });

const capacity = fc.constantFrom(4096, 4096, 65_536);
/** Drain everything, or one record at a time, when the producer finds the ring full. */
const batch = fc.constantFrom(Number.POSITIVE_INFINITY, 1);

function request(maxPayload: number, taskId: number): fc.Arbitrary<PoolRequest> {
  return fc.record({
    taskId: fc.constant(taskId),
    routeId: fc.integer({ min: 0, max: 0xffff }),
    method,
    path: text(40).map((p) => `/${p}`),
    rawQuery: text(40),
    params: fc.dictionary(text(12, false), text(24), { maxKeys: 4 }),
    headers: requestHeaders,
    body: body(maxPayload),
  });
}

const requestScenario = fc.tuple(capacity, batch, fc.integer({ min: 1, max: 5 })).chain(([cap, drainBatch, count]) =>
  taskIds(count).chain((ids) =>
    fc.record({
      capacity: fc.constant(cap),
      batch: fc.constant(drainBatch),
      requests: fc.tuple(...ids.map((id) => request(cap / 2 - 8, id))),
    }),
  ),
);

function outgoing(maxPayload: number): fc.Arbitrary<BufferedOutgoing> {
  return fc.record({
    status: fc.integer({ min: 100, max: 599 }),
    headers: responseHeaders,
    body: fc.oneof(
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constant('') },
      { weight: 2, arbitrary: text(200) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: maxPayload / 4, maxLength: maxPayload }) },
      { weight: 3, arbitrary: body(maxPayload) },
    ),
  });
}

const responseScenario = fc.tuple(capacity, batch, fc.integer({ min: 1, max: 5 })).chain(([cap, drainBatch, count]) =>
  taskIds(count).chain((ids) =>
    fc.record({
      capacity: fc.constant(cap),
      batch: fc.constant(drainBatch),
      responses: fc.tuple(...ids.map((taskId) => outgoing(cap / 2 - 8).map((o) => ({ taskId, outgoing: o })))),
    }),
  ),
);

const errorCode = fc.constantFrom(...ERROR_CODES);
const fault: fc.Arbitrary<PooledFault> = fc.oneof(
  fc.record({
    kind: fc.constant('http' as const),
    status: fc.integer({ min: 400, max: 599 }),
    detail: text(60),
    code: errorCode,
    headers: fc.option(responseHeaders, { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('internal' as const), code: errorCode, errorId: fc.oneof(fc.uuid(), text(40)) }),
  fc.constant({ kind: 'overloaded' as const }),
);

// ─── properties ─────────────────────────────────────────────────────────────────────────────

/**
 * `numRuns` runs, or fewer if they take more than 10 s on a slow machine; a counterexample found
 * in time is still reported, with shrinking also cut at the limit.
 */
const BUDGET = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, interruptAfterTimeLimit: 10_000 });

describe('codec round trips through a ring (properties)', () => {
  test('requests: every field, the exact head size, and bodies reassembled from interleaved chunks', () => {
    fc.assert(
      fc.property(requestScenario, ({ capacity: cap, batch: drainBatch, requests }) => {
        // A head that cannot fit one record is refused with TOO_LARGE (tested below).
        fc.pre(requests.every((r) => requestHeadSize(r) <= cap / 2 - 8));
        const link = new Link(cap, drainBatch);
        sendRequests(link, requests);
        checkRequests(link, requests);
      }),
      BUDGET(250),
    );
  });

  test('responses: status, headers, null vs empty vs string vs binary bodies, chunked when large', () => {
    fc.assert(
      fc.property(responseScenario, ({ capacity: cap, batch: drainBatch, responses }) => {
        fc.pre(responses.every((r) => 20 + headersSize(r.outgoing.headers) <= cap / 2 - 8));
        const link = new Link(cap, drainBatch);
        sendResponses(link, responses);
        checkResponses(link, responses);
      }),
      BUDGET(250),
    );
  });

  test('faults and cancels, interleaved on a 4 KiB ring', () => {
    const scenario = fc.tuple(batch, fc.integer({ min: 1, max: 12 })).chain(([drainBatch, count]) =>
      taskIds(count).chain((ids) =>
        fc.record({
          batch: fc.constant(drainBatch),
          messages: fc.tuple(...ids.map((taskId) => fc.oneof(fault.map((f) => ({ taskId, fault: f })), fc.constant({ taskId, fault: null })))),
        }),
      ),
    );
    fc.assert(
      fc.property(scenario, ({ batch: drainBatch, messages }) => {
        const link = new Link(4096, drainBatch);
        fc.pre(
          messages.every(({ fault: f }) => f?.kind !== 'http' || 16 + faultTextSize(f.headers ?? {}, typeof f.detail === 'string' ? f.detail : JSON.stringify(f.detail)) <= link.producer.maxPayload),
        );
        for (const { taskId, fault: f } of messages) {
          if (f === null)
            link.send(
              () => encodeCancel(link.producer, taskId),
              (ok) => !ok,
            );
          else
            link.send(
              () => encodeFault(link.producer, taskId, f),
              (result) => result === NO_ROOM,
            );
        }
        link.flush();
        const cancels = messages.filter((m) => m.fault === null).map((m) => m.taskId);
        assert.deepEqual(link.receiver.cancels, cancels);
        assert.equal(link.receiver.faults.size, messages.length - cancels.length);
        for (const { taskId, fault: f } of messages) {
          if (f !== null) assert.deepEqual(link.receiver.faults.get(taskId), expectedFault(f));
        }
      }),
      BUDGET(200),
    );
  });
});

// ─── examples ───────────────────────────────────────────────────────────────────────────────

const base: PoolRequest = {
  taskId: 7,
  routeId: 3,
  method: 'GET',
  path: '/items/42',
  rawQuery: 'q=1',
  params: { id: '42' },
  headers: { host: 'example.test' },
  body: new Uint8Array(0),
};

function roundTripRequest(request: PoolRequest, cap = 4096): DecodedRequest {
  const link = new Link(cap);
  sendRequests(link, [request]);
  checkRequests(link, [request]);
  const assembly = link.receiver.requests.get(request.taskId);
  assert.ok(assembly !== undefined);
  return assembly.head;
}

function roundTripResponse(outgoing: BufferedOutgoing, cap = 4096): DecodedResponse {
  const link = new Link(cap);
  sendResponses(link, [{ taskId: 9, outgoing }]);
  checkResponses(link, [{ taskId: 9, outgoing }]);
  const assembly = link.receiver.responses.get(9);
  assert.ok(assembly !== undefined);
  return assembly.head;
}

describe('requests', () => {
  test('table methods take no string; literal ones (PROPFIND, lowercase get) come back as sent', () => {
    for (const m of [...METHODS, 'PROPFIND', 'get', 'M-SEARCH']) assert.equal(roundTripRequest({ ...base, method: m }).method, m);
  });

  test('unicode in path, query, param names and values, and header values', () => {
    const decoded = roundTripRequest({
      ...base,
      path: '/café/𝄞/日本',
      rawQuery: 'q=naïve&emoji=😀',
      params: { 'ñame': 'välue ☃', '键': '值' },
      headers: { 'x-note': 'über 🎉', accept: ['text/html', 'application/json ✓'] },
    });
    assert.equal(decoded.path, '/café/𝄞/日本');
    assert.equal(decoded.rawQuery, 'q=naïve&emoji=😀');
    assert.deepEqual(decoded.params, Object.assign(emptyRecord(), { 'ñame': 'välue ☃', '键': '值' }));
    assert.deepEqual(decoded.headers, Object.assign(emptyRecord(), { 'x-note': 'über 🎉', accept: ['text/html', 'application/json ✓'] }));
  });

  test('decoded params and headers inherit nothing; repeated names become arrays', () => {
    const decoded = roundTripRequest({ ...base, params: { constructor: 'c', ['__proto__']: 'p' }, headers: { 'set-cookie': ['a=1', 'b=2', 'c=3'], toString: 'x', cookie: ['only'] } });
    for (const decodedRecord of [decoded.params, decoded.headers]) {
      const prototype = Object.getPrototypeOf(decodedRecord) as object;
      assert.equal(Object.getPrototypeOf(prototype), null, 'nothing above the shared prototype');
      assert.deepEqual(Reflect.ownKeys(prototype), [], 'the shared prototype is empty');
      assert.ok(Object.isFrozen(prototype), 'and frozen, so no request can add to it');
      assert.equal('hasOwnProperty' in decodedRecord, false);
    }
    assert.deepEqual(Object.keys(decoded.params), ['constructor', '__proto__']);
    assert.equal(decoded.params['__proto__'], 'p', 'a key named __proto__ is an ordinary key');
    assert.equal(decoded.params['constructor'], 'c');
    assert.deepEqual(decoded.headers['set-cookie'], ['a=1', 'b=2', 'c=3']);
    assert.equal(decoded.headers['toString'], 'x');
    assert.equal(decoded.headers['cookie'], 'only', 'a one-item array comes back as a string');
  });

  test('undefined values and empty lists are not sent', () => {
    const decoded = roundTripRequest({ ...base, headers: { host: 'h', 'x-gone': undefined, 'x-empty': [] } });
    assert.deepEqual(decoded.headers, Object.assign(emptyRecord(), { host: 'h' }));
  });

  test('a body larger than one record is split: the head carries what fits, chunks the rest with FLAG_MORE', () => {
    const body = filled(10_000, 1);
    const link = new Link(4096);
    const kinds: Array<[number, number, number]> = [];
    const inline = encodeRequest(link.producer, { ...base, body });
    assert.ok(inline > 0 && inline < body.byteLength);
    link.producer.publish();
    link.consumer.take((bytes, offset, length) => {
      kinds.push([recordKind(bytes, offset), recordFlags(bytes, offset), length]);
      link.receiver.visit(bytes, offset, length);
    });
    let offset = inline;
    while (offset < body.byteLength) {
      offset = encodeBodyChunk(link.producer, RecordKind.REQUEST_BODY, base.taskId, body, offset);
      assert.ok(offset > 0);
      link.producer.publish();
      link.consumer.take((bytes, at, length) => {
        kinds.push([recordKind(bytes, at), recordFlags(bytes, at), length]);
        link.receiver.visit(bytes, at, length);
      });
    }
    assert.deepEqual(
      kinds.map(([kind, flags]) => [kind, flags]),
      // The head's strings are ASCII, so it also carries FLAG_ASCII; chunks carry no strings.
      [[RecordKind.REQUEST, FLAG_MORE | FLAG_ASCII], ...Array.from({ length: kinds.length - 2 }, () => [RecordKind.REQUEST_BODY, FLAG_MORE]), [RecordKind.REQUEST_BODY, 0]],
    );
    assert.ok(kinds.every(([, , length]) => length <= link.producer.maxPayload));
    checkRequests(link, [{ ...base, body }]);
  });

  test('a head at its worst-case size and a large body fill the record exactly', () => {
    // Every string is 3 UTF-8 bytes per UTF-16 unit, which is what the encoder reserves for
    // (so the path has no '/', which would be 2 bytes under its bound).
    const request: PoolRequest = { ...base, path: '€€€', rawQuery: '☃', params: { 日: '日本' }, headers: { host: '€' }, body: filled(5000, 9) };
    const link = new Link(4096);
    sendRequests(link, [request]);
    checkRequests(link, [request]);
    assert.equal(link.receiver.requests.get(request.taskId)?.recordLength, link.producer.maxPayload);
  });

  test('encodeRequest returns -1 on a full ring and succeeds once it is drained', () => {
    const link = new Link(4096);
    while (link.producer.push(new Uint8Array(100)));
    assert.equal(encodeRequest(link.producer, base), -1);
    link.producer.publish();
    assert.equal(link.consumer.take(() => {}), 4096 / 104 | 0);
    assert.equal(encodeRequest(link.producer, base), 0);
    link.flush();
    checkRequests(link, [base]);
  });

  test('more than 255 params is refused with TOO_LARGE (a u8 count), not NO_ROOM', () => {
    const params: Record<string, string> = {};
    for (let i = 0; i < 256; i++) params[`p${i}`] = 'v';
    const link = new Link(65_536);
    assert.equal(encodeRequest(link.producer, { ...base, params }), TOO_LARGE);
    assert.equal(link.consumer.hasRecords(), false);
    delete params['p0'];
    assert.equal(encodeRequest(link.producer, { ...base, params }), 0);
  });

  test('a head larger than the largest record is TOO_LARGE and does not touch records the consumer has not read', () => {
    const link = new Link(4096);
    // Put the tail at 0 with the second half of the ring holding four unread records.
    for (let i = 0; i < 4; i++) link.producer.push(new Uint8Array(508));
    link.producer.publish();
    link.consumer.take(() => {});
    for (let i = 0; i < 4; i++) link.producer.push(filled(508, i));
    assert.equal(encodeRequest(link.producer, { ...base, path: `/${'a'.repeat(3000)}` }), TOO_LARGE);
    const unread: Buffer[] = [];
    link.producer.publish();
    link.consumer.take((bytes, offset, length) => unread.push(Buffer.from(bytes.subarray(offset, offset + length))), 4);
    const intact = unread.map((bytes, i) => bytes.equals(filled(508, i)));
    assert.deepEqual(intact, [true, true, true, true], 'the four unread records are intact');
    assert.equal(link.consumer.hasRecords(), false);
  });

  test('a head whose worst case is over one record but whose real size fits is accepted', () => {
    const link = new Link(4096);
    // 1500 ASCII bytes fit a 2040-byte record; 3 × 1500 would not.
    const request = { ...base, path: `/${'a'.repeat(1500)}` };
    assert.equal(encodeRequest(link.producer, request), 0);
    link.flush();
  });
});

describe('strings at the edge of the short-string copy', () => {
  test('ASCII and non-ASCII strings one unit below, at and above the limit round-trip in every field', () => {
    for (const length of [SHORT_STRING - 1, SHORT_STRING, SHORT_STRING + 1]) {
      for (const text of ['a'.repeat(length), `${'b'.repeat(length - 1)}é`, `é${'c'.repeat(length - 1)}`]) {
        const decoded = roundTripRequest({ ...base, path: `/${text}`.slice(0, length), rawQuery: text, params: { [text]: text }, headers: { 'x-long': text, accept: text } });
        assert.equal(decoded.path, `/${text}`.slice(0, length));
        assert.equal(decoded.rawQuery, text);
        assert.equal(decoded.params[text], text);
        assert.equal(decoded.headers['x-long'], text);
        assert.equal(decoded.headers['accept'], text);
      }
    }
  });
});

describe('reused header values', () => {
  test('a table header whose value differs from the last one only after its first byte is decoded afresh', () => {
    const link = new Link(4096);
    const values = ['text/plain', 'text/plaim', 'text/plain', 'uext/plain', 'text/plain; charset=utf-8', 'text/plain; charset=utf-9'];
    const seen: string[] = [];
    for (const [i, value] of values.entries()) {
      encodeResponse(link.producer, i, { status: 200, headers: { 'content-type': value }, body: null });
      link.producer.publish();
      link.consumer.take((bytes, offset, length) => {
        seen.push(decodeResponse(bytes, offset, length).headers['content-type'] as string);
      });
    }
    assert.deepEqual(seen, values);
  });
});

describe('the ASCII flag', () => {
  test('is set when every string is ASCII and not otherwise; both decode the same', () => {
    for (const [path, ascii] of [['/items/42', true], ['/café', false], ['/😀', false], ['', true]] as const) {
      const link = new Link(4096);
      const request = { ...base, path, headers: { 'x-a': 'plain', host: 'h' } };
      assert.equal(encodeRequest(link.producer, request), 0);
      let flags = -1;
      link.producer.publish();
      link.consumer.take((bytes, offset, length) => {
        flags = recordFlags(bytes, offset);
        assert.equal(decodeRequest(bytes, offset, length).path, path);
      });
      assert.equal((flags & FLAG_ASCII) !== 0, ascii, JSON.stringify(path));
    }
  });

  test('a non-ASCII header value alone clears it', () => {
    const link = new Link(4096);
    encodeResponse(link.producer, 1, { status: 200, headers: { 'x-name': 'Zoë' }, body: 'ascii body' });
    link.producer.publish();
    link.consumer.take((bytes, offset, length) => {
      assert.equal(recordFlags(bytes, offset) & FLAG_ASCII, 0);
      assert.equal(decodeResponse(bytes, offset, length).headers['x-name'], 'Zoë');
    });
  });
});

describe('responses', () => {
  test('a null body and an empty body stay distinct', () => {
    assert.equal(roundTripResponse({ status: 204, headers: {}, body: null }).body, null);
    assert.deepEqual(roundTripResponse({ status: 200, headers: {}, body: new Uint8Array(0) }).body, Buffer.alloc(0));
    assert.equal(roundTripResponse({ status: 200, headers: {}, body: '' }).body, '');
  });

  test('a string body that fits comes back as the same string; a larger one as its UTF-8 bytes', () => {
    for (const body of ['hello', 'naïve ☃ 😀', 'ü'.repeat(300)]) {
      assert.equal(roundTripResponse({ status: 200, headers: {}, body }).body, body, body.slice(0, 20));
    }
    // A lone surrogate is sent as U+FFFD, as an inline handler's string body is.
    assert.equal(roundTripResponse({ status: 200, headers: {}, body: 'lone \ud800 surrogate' }).body, 'lone \ufffd surrogate');
    for (const body of ['ü'.repeat(700), '😀'.repeat(3000)]) {
      assert.deepEqual(roundTripResponse({ status: 200, headers: {}, body }).body, Buffer.from(body, 'utf8'), body.slice(0, 20));
    }
  });

  test('a string body that fits is encoded in place: nothing left to send', () => {
    const link = new Link(4096);
    const result = encodeResponse(link.producer, 1, { status: 200, headers: {}, body: 'naïve' });
    assert.equal(result, Buffer.byteLength('naïve'));
  });

  test('header names from the table and literal ones, repeated values as arrays', () => {
    const decoded = roundTripResponse({
      status: 201,
      headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'X-Literal': 'yes', 'x-ünï': 'välue' },
      body: 'ok',
    });
    assert.equal(decoded.status, 201);
    assert.deepEqual(
      decoded.headers,
      Object.assign(emptyRecord(), { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'X-Literal': 'yes', 'x-ünï': 'välue' }),
    );
  });

  test('encodeResponse returns NO_ROOM on a full ring and succeeds once it is drained', () => {
    const link = new Link(4096);
    while (link.producer.push(new Uint8Array(100)));
    const outgoing: BufferedOutgoing = { status: 200, headers: { 'content-type': 'text/plain' }, body: 'hi' };
    assert.equal(encodeResponse(link.producer, 5, outgoing), NO_ROOM);
    link.producer.publish();
    link.consumer.take(() => {});
    assert.ok((encodeResponse(link.producer, 5, outgoing) as number) >= 0);
    link.flush();
    checkResponses(link, [{ taskId: 5, outgoing }]);
  });

  test('an empty ring takes a response or fault whose head fits one record', () => {
    const link = new Link(4096);
    // 800 ASCII bytes of header fit a 2040-byte record, but 3 × 800 does not.
    assert.ok((encodeResponse(link.producer, 1, { status: 200, headers: { 'set-cookie': 'x'.repeat(800) }, body: null }) as number) >= 0);
    link.flush();
    assert.equal(encodeFault(link.producer, 2, { kind: 'internal', code: ErrorCode.HANDLER, errorId: 'e'.repeat(800) }), 0);
    link.flush();
  });

  test('a response or fault whose head can never fit is TOO_LARGE, not NO_ROOM', () => {
    const link = new Link(4096);
    assert.equal(encodeResponse(link.producer, 1, { status: 200, headers: { 'x-big': 'x'.repeat(3000) }, body: 'hi' }), TOO_LARGE);
    assert.equal(encodeFault(link.producer, 2, { kind: 'http', status: 400, detail: 'd'.repeat(3000), code: ErrorCode.HTTP, headers: undefined }), TOO_LARGE);
    assert.equal(link.consumer.hasRecords(), false);
  });
});

describe('faults and cancels', () => {
  test('every error code round-trips in both kinds of fault', () => {
    const link = new Link(65_536);
    const faults: Array<[number, PooledFault]> = [];
    ERROR_CODES.forEach((code, i) => {
      faults.push([2 * i, { kind: 'internal', code, errorId: `id-${code}` }]);
      faults.push([2 * i + 1, { kind: 'http', status: 400 + i, detail: `détail ${code}`, code, headers: { 'retry-after': '5', 'x-why': ['a', 'b'] } }]);
    });
    for (const [taskId, f] of faults) assert.equal(encodeFault(link.producer, taskId, f), 0);
    link.flush();
    for (const [taskId, f] of faults) assert.deepEqual(link.receiver.faults.get(taskId), expectedFault(f));
    assert.equal(faults.length, 2 * Object.keys(ErrorCode).length, 'ERROR_CODES lists every ErrorCode');
  });

  test('an internal fault carries its debug text only when there is one', () => {
    const link = new Link(4096);
    const withDebug: PooledFault = { kind: 'internal', code: ErrorCode.HANDLER, errorId: 'id-1', debug: 'TypeError: x\n    at f (app.ts:1:1)' };
    assert.equal(encodeFault(link.producer, 1, withDebug), 0);
    assert.equal(encodeFault(link.producer, 2, { kind: 'internal', code: ErrorCode.HANDLER, errorId: 'id-2' }), 0);
    link.flush();
    assert.deepEqual(link.receiver.faults.get(1), withDebug);
    assert.deepEqual(link.receiver.faults.get(2), { kind: 'internal', code: ErrorCode.HANDLER, errorId: 'id-2' });
  });

  test('an http fault whose detail is a validation list round-trips', () => {
    const link = new Link(4096);
    const detail = [{ loc: ['body', 'price'], msg: 'expected number', type: 'value_error' as const }];
    assert.equal(encodeFault(link.producer, 1, { kind: 'http', status: 422, detail, code: ErrorCode.VALIDATION, headers: undefined }), 0);
    link.flush();
    assert.deepEqual(link.receiver.faults.get(1), { kind: 'http', status: 422, detail, code: ErrorCode.VALIDATION, headers: undefined });
  });

  test('an overloaded fault carries nothing but its kind', () => {
    const link = new Link(1024);
    assert.equal(encodeFault(link.producer, 3, { kind: 'overloaded' }), 0);
    link.flush();
    assert.deepEqual(link.receiver.faults.get(3), { kind: 'overloaded' });
  });

  test('an http fault without headers decodes with headers undefined', () => {
    const link = new Link(1024);
    encodeFault(link.producer, 1, { kind: 'http', status: 404, detail: 'Item not found', code: ErrorCode.HANDLER, headers: undefined });
    link.flush();
    assert.deepEqual(link.receiver.faults.get(1), { kind: 'http', status: 404, detail: 'Item not found', code: ErrorCode.HANDLER, headers: undefined });
  });

  test('encodeFault returns NO_ROOM and encodeCancel false on a full ring', () => {
    const link = new Link(1024);
    while (link.producer.push(new Uint8Array(0)));
    assert.equal(encodeCancel(link.producer, 1), false);
    assert.equal(encodeFault(link.producer, 1, { kind: 'internal', code: ErrorCode.HANDLER, errorId: 'x' }), NO_ROOM);
    link.producer.publish();
    link.consumer.take(() => {});
    assert.equal(encodeCancel(link.producer, 0xffff_ffff), true);
    link.flush();
    assert.deepEqual(link.receiver.cancels, [0xffff_ffff]);
  });

  test('decodeBodyChunk refuses a chunk that overruns the declared body length', () => {
    const link = new Link(1024);
    encodeBodyChunk(link.producer, RecordKind.RESPONSE_BODY, 1, new Uint8Array(10), 0);
    link.producer.publish();
    link.consumer.take((bytes, offset, length) => {
      assert.throws(() => decodeBodyChunk(bytes, offset, length, Buffer.alloc(9), 0), RangeError);
      assert.equal(decodeBodyChunk(bytes, offset, length, Buffer.alloc(12), 2), 12);
    });
  });
});

describe('TASK records', () => {
  const maxPayload = 4096;
  const task = (taskId: number): fc.Arbitrary<PoolTaskRequest> =>
    fc.record({
      taskIndex: fc.integer({ min: 0, max: 0xffff }),
      timeoutMs: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      body: body(maxPayload),
    }).map((t) => ({ taskId, ...t }));

  test('carry the task index, timeout and input whole, inline or in chunks interleaved with other tasks', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 6 }).chain((ids) => fc.tuple(...ids.map((_, i) => task(i + 1)))), (tasks) => {
        const link = new Link(4 * maxPayload);
        const streams: Stream[] = [];
        for (const sent of tasks) {
          const inline = link.send(
            () => encodeTask(link.producer, sent),
            (n) => n === NO_ROOM,
          );
          assert.ok(inline >= 0 && inline <= sent.body.byteLength);
          assert.ok(inline <= link.producer.maxPayload - 24, 'a record never holds more than fits the ring');
          streams.push({ taskId: sent.taskId, kind: RecordKind.REQUEST_BODY, body: sent.body, offset: inline });
          stepStreams(link, streams);
        }
        finishStreams(link, streams);
        link.flush();
        for (const sent of tasks) {
          const got = link.receiver.tasks.get(sent.taskId);
          assert.ok(got !== undefined && got.complete, `task ${sent.taskId} arrived whole`);
          assert.equal(got.head.taskIndex, sent.taskIndex);
          assert.equal(got.head.timeoutMs, sent.timeoutMs);
          assert.equal(got.head.received, sent.body.byteLength);
          assert.ok(Buffer.from(sent.body).equals(got.head.body), `task ${sent.taskId}'s input is the bytes sent`);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('a TASK record whose inline length does not match its record is refused', () => {
    const link = new Link(4 * maxPayload);
    encodeTask(link.producer, { taskId: 1, taskIndex: 0, timeoutMs: 0, body: new Uint8Array(10) });
    link.producer.publish();
    link.consumer.take((bytes, offset, length) => {
      bytes.writeUInt32LE(11, offset + 20);
      assert.throws(() => decodeTask(bytes, offset, length), /does not match its length/);
    });
  });

  test('a TASK record that claims more inline input than it holds is refused, also within the input length', () => {
    const link = new Link(4 * maxPayload);
    encodeTask(link.producer, { taskId: 1, taskIndex: 0, timeoutMs: 0, body: new Uint8Array(10) });
    link.producer.publish();
    link.consumer.take((bytes, offset, length) => {
      bytes.writeUInt32LE(20, offset + 16); // an input of 20 bytes, of which 10 are inline…
      assert.equal(decodeTask(bytes, offset, length).received, 10);
      bytes.writeUInt32LE(11, offset + 20); // …but 11 claimed: one past the record's end
      assert.throws(() => decodeTask(bytes, offset, length), /does not match its length/);
      bytes.writeUInt32LE(9, offset + 20); // one short of it
      assert.throws(() => decodeTask(bytes, offset, length), /does not match its length/);
    });
  });
});
