/**
 * The binary records that travel on the rings, written straight into ring memory and read from
 * it in place. No JSON, no intermediate buffers: strings go through Buffer's UTF-8 codec at their
 * final offset, known method and header names are one-byte indexes into the tables below, and a
 * body rides inline in the head record as far as the record allows, the rest in chunk records.
 *
 * Every record starts with the same 8 bytes:
 *
 *     0  u8  kind      RecordKind
 *     1  u8  flags     FLAG_MORE: body chunk records for this task follow
 *                      FLAG_ASCII: every string in the record is ASCII (decoded in one go)
 *                      FLAG_TEXT: (RESPONSE) the body is a whole string, decoded as one
 *     2  u16 (zero)
 *     4  u32 taskId    chosen by the pinned worker, unique among its tasks in flight
 *
 * REQUEST (pinned → pooled), from byte 8:
 *     8  u16 routeId     10 u8 method (METHODS index, 255: a string follows)   11 u8 paramCount
 *    12  u16 headerCount 14 u16 (zero)  16 u32 bodyLength  20 u32 inlineLength
 *    24  [method string] path rawQuery (param name, param value)* (header name, header value)*
 *        inline body bytes
 * RESPONSE (pooled → pinned), from byte 8:
 *     8  u16 status  10 u16 headerCount  12 u32 bodyLength (0xffffffff: no body)  16 u32 inlineLength
 *    20  (header name, header value)* inline body bytes
 * FAULT (pooled → pinned): no response from the handler, from byte 8:
 *     8  u8 faultKind (1 http, 2 internal, 3 overloaded: the isolate's queue was full,
 *                     4 http whose detail is a list, sent as JSON)  9 u8 (zero)  10 u16 status  12 u16 code (ERROR_CODES index)
 *    14  u16 headerCount  16  detail (http) or errorId (internal) string,
 *        [internal: debug string, empty unless exposeErrors], (header name, header value)*
 * TASK (pinned → pooled): run a pooled task (`app.task`), from byte 8:
 *     8  u16 taskIndex  10 u16 (zero)  12 u32 timeoutMs (0: none)  16 u32 inputLength
 *    20  u32 inlineLength  24 inline input bytes (the structured clone format, app/task.ts)
 *    Its answer is a RESPONSE with no headers: status 200 and the result's bytes, or status 500
 *    and what the task threw; or a FAULT (overloaded).
 * REQUEST_BODY / RESPONSE_BODY: the next bytes of the task's body (a TASK's input), from byte 8.
 * CANCEL (pinned → pooled): the pinned worker no longer waits for this task.
 *
 * A string is a u32 byte length and its UTF-8 bytes. A header name is a u8 index into
 * HEADER_NAMES, or 255 and a string. Repeated header values are repeated entries.
 * All integers are little-endian.
 */

import type { Fault } from '../app/boundary.ts';
import type { ValidationIssue } from '../app/schema.ts';
import { HeaderSource, type IncomingHeaders } from '../app/request.ts';
import type { BufferedOutgoing } from '../app/response.ts';
import { ErrorCode } from '../core/errors.ts';
import { emptyRecord } from '../core/record.ts';
import type { RingProducer } from './ring.ts';

export const RecordKind = {
  REQUEST: 1,
  REQUEST_BODY: 2,
  RESPONSE: 3,
  RESPONSE_BODY: 4,
  FAULT: 5,
  CANCEL: 6,
  TASK: 7,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const FLAG_MORE = 1;
/** RESPONSE: the body was a string, and is all in this record; it is decoded as a string. */
export const FLAG_TEXT = 4;
/**
 * Every string of the record is ASCII, as almost all paths and header values are. The decoder
 * then turns the record's whole string area into one JS string with a single native call and
 * takes each field as a substring, instead of one native call per field (~100 ns each).
 */
export const FLAG_ASCII = 2;
const PREFIX = 8;
const LITERAL = 255;
const NO_BODY = 0xffff_ffff;

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/** Header names common in requests and responses, sent as one byte. Order is part of the format. */
export const HEADER_NAMES = [
  'accept', 'accept-encoding', 'accept-language', 'authorization', 'cache-control', 'connection',
  'content-encoding', 'content-length', 'content-type', 'cookie', 'date', 'etag', 'expires', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'last-modified', 'location', 'origin', 'pragma',
  'range', 'referer', 'set-cookie', 'transfer-encoding', 'user-agent', 'vary', 'x-forwarded-for',
  'x-forwarded-proto', 'x-request-id', 'access-control-allow-origin', 'retry-after', 'allow',
  'te', 'upgrade-insecure-requests', 'sec-fetch-mode', 'sec-fetch-site', 'sec-fetch-dest',
  'accept-ranges', 'content-disposition', 'www-authenticate', 'x-content-type-options',
] as const;

const METHOD_INDEX = new Map<string, number>(METHODS.map((m, i) => [m, i]));
const HEADER_INDEX = new Map<string, number>(HEADER_NAMES.map((h, i) => [h, i]));
export const ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);
const ERROR_CODE_INDEX = new Map<string, number>(ERROR_CODES.map((c, i) => [c, i]));

/** What is left of a task's body after the record that carried its head: it follows as chunk records. */
export class BodyRest {
  readonly taskId: number;
  readonly body: Uint8Array;
  /** Where the next chunk starts. */
  offset: number;

  constructor(taskId: number, body: Uint8Array, offset: number) {
    this.taskId = taskId;
    this.body = body;
    this.offset = offset;
  }
}

/** The ring has no room for the record now: retry after the consumer has taken records. */
export const NO_ROOM = -1;
/** The record can never fit this ring (its head is larger than the largest payload). */
export const TOO_LARGE = -2;
export type WriteFailure = typeof NO_ROOM | typeof TOO_LARGE;

/** Encoded size of a string (with its length prefix), by some measure. */
type Measure = (text: string) => number;
/** Worst case, without looking at the text: 3 bytes per UTF-16 unit (a surrogate pair is 4 for 2). */
const bound: Measure = (text) => 4 + text.length * 3;
/** The exact size, for when the worst case is too pessimistic to fit. */
const exact: Measure = (text) => 4 + Buffer.byteLength(text, 'utf8');

function headerNameSize(name: string, measure: Measure): number {
  return HEADER_INDEX.has(name) ? 1 : 1 + measure(name);
}

/** Whether every string written since the last `startRecord()` was ASCII. */
let allAscii = true;

function startRecord(): void {
  allAscii = true;
}

/**
 * Strings up to this many UTF-16 units are copied by a loop in JS when they are ASCII: cheaper
 * than a call into Buffer's native UTF-8 encoder (~20 ns each, a V8 fast API call), which longer
 * strings use. Measured on the strings of a typical request (path, query, a param, 5 headers):
 * 150–165 ns with 16, 200–230 with 24, 250–300 with 64 or with every string encoded natively.
 */
export const SHORT_STRING = 16;

function writeString(bytes: Buffer, at: number, text: string): number {
  const length = text.length;
  if (length <= SHORT_STRING) {
    const first = at + 4;
    let i = 0;
    for (; i < length; i++) {
      const unit = text.charCodeAt(i);
      if (unit > 0x7f) break;
      bytes[first + i] = unit;
    }
    if (i === length) {
      writeU32(bytes, at, length);
      return first + length;
    }
  }
  const written = bytes.write(text, at + 4, 'utf8');
  // As many bytes as UTF-16 units: every character was below U+0080.
  if (written !== text.length) allAscii = false;
  writeU32(bytes, at, written);
  return at + 4 + written;
}

function writeU32(bytes: Buffer, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}

function writeU16(bytes: Buffer, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
}

/**
 * Little-endian reads by hand: Buffer's readUInt32LE and readUInt16LE check their argument on
 * every call, which cost ~10 ns each here; a record's offsets are the ring's, already in range.
 */
function readU32(bytes: Buffer, at: number): number {
  return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;
}

function readU16(bytes: Buffer, at: number): number {
  return (bytes[at] as number) | ((bytes[at + 1] as number) << 8);
}

/** Marks the record ASCII if every string written into it was. */
function finishRecord(bytes: Buffer, start: number): void {
  if (allAscii) bytes[start + 1] = (bytes[start + 1] as number) | FLAG_ASCII;
}

function writeHeaderName(bytes: Buffer, at: number, name: string): number {
  const index = HEADER_INDEX.get(name);
  if (index !== undefined) {
    bytes[at] = index;
    return at + 1;
  }
  bytes[at] = LITERAL;
  return writeString(bytes, at + 1, name);
}

function writePrefix(bytes: Buffer, at: number, kind: RecordKind, flags: number, taskId: number): void {
  bytes[at] = kind;
  bytes[at + 1] = flags;
  writeU16(bytes, at + 2, 0);
  writeU32(bytes, at + 4, taskId);
}

/** What a pinned worker sends to run a route on the pool. */
export interface PoolRequest {
  /** Set by the pool client when it submits the request. */
  taskId: number;
  readonly routeId: number;
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: IncomingHeaders;
  /** The full body, already read and within the body limit. */
  readonly body: Uint8Array;
}

/**
 * Counts of what the last `requestHeadSize` or `headersSize` call measured. Module variables
 * rather than a returned tuple: the encoders run once per request and allocate nothing.
 */
let measuredParams = 0;
let measuredHeaders = 0;

/** Encoded size of a REQUEST head; sets `measuredParams` and `measuredHeaders`. */
function requestHeadSize(request: PoolRequest, methodIndex: number, measure: Measure): number {
  let size = 24 + (methodIndex === LITERAL ? measure(request.method) : 0) + measure(request.path) + measure(request.rawQuery);
  let paramCount = 0;
  for (const name in request.params) {
    size += measure(name) + measure(request.params[name] as string);
    paramCount++;
  }
  size += headersSize(request.headers, measure);
  measuredParams = paramCount;
  return size;
}

/**
 * Writes a REQUEST record. Returns how many body bytes went inline (the caller sends the rest
 * with `encodeBodyChunk`), NO_ROOM if the ring has no room for the head now, or TOO_LARGE if the
 * head (path, query, params, headers) can never fit this ring.
 */
export function encodeRequest(ring: RingProducer, request: PoolRequest): number {
  const { method, path, rawQuery, params, headers, body } = request;
  const methodIndex = METHOD_INDEX.get(method) ?? LITERAL;
  let head = requestHeadSize(request, methodIndex, bound);
  if (head > ring.maxPayload) head = requestHeadSize(request, methodIndex, exact);
  const paramCount = measuredParams;
  const headerCount = measuredHeaders;
  if (head > ring.maxPayload || paramCount > 255 || headerCount > 0xffff) return TOO_LARGE;
  // Inline only as much body as half the free space holds, so a big body does not make the head
  // wait for half the ring to empty; the rest follows in chunks.
  const inline = body.byteLength === 0 ? 0 : Math.max(0, Math.min(body.byteLength, ring.maxPayload - head, (ring.free >> 1) - head));
  const start = ring.reserve(head + inline);
  if (start < 0) return NO_ROOM;

  const bytes = ring.bytes;
  startRecord();
  writePrefix(bytes, start, RecordKind.REQUEST, inline < body.byteLength ? FLAG_MORE : 0, request.taskId);
  writeU16(bytes, start + 8, request.routeId);
  bytes[start + 10] = methodIndex;
  bytes[start + 11] = paramCount;
  writeU16(bytes, start + 12, headerCount);
  writeU16(bytes, start + 14, 0);
  writeU32(bytes, start + 16, body.byteLength);
  writeU32(bytes, start + 20, inline);
  let at = start + 24;
  if (methodIndex === LITERAL) at = writeString(bytes, at, method);
  at = writeString(bytes, at, path);
  at = writeString(bytes, at, rawQuery);
  for (const name in params) {
    at = writeString(bytes, at, name);
    at = writeString(bytes, at, params[name] as string);
  }
  at = writeHeaders(bytes, at, headers);
  finishRecord(bytes, start);
  if (inline > 0) bytes.set(inline === body.byteLength ? body : body.subarray(0, inline), at);
  ring.commit(at + inline - start);
  return inline;
}

/** What a pinned worker sends to run a pooled task. */
export interface PoolTaskRequest {
  /** Set by the pool client when it submits the task. */
  taskId: number;
  readonly taskIndex: number;
  /** Ms (0: none); the pooled isolate's watchdog replaces it if the task's synchronous code runs past this. */
  readonly timeoutMs: number;
  /** The task's input, serialized. */
  readonly body: Uint8Array;
}

/**
 * Writes a TASK record. Returns how many input bytes went inline (the rest follows with
 * `encodeBodyChunk`), or NO_ROOM. Its head is 24 bytes: it always fits.
 */
export function encodeTask(ring: RingProducer, task: PoolTaskRequest): number {
  const { body } = task;
  const inline = body.byteLength === 0 ? 0 : Math.max(0, Math.min(body.byteLength, ring.maxPayload - 24, (ring.free >> 1) - 24));
  const start = ring.reserve(24 + inline);
  if (start < 0) return NO_ROOM;
  const bytes = ring.bytes;
  writePrefix(bytes, start, RecordKind.TASK, inline < body.byteLength ? FLAG_MORE : 0, task.taskId);
  writeU16(bytes, start + 8, task.taskIndex);
  writeU16(bytes, start + 10, 0);
  writeU32(bytes, start + 12, task.timeoutMs);
  writeU32(bytes, start + 16, body.byteLength);
  writeU32(bytes, start + 20, inline);
  if (inline > 0) bytes.set(inline === body.byteLength ? body : body.subarray(0, inline), start + 24);
  ring.commit(24 + inline);
  return inline;
}

/**
 * Writes the next body chunk record of a task, starting at `offset` in `body`. Returns the new
 * offset (body.byteLength when the last chunk is written), or NO_ROOM.
 */
export function encodeBodyChunk(
  ring: RingProducer,
  kind: typeof RecordKind.REQUEST_BODY | typeof RecordKind.RESPONSE_BODY,
  taskId: number,
  body: Uint8Array,
  offset: number,
): number {
  const remaining = body.byteLength - offset;
  let size = Math.min(remaining, ring.maxPayload - PREFIX);
  let start = ring.reserve(PREFIX + size);
  if (start < 0) {
    // Not room for the largest chunk: take what half the free space holds (the other half may
    // be lost to a wrap), but not slivers, which would only multiply records.
    size = Math.min(remaining, (ring.free >> 1) - PREFIX - 8);
    if (size < Math.min(remaining, MIN_CHUNK)) return NO_ROOM;
    start = ring.reserve(PREFIX + size);
    if (start < 0) return NO_ROOM;
  }
  const end = offset + size;
  writePrefix(ring.bytes, start, kind, end < body.byteLength ? FLAG_MORE : 0, taskId);
  ring.bytes.set(body.subarray(offset, end), start + PREFIX);
  ring.commit(PREFIX + size);
  return end;
}

/** The smallest body chunk worth a record when the ring is nearly full. */
const MIN_CHUNK = 4096;

/** Writes a CANCEL record (8 bytes: it always fits an empty ring). Returns false if the ring has no room now. */
export function encodeCancel(ring: RingProducer, taskId: number): boolean {
  const start = ring.reserve(PREFIX);
  if (start < 0) return false;
  writePrefix(ring.bytes, start, RecordKind.CANCEL, 0, taskId);
  ring.commit(PREFIX);
  return true;
}

type AnyHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Encoded size of `headers` by `measure`; sets `measuredHeaders` to how many entries they make.
 * Missing values are left out, here and in `writeHeaders`.
 */
function headersSize(headers: AnyHeaders, measure: Measure): number {
  let size = 0;
  let count = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      size += headerNameSize(name, measure) + measure(value);
      count++;
    } else {
      for (const item of value) size += headerNameSize(name, measure) + measure(item);
      count += value.length;
    }
  }
  measuredHeaders = count;
  return size;
}

function writeHeaders(bytes: Buffer, at: number, headers: AnyHeaders): number {
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      at = writeHeaderName(bytes, at, name);
      at = writeString(bytes, at, value);
    } else {
      for (const item of value) {
        at = writeHeaderName(bytes, at, name);
        at = writeString(bytes, at, item);
      }
    }
  }
  return at;
}

/**
 * Writes a RESPONSE record. A string body is encoded into the record when it fits (FLAG_TEXT:
 * it is decoded as a string again); otherwise the body's bytes go inline as far as they fit.
 * Returns how many body bytes went inline when the body is complete, a `BodyRest` when the rest
 * must follow in chunk records, NO_ROOM if the ring has no room now, or TOO_LARGE if the headers
 * can never fit it.
 */
export function encodeResponse(ring: RingProducer, taskId: number, outgoing: BufferedOutgoing): number | BodyRest | WriteFailure {
  let headerSize = headersSize(outgoing.headers, bound);
  const headerCount = measuredHeaders;
  const body = outgoing.body;
  const bytes = ring.bytes;

  if (typeof body === 'string' && 20 + headerSize + body.length * 3 <= ring.maxPayload) {
    const start = ring.reserve(20 + headerSize + body.length * 3);
    if (start < 0) return NO_ROOM;
    startRecord();
    const at = writeHeaders(bytes, start + 20, outgoing.headers);
    const written = bytes.write(body, at, 'utf8');
    writeResponseHead(bytes, start, taskId, FLAG_TEXT, outgoing.status, headerCount, written, written);
    finishRecord(bytes, start);
    ring.commit(at + written - start);
    return written;
  }

  if (20 + headerSize > ring.maxPayload) headerSize = headersSize(outgoing.headers, exact);
  if (20 + headerSize > ring.maxPayload || headerCount > 0xffff) return TOO_LARGE;
  const binary = body === null ? null : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const total = binary === null ? 0 : binary.byteLength;
  const inline = Math.min(total, ring.maxPayload - 20 - headerSize);
  const start = ring.reserve(20 + headerSize + inline);
  if (start < 0) return NO_ROOM;
  startRecord();
  const at = writeHeaders(bytes, start + 20, outgoing.headers);
  if (binary !== null && inline > 0) bytes.set(inline === total ? binary : binary.subarray(0, inline), at);
  writeResponseHead(bytes, start, taskId, inline < total ? FLAG_MORE : 0, outgoing.status, headerCount, binary === null ? NO_BODY : total, inline);
  finishRecord(bytes, start);
  ring.commit(at + inline - start);
  return inline < total ? new BodyRest(taskId, binary as Uint8Array, inline) : inline;
}

function writeResponseHead(
  bytes: Buffer,
  start: number,
  taskId: number,
  flags: number,
  status: number,
  headerCount: number,
  bodyLength: number,
  inline: number,
): void {
  writePrefix(bytes, start, RecordKind.RESPONSE, flags, taskId);
  writeU16(bytes, start + 8, status);
  writeU16(bytes, start + 10, headerCount);
  writeU32(bytes, start + 12, bodyLength);
  writeU32(bytes, start + 16, inline);
}

/** The faults a pooled isolate reports instead of a response. */
export type PooledFault = Extract<Fault, { kind: 'http' | 'internal' | 'overloaded' }>;

const FAULT_KIND = { http: 1, internal: 2, overloaded: 3, httpList: 4 } as const;

/** Writes a FAULT record. Returns 0, NO_ROOM if the ring has no room now, or TOO_LARGE. */
export function encodeFault(ring: RingProducer, taskId: number, fault: PooledFault): 0 | WriteFailure {
  const headers = fault.kind === 'http' && fault.headers !== undefined ? fault.headers : {};
  const text =
    fault.kind === 'http'
      ? typeof fault.detail === 'string'
        ? fault.detail
        : JSON.stringify(fault.detail)
      : fault.kind === 'internal'
        ? fault.errorId
        : '';
  const debug = fault.kind === 'internal' ? (fault.debug ?? '') : null;
  let headerSize = headersSize(headers, bound);
  const headerCount = measuredHeaders;
  let size = 16 + bound(text) + (debug === null ? 0 : bound(debug)) + headerSize;
  if (size > ring.maxPayload) {
    headerSize = headersSize(headers, exact);
    size = 16 + exact(text) + (debug === null ? 0 : exact(debug)) + headerSize;
  }
  if (size > ring.maxPayload || headerCount > 0xffff) return TOO_LARGE;
  const start = ring.reserve(size);
  if (start < 0) return NO_ROOM;
  const bytes = ring.bytes;
  startRecord();
  writePrefix(bytes, start, RecordKind.FAULT, 0, taskId);
  bytes[start + 8] = fault.kind === 'http' && typeof fault.detail !== 'string' ? FAULT_KIND.httpList : FAULT_KIND[fault.kind];
  bytes[start + 9] = 0;
  writeU16(bytes, start + 10, fault.kind === 'http' ? fault.status : fault.kind === 'internal' ? 500 : 503);
  writeU16(bytes, start + 12, fault.kind === 'overloaded' ? 0 : (ERROR_CODE_INDEX.get(fault.code) ?? 0));
  writeU16(bytes, start + 14, headerCount);
  let at = writeString(bytes, start + 16, text);
  if (debug !== null) at = writeString(bytes, at, debug);
  at = writeHeaders(bytes, at, headers);
  finishRecord(bytes, start);
  ring.commit(at - start);
  return 0;
}

// ─── decoding ────────────────────────────────────────────────────────────────────────────────

export function recordKind(bytes: Buffer, offset: number): number {
  return bytes[offset] as number;
}
export function recordFlags(bytes: Buffer, offset: number): number {
  return bytes[offset + 1] as number;
}
export function recordTaskId(bytes: Buffer, offset: number): number {
  return readU32(bytes, offset + 4);
}

const NO_BYTES = Buffer.alloc(0);

/** Reads a u32 from a latin1 string, whose characters are the record's bytes one for one. */
function textU32(text: string, at: number): number {
  return (text.charCodeAt(at) | (text.charCodeAt(at + 1) << 8) | (text.charCodeAt(at + 2) << 16) | (text.charCodeAt(at + 3) << 24)) >>> 0;
}

/** Adds one header entry; repeated names become arrays, in order. */
function addHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const existing = headers[name];
  if (existing === undefined) headers[name] = value;
  else if (typeof existing === 'string') headers[name] = [existing, value];
  else existing.push(value);
}

/**
 * Per HEADER_NAMES index, the value that header had in the last response decoded, and its bytes,
 * reused when the next one's bytes are the same (`content-type: application/json; charset=utf-8`
 * on every answer of a route): the pinned side then makes no string for it. Values up to
 * INTERN_LIMIT bytes, ASCII only. The bytes are compared with the bytes, not the string's
 * characters: ~23 ns rather than ~40 for a 31-byte value.
 */
const internedValues: Array<string | undefined> = HEADER_NAMES.map(() => undefined);
const internedBytes: Array<Uint8Array | undefined> = HEADER_NAMES.map(() => undefined);
const INTERN_LIMIT = 128;

/**
 * A cursor over one record's strings while it is decoded. There is one, `reader`, reset for each
 * record: decoding is synchronous and never nested, and a cursor per record would be garbage.
 */
class Reader {
  bytes: Buffer = NO_BYTES;
  at = 0;
  /** For an ASCII record read whole: its string area [base, end) as one latin1 string; else null. */
  text: string | null = null;
  base = 0;

  /** Starts on a record whose strings lie in [at, end); `whole`: an ASCII record becomes one string first. */
  reset(bytes: Buffer, at: number, end: number, flags: number, whole: boolean): this {
    this.bytes = bytes;
    this.at = at;
    this.base = at;
    // Latin-1 and UTF-8 agree on ASCII, and latin1 maps byte offsets to string offsets 1:1.
    this.text = whole && (flags & FLAG_ASCII) !== 0 && end > at ? bytes.toString('latin1', at, end) : null;
    return this;
  }

  string(): string {
    const length = readU32(this.bytes, this.at);
    const start = this.at + 4;
    this.at = start + length;
    if (length === 0) return '';
    if (this.text !== null) return this.text.substring(start - this.base, this.at - this.base);
    return this.bytes.toString('utf8', start, this.at);
  }
  headerName(): number | string {
    const index = this.bytes[this.at++] as number;
    return index === LITERAL ? this.string() : index;
  }
  /** Reads `count` headers into an object that inherits nothing; repeated names become arrays. */
  headers(count: number): Record<string, string | string[]> {
    const headers = emptyRecord<string | string[]>();
    for (let i = 0; i < count; i++) {
      const name = this.headerName();
      if (typeof name === 'string') addHeader(headers, name, this.string());
      else addHeader(headers, HEADER_NAMES[name] as string, this.#tableValue(name));
    }
    return headers;
  }
  /** The value of a header named from the table, reused from the last one when its bytes match. */
  #tableValue(index: number): string {
    const bytes = this.bytes;
    const length = readU32(bytes, this.at);
    const start = this.at + 4;
    const known = internedBytes[index];
    if (known !== undefined && known.byteLength === length) {
      let same = true;
      for (let k = 0; k < length; k++) {
        if (bytes[start + k] !== known[k]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.at = start + length;
        return internedValues[index] as string;
      }
    }
    const value = this.string();
    if (length <= INTERN_LIMIT && value.length === length) {
      internedValues[index] = value;
      internedBytes[index] = Uint8Array.prototype.slice.call(bytes, start, start + length);
    }
    return value;
  }
}

const reader = new Reader();

/**
 * A decoded REQUEST head. What routing and the handler's `req` need at once — route, method,
 * path, query string, params — is decoded with the record. The headers of an ASCII record stay
 * in the latin1 string of its string area and are decoded only if the handler (or its
 * validation) reads them; that string is a copy, not a view of ring memory, because the ring's
 * bytes are overwritten once the record is taken and a handler may keep `req` after it returns.
 * A record that is not ASCII has its headers decoded with it.
 *
 * It is its own HeaderSource (give it to `Request`): one object per request, not two.
 * `body` has room for the whole body; `received` bytes are filled.
 */
export class DecodedRequest extends HeaderSource {
  readonly taskId: number;
  readonly routeId: number;
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly params: Record<string, string>;
  readonly body: Buffer;
  received: number;
  /** Whether body chunk records follow. */
  readonly more: boolean;
  /** The record's string area (ASCII records), where the headers start in it, and how many. */
  readonly #text: string;
  readonly #at: number;
  readonly #count: number;
  #headers: IncomingHeaders | null;

  constructor(
    taskId: number,
    routeId: number,
    method: string,
    path: string,
    rawQuery: string,
    params: Record<string, string>,
    /** An ASCII record's string area, where its headers start in it, and how many there are. */
    text: string,
    headersAt: number,
    headerCount: number,
    /** The headers of a record that is not ASCII, decoded with it; null for an ASCII one. */
    decoded: IncomingHeaders | null,
    body: Buffer,
    received: number,
    more: boolean,
  ) {
    super();
    this.taskId = taskId;
    this.routeId = routeId;
    this.method = method;
    this.path = path;
    this.rawQuery = rawQuery;
    this.params = params;
    this.body = body;
    this.received = received;
    this.more = more;
    this.#text = text;
    this.#at = headersAt;
    this.#count = headerCount;
    this.#headers = decoded;
  }

  /** The headers, decoded now if they were not yet. */
  get headers(): IncomingHeaders {
    return (this.#headers ??= this.#decodeText());
  }

  decode(): IncomingHeaders {
    return this.headers;
  }

  #decodeText(): IncomingHeaders {
    const text = this.#text;
    const headers = emptyRecord<string | string[]>();
    let at = this.#at;
    for (let i = 0; i < this.#count; i++) {
      const index = text.charCodeAt(at++);
      let name: string;
      if (index === LITERAL) {
        const length = textU32(text, at);
        name = text.substring(at + 4, at + 4 + length);
        at += 4 + length;
      } else {
        name = HEADER_NAMES[index] as string;
      }
      const length = textU32(text, at);
      addHeader(headers, name, length === 0 ? '' : text.substring(at + 4, at + 4 + length));
      at += 4 + length;
    }
    return headers;
  }
}

/** Copies the body bytes of a record into a fresh buffer sized for the whole body. */
function bodyBuffer(bytes: Buffer, at: number, total: number, inline: number): Buffer {
  if (total === 0) return NO_BYTES;
  const body = Buffer.allocUnsafe(total);
  bytes.copy(body, 0, at, at + inline);
  return body;
}

/** Decodes the REQUEST record at `offset`, `length` bytes long; its headers only on first use. */
export function decodeRequest(bytes: Buffer, offset: number, length: number): DecodedRequest {
  const routeId = readU16(bytes, offset + 8);
  const methodIndex = bytes[offset + 10] as number;
  const paramCount = bytes[offset + 11] as number;
  const headerCount = readU16(bytes, offset + 12);
  const bodyLength = readU32(bytes, offset + 16);
  const inline = readU32(bytes, offset + 20);
  const flags = recordFlags(bytes, offset);
  reader.reset(bytes, offset + 24, offset + length - inline, flags, true);
  const method = methodIndex === LITERAL ? reader.string() : (METHODS[methodIndex] as string);
  const path = reader.string();
  const rawQuery = reader.string();
  const params = emptyRecord<string>();
  for (let i = 0; i < paramCount; i++) {
    const name = reader.string();
    params[name] = reader.string();
  }
  const text = reader.text;
  const headersAt = reader.at - reader.base;
  let decoded: IncomingHeaders | null = null;
  // Skip the header area of an ASCII record (its end is where the inline body starts); decode
  // the others' now, while the record's bytes are still there.
  if (text !== null) reader.at = offset + length - inline;
  else decoded = reader.headers(headerCount);
  return new DecodedRequest(
    recordTaskId(bytes, offset),
    routeId,
    method,
    path,
    rawQuery,
    params,
    text ?? '',
    headersAt,
    headerCount,
    decoded,
    bodyBuffer(bytes, reader.at, bodyLength, inline),
    inline,
    (flags & FLAG_MORE) !== 0,
  );
}

/** A decoded TASK head; `body` has room for the whole input, of which `received` bytes are filled. */
export interface DecodedTask {
  readonly taskId: number;
  readonly taskIndex: number;
  readonly timeoutMs: number;
  readonly body: Buffer;
  received: number;
  /** Whether body chunk records follow. */
  readonly more: boolean;
}

/** Decodes the TASK record at `offset`, `length` bytes long. */
export function decodeTask(bytes: Buffer, offset: number, length: number): DecodedTask {
  const total = readU32(bytes, offset + 16);
  const inline = readU32(bytes, offset + 20);
  if (24 + inline !== length || inline > total) throw new RangeError('a TASK record whose input does not match its length');
  return {
    taskId: recordTaskId(bytes, offset),
    taskIndex: readU16(bytes, offset + 8),
    timeoutMs: readU32(bytes, offset + 12),
    body: bodyBuffer(bytes, offset + 24, total, inline),
    received: inline,
    more: (recordFlags(bytes, offset) & FLAG_MORE) !== 0,
  };
}

/**
 * A decoded RESPONSE head, which is also the `Outgoing` the pinned worker sends: `body` is a
 * string for a string body carried whole (FLAG_TEXT), bytes otherwise, null for none.
 */
export interface DecodedResponse extends BufferedOutgoing {
  readonly taskId: number;
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | string | null;
  received: number;
  readonly more: boolean;
}

/** Decodes the RESPONSE record at `offset`, `length` bytes long. */
export function decodeResponse(bytes: Buffer, offset: number, length: number): DecodedResponse {
  const status = readU16(bytes, offset + 8);
  const headerCount = readU16(bytes, offset + 10);
  const bodyLength = readU32(bytes, offset + 12);
  const inline = readU32(bytes, offset + 16);
  const flags = recordFlags(bytes, offset);
  reader.reset(bytes, offset + 20, offset + length - inline, flags, false);
  const headers = reader.headers(headerCount);
  const body =
    bodyLength === NO_BODY
      ? null
      : (flags & FLAG_TEXT) !== 0
        ? inline === 0
          ? ''
          : bytes.toString('utf8', reader.at, reader.at + inline)
        : bodyBuffer(bytes, reader.at, bodyLength, inline);
  return { taskId: recordTaskId(bytes, offset), status, headers, body, received: inline, more: (flags & FLAG_MORE) !== 0 };
}

/** Appends a chunk record's bytes to `target` at `received`; returns the new `received`. */
export function decodeBodyChunk(bytes: Buffer, offset: number, length: number, target: Buffer, received: number): number {
  const size = length - PREFIX;
  if (received + size > target.byteLength) throw new RangeError('body chunk overruns the declared body length');
  bytes.copy(target, received, offset + PREFIX, offset + length);
  return received + size;
}

/** Decodes the FAULT record at `offset`, `length` bytes long. */
export function decodeFault(bytes: Buffer, offset: number, length: number): PooledFault {
  const kind = bytes[offset + 8];
  const status = readU16(bytes, offset + 10);
  const code = ERROR_CODES[readU16(bytes, offset + 12)] ?? ErrorCode.HANDLER;
  const headerCount = readU16(bytes, offset + 14);
  reader.reset(bytes, offset + 16, offset + length, recordFlags(bytes, offset), true);
  const text = reader.string();
  const debug = kind === FAULT_KIND.internal ? reader.string() : '';
  const headers = reader.headers(headerCount);
  if (kind === FAULT_KIND.http || kind === FAULT_KIND.httpList) {
    const detail = kind === FAULT_KIND.http ? text : (JSON.parse(text) as ValidationIssue[]);
    return { kind: 'http', status, detail, code, headers: headerCount === 0 ? undefined : headers };
  }
  if (kind === FAULT_KIND.overloaded) return { kind: 'overloaded' };
  return debug === '' ? { kind: 'internal', code, errorId: text } : { kind: 'internal', code, errorId: text, debug };
}
