/**
 * The handler of a static route: finds the file (files.ts), picks the representation (the file,
 * or its precompressed sibling), answers the request's conditions (validators.ts), and sends the
 * bytes asked for. It runs inline on the pinned worker that owns the connection (the body is a
 * stream, which cannot cross the pool's rings).
 *
 * File descriptors: every handle opened here is closed here, except the one handed to a
 * `FileBody`, which then owns it. Files up to `WHOLE_READ_LIMIT` bytes are read at once and
 * sent as bytes; larger ones stream. HEAD never reads the file.
 */

import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { preferredEncoding } from '../accept-encoding.ts';
import type { Request } from '../request.ts';
import { reply, type Reply } from '../response.ts';
import { closeQuietly, FileBody, locate, openRegular, readWhole, type Opened } from './files.ts';
import { contentTypeOf } from './mime.ts';
import type { StaticConfig } from './options.ts';
import { etagOf, evaluatePreconditions, ifRangeHolds, lastModifiedSeconds, parseRange, type Conditions } from './validators.ts';

/** Past this many bytes a file is streamed rather than read whole: one read of a stream's size. */
const WHOLE_READ_LIMIT = 64 * 1024;

/** The precompressed siblings looked for, in the order of preference on a tie. */
const SIBLINGS = [
  { encoding: 'br', suffix: 'br', extension: '.br' },
  { encoding: 'gzip', suffix: 'gz', extension: '.gz' },
] as const;
type Sibling = (typeof SIBLINGS)[number];
const ENCODINGS = SIBLINGS.map((s) => s.encoding);

interface OpenedSibling {
  readonly handle: FileHandle;
  readonly stat: Stats;
  readonly sibling: Sibling;
}

type StaticRequest = Request<Readonly<Record<string, string>>, unknown, unknown, unknown>;

export function staticHandler(config: StaticConfig): (req: StaticRequest) => Promise<Reply> {
  return async (req) => {
    const located = await locate(config, req.params['*'] ?? '');
    switch (located.kind) {
      case 'missing':
        return reply({ detail: 'Not Found' }, { status: 404 });
      case 'denied':
        return reply({ detail: 'Forbidden' }, { status: 403 });
      case 'redirect':
        // The path is the normalised one as sent: still percent-encoded, never starting with `//`.
        return reply(undefined, { status: 301, headers: { location: `${req.path}/${req.rawQuery === '' ? '' : `?${req.rawQuery}`}` } });
      case 'opened':
        return answer(req, config, located);
    }
  };
}

async function answer(req: StaticRequest, config: StaticConfig, file: Opened): Promise<Reply> {
  const open: FileHandle[] = [file.handle];
  let keep: FileHandle | null = null; // the handle a streamed body took over
  try {
    // Ranges are defined for GET only (RFC 9110 §14.2) and always name bytes of the file itself.
    const range = req.method === 'GET' ? req.header('range') : undefined;
    let chosen: { handle: FileHandle; size: number; mtimeMs: number } = { handle: file.handle, size: file.stat.size, mtimeMs: file.stat.mtimeMs };
    let sibling: Sibling | null = null;
    let vary = false;
    if (config.precompressed && range === undefined) {
      const found = await precompressed(file.path, req.header('accept-encoding'));
      vary = found.exists;
      if (found.opened !== null) {
        open.push(found.opened.handle);
        sibling = found.opened.sibling;
        chosen = { handle: found.opened.handle, size: found.opened.stat.size, mtimeMs: found.opened.stat.mtimeMs };
      }
    }
    const etag = etagOf(chosen, sibling?.suffix);
    const modified = lastModifiedSeconds(chosen);
    const headers: Record<string, string> = {
      etag,
      'last-modified': new Date(modified * 1000).toUTCString(),
      'cache-control': config.cacheControl,
    };
    if (vary) headers['vary'] = 'Accept-Encoding';
    const verdict = evaluatePreconditions(conditionsOf(req), etag, modified);
    if (verdict === 304) return reply(undefined, { status: 304, headers });
    if (verdict === 412) return reply({ detail: 'Precondition Failed' }, { status: 412 });

    headers['accept-ranges'] = 'bytes';
    headers['x-content-type-options'] = 'nosniff';
    if (sibling !== null) headers['content-encoding'] = sibling.encoding;
    const { size } = chosen;
    let start = 0;
    let length = size;
    let status = 200;
    const ifRange = req.header('if-range');
    if (range !== undefined && (ifRange === undefined || ifRangeHolds(ifRange, etag, modified))) {
      const asked = parseRange(range, size);
      if (asked === 'unsatisfiable') {
        return reply({ detail: 'Range Not Satisfiable' }, { status: 416, headers: { 'content-range': `bytes */${size}` } });
      }
      if (asked !== 'ignore') {
        start = asked.start;
        length = asked.end - asked.start + 1;
        status = 206;
        headers['content-range'] = `bytes ${asked.start}-${asked.end}/${size}`;
      }
    }
    let body: Uint8Array | FileBody;
    if (req.method === 'HEAD') body = new FileBody(null, 0, length);
    else if (length <= WHOLE_READ_LIMIT) body = await readWhole(chosen.handle, start, length);
    else body = new FileBody((keep = chosen.handle), start, length);
    return reply(body, { status, contentType: contentTypeOf(file.name), headers });
  } finally {
    for (const handle of open) if (handle !== keep) closeQuietly(handle);
  }
}

function conditionsOf(req: StaticRequest): Conditions {
  return {
    ifMatch: req.header('if-match'),
    ifNoneMatch: req.header('if-none-match'),
    ifModifiedSince: req.header('if-modified-since'),
    ifUnmodifiedSince: req.header('if-unmodified-since'),
  };
}

/**
 * The precompressed sibling of `path` to send (the client's preferred encoding of those that
 * exist), opened, and whether any sibling exists at all: then the response depends on
 * Accept-Encoding, and says so with `Vary`, even when the file itself is sent.
 */
async function precompressed(path: string, acceptEncoding: string | undefined): Promise<{ opened: OpenedSibling | null; exists: boolean }> {
  const best = preferredEncoding(acceptEncoding, ENCODINGS);
  const rank = (s: Sibling): number => (s.encoding === best ? 2 : preferredEncoding(acceptEncoding, [s.encoding]) !== null ? 1 : 0);
  // The client's favourite first, then another it accepts, then the rest only to learn whether they exist.
  for (const sibling of [...SIBLINGS].sort((a, b) => rank(b) - rank(a))) {
    const opened = await openRegular(path + sibling.extension, true);
    if (opened === null) continue;
    if (rank(sibling) > 0) return { opened: { ...opened, sibling }, exists: true };
    closeQuietly(opened.handle);
    return { opened: null, exists: true };
  }
  return { opened: null, exists: false };
}
