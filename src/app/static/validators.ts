/**
 * Validators and conditional requests for static files (RFC 9110 §8.8, §13, §14): the ETag and
 * Last-Modified of a file, what its request's preconditions come to, and which bytes a `Range`
 * asks for. Pure functions over header values, so every rule is tested without a server.
 *
 * The ETag is **strong**, `"<size>-<mtime ms>"` in hex (with `-br` or `-gz` for a precompressed
 * sibling, which is another representation): it changes whenever the file is replaced or
 * rewritten in place with a new size or modification time. Strong, because `If-Range` compares
 * strongly (RFC 9110 §13.1.5): a weak ETag would never let a client resume a download. The cost
 * is a file rewritten with the same size within the same millisecond keeping its ETag, which
 * is also how nginx and Apache derive theirs.
 */

/** What a file's identity is made of: its stat. */
export interface FileVersion {
  readonly size: number;
  readonly mtimeMs: number;
}

/** The strong ETag of a file; `suffix` names a precompressed representation (`br`, `gz`). */
export function etagOf(file: FileVersion, suffix = ''): string {
  const tag = `${file.size.toString(16)}-${Math.trunc(file.mtimeMs).toString(16)}`;
  return `"${suffix === '' ? tag : `${tag}-${suffix}`}"`;
}

/** Last-Modified in seconds, as HTTP dates carry it: the mtime rounded down. */
export function lastModifiedSeconds(file: FileVersion): number {
  return Math.floor(file.mtimeMs / 1000);
}

/** The request headers that make a request conditional (lowercase names, joined values). */
export interface Conditions {
  readonly ifMatch: string | undefined;
  readonly ifNoneMatch: string | undefined;
  readonly ifModifiedSince: string | undefined;
  readonly ifUnmodifiedSince: string | undefined;
}

/**
 * What the preconditions say, evaluated in RFC 9110 §13.2.2's order: If-Match (else
 * If-Unmodified-Since) may fail with 412; then If-None-Match (else If-Modified-Since, which only
 * counts without If-None-Match) may answer 304 — the methods here are GET and HEAD, for which
 * a matching If-None-Match is a 304 rather than a 412. `proceed` serves the file.
 */
export function evaluatePreconditions(conditions: Conditions, etag: string, modifiedSeconds: number): 'proceed' | 412 | 304 {
  const { ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince } = conditions;
  if (ifMatch !== undefined) {
    if (!matchesList(ifMatch, etag, true)) return 412;
  } else if (ifUnmodifiedSince !== undefined) {
    const since = httpDateSeconds(ifUnmodifiedSince);
    if (since !== null && modifiedSeconds > since) return 412;
  }
  if (ifNoneMatch !== undefined) {
    if (matchesList(ifNoneMatch, etag, false)) return 304;
  } else if (ifModifiedSince !== undefined) {
    const since = httpDateSeconds(ifModifiedSince);
    if (since !== null && modifiedSeconds <= since) return 304;
  }
  return 'proceed';
}

/** An entity tag: an optional `W/` and a quoted string (whose characters may include commas). */
const ENTITY_TAG = /(W\/)?"[\x21\x23-\x7e\x80-\xff]*"/g;

/**
 * Whether the entity-tag list `header` (or `*`) matches `etag` (which is strong). Strong
 * comparison (If-Match, If-Range): only strong tags match; weak comparison (If-None-Match): a
 * `W/` prefix is ignored.
 */
export function matchesList(header: string, etag: string, strong: boolean): boolean {
  if (header.trim() === '*') return true;
  for (const [tag, weak] of header.matchAll(ENTITY_TAG)) {
    if (weak !== undefined && strong) continue;
    if ((weak === undefined ? tag : tag.slice(2)) === etag) return true;
  }
  return false;
}

/** An HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms) in seconds, or null. */
export function httpDateSeconds(value: string): number | null {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

/** A byte range, both ends inclusive, as Content-Range writes it. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * What a `Range` header asks of a file of `size` bytes (RFC 9110 §14.1.2, §14.2):
 *   - a `ByteRange`: one satisfiable range (`first-last`, `first-`, `-suffix`; a last past the
 *     end is clamped, a suffix longer than the file is the whole file), answered 206;
 *   - `'unsatisfiable'`: a well-formed single range that starts at or past the end, or a zero
 *     suffix, answered 416 with `Content-Range: bytes *\/size`;
 *   - `'ignore'`: anything else — another unit, a malformed spec, `last < first`, or several
 *     ranges (multipart/byteranges is not produced) — answered with the whole file, 200, as
 *     RFC 9110 lets a server do with any Range it does not honour.
 */
export function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | 'ignore' {
  const match = /^\s*bytes\s*=\s*([^,]*?)\s*$/i.exec(header);
  if (match === null) return 'ignore';
  const spec = match[1] as string;
  const parts = /^(\d*)-(\d*)$/.exec(spec);
  if (parts === null) return 'ignore';
  const [, first = '', last = ''] = parts;
  if (first === '') {
    if (last === '') return 'ignore';
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? Infinity : Number(last);
  if (end < start) return 'ignore';
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/**
 * Whether `If-Range` lets the Range apply (RFC 9110 §13.1.5): an entity tag must equal the
 * current one by strong comparison; a date must equal Last-Modified exactly. Otherwise the
 * whole file is sent, as the client's part would belong to another version.
 */
export function ifRangeHolds(header: string, etag: string, modifiedSeconds: number): boolean {
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return !value.startsWith('W/') && value === etag;
  return httpDateSeconds(value) === modifiedSeconds;
}
