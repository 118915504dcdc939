/**
 * `req.form()`: a request body that is a form, parsed within its limits.
 *
 *   application/x-www-form-urlencoded   read whole (within the body limit), then split; fields only
 *   multipart/form-data                 streamed through busboy as it arrives: fields are kept,
 *                                       each file is counted, hashed and kept in memory up to
 *                                       `memoryLimit`, or written to a temporary file past it
 *   anything else                       415
 *
 * The body limit (the route's `bodyLimit`, else the server's) bounds the whole body; the form's
 * own limits (form-options.ts) bound each part. The first limit crossed, or the first malformed
 * byte, fails the form: reading stops (the unread rest is not drained, see reply.ts), the files
 * received so far are deleted, and the promise rejects with an `HttpError` whose detail names
 * the limit and its value.
 */

import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ErrorCode, HttpError } from '../core/errors.ts';
import { bodyTooLarge, readBody, type BodySource } from './body.ts';
import type { ResolvedFormOptions } from './form-options.ts';
import { UploadedFile, type TempDir } from './uploaded-file.ts';

export type FormFields = Readonly<Record<string, string | string[]>>;

/** A parsed form: its fields (strings) and its files. */
export class Form {
  /** Every field, by name; a name sent more than once maps to the list of its values, in order (as `req.query`). */
  readonly fields: FormFields;
  /** Every file, in the order they were sent. */
  readonly files: readonly UploadedFile[];

  constructor(fields: FormFields, files: readonly UploadedFile[]) {
    this.fields = fields;
    this.files = files;
  }

  /** The first value of the field `name`, or undefined. */
  get(name: string): string | undefined {
    const value = this.fields[name];
    return Array.isArray(value) ? value[0] : value;
  }

  /** Every value of the field `name`, in order (empty when there is none). */
  getAll(name: string): string[] {
    const value = this.fields[name];
    return value === undefined ? [] : Array.isArray(value) ? [...value] : [value];
  }

  /** The first file sent under `name`, or undefined. */
  file(name: string): UploadedFile | undefined {
    return this.files.find((f) => f.fieldName === name);
  }

  /** Every file sent under `name`, in order. */
  filesOf(name: string): UploadedFile[] {
    return this.files.filter((f) => f.fieldName === name);
  }
}

/** Where a form's body comes from, and what bounds it. */
export interface FormSource {
  readonly body: BodySource;
  readonly contentType: string | undefined;
  readonly bodyLimit: number;
  readonly temp: TempDir;
}

const URLENCODED = 'application/x-www-form-urlencoded';
const MULTIPART = 'multipart/form-data';

/** Parses the form; rejects with an `HttpError` (400, 413, 415) or what writing a temporary file threw. */
export async function parseForm(source: FormSource, options: ResolvedFormOptions): Promise<Form> {
  const type = (source.contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type === URLENCODED) return urlencoded(await readBody(source.body, source.bodyLimit), options);
  if (type === MULTIPART) return multipart(source, options);
  throw new HttpError(415, `Expected a form (${MULTIPART} or ${URLENCODED}), got ${source.contentType === undefined ? 'no content-type' : `'${type}'`}`, {
    code: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  });
}

/** Fields with repeated names gathered into lists. */
class FieldsBuilder {
  readonly fields: Record<string, string | string[]> = Object.create(null);
  add(name: string, value: string): void {
    const had = this.fields[name];
    if (had === undefined) this.fields[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else this.fields[name] = [had, value];
  }
}

function overSize(limit: 'fileSize' | 'fieldSize' | 'fieldNameSize', value: number, what: string): HttpError {
  return new HttpError(413, `${what} is larger than the form's ${limit} limit of ${value} bytes`, { code: ErrorCode.FORM_LIMIT });
}

function overCount(limit: 'files' | 'fields' | 'parts', value: number): HttpError {
  const what = limit === 'parts' ? 'parts (fields and files)' : limit;
  return new HttpError(400, `The form has more ${what} than its ${limit} limit of ${value}`, { code: ErrorCode.FORM_LIMIT });
}

function malformed(reason: string): HttpError {
  return new HttpError(400, `Malformed multipart form: ${reason}`, { code: ErrorCode.INVALID_FORM });
}

/** The checks every field passes, in either encoding: counts, then the name's and the value's size. */
function checkField(name: string, value: string, counted: { fields: number; parts: number }, o: ResolvedFormOptions): HttpError | null {
  if (++counted.parts > o.parts) return overCount('parts', o.parts);
  if (++counted.fields > o.fields) return overCount('fields', o.fields);
  if (Buffer.byteLength(name) > o.fieldNameSize) return overSize('fieldNameSize', o.fieldNameSize, 'A field name');
  if (Buffer.byteLength(value) > o.fieldSize) return overSize('fieldSize', o.fieldSize, `The value of field '${name.slice(0, 64)}'`);
  return null;
}

function urlencoded(bytes: Uint8Array, o: ResolvedFormOptions): Form {
  const built = new FieldsBuilder();
  const counted = { fields: 0, parts: 0 };
  // UTF-8, as the WHATWG URL standard parses it ('+' is a space, a bad escape is kept as sent).
  for (const [name, value] of new URLSearchParams(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))) {
    const problem = checkField(name, value, counted, o);
    if (problem !== null) throw problem;
    built.add(name, value);
  }
  return new Form(built.fields, []);
}

function multipart(source: FormSource, o: ResolvedFormOptions): Promise<Form> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': source.contentType! },
      // One past each limit: busboy flags a part that reaches its limit, and one exactly at ours
      // passes. The counts are checked here (checkField, the 'file' listener); busboy's limits
      // only bound what it holds.
      limits: { fileSize: o.fileSize + 1, fieldSize: o.fieldSize + 1, fields: o.fields + 1, files: o.files + 1, parts: o.parts + 1 },
      // Filenames in UTF-8, as browsers send them.
      defParamCharset: 'utf8',
    });
  } catch (thrown) {
    const reason = (thrown as Error).message === 'Multipart: Boundary not found' ? 'the content-type has no boundary' : (thrown as Error).message;
    return Promise.reject(malformed(reason));
  }
  return new Promise((resolve, reject) => {
    const built = new FieldsBuilder();
    const counted = { fields: 0, parts: 0, files: 0 };
    const files: Array<Promise<UploadedFile | null>> = [];
    const state: Receiving = { failed: null, temp: source.temp, options: o, fail: (thrown) => fail(thrown) };
    let stopFeeding = (): void => {};
    const fail = (thrown: unknown): void => {
      if (state.failed !== null) return;
      state.failed = thrown;
      stopFeeding();
      // Not from inside one of busboy's own events (a file's 'limit'): it goes on touching the
      // part after emitting, and a parser destroyed under it throws.
      queueMicrotask(() => parser.destroy());
      // Reject once every file has stopped writing, and what they wrote is deleted.
      void Promise.allSettled(files).then(() => source.temp.end()).then(() => reject(thrown));
    };
    parser.on('field', (name, value, info) => {
      if (state.failed !== null) return;
      const problem = info.valueTruncated ? overSize('fieldSize', o.fieldSize, `The value of field '${name.slice(0, 64)}'`) : checkField(name, value, counted, o);
      if (problem !== null) fail(problem);
      else built.add(name, value);
    });
    parser.on('file', (name, stream, info) => {
      if (state.failed !== null) return void stream.resume();
      let problem: HttpError | null = null;
      if (++counted.parts > o.parts) problem = overCount('parts', o.parts);
      else if (++counted.files > o.files) problem = overCount('files', o.files);
      else if (Buffer.byteLength(name) > o.fieldNameSize) problem = overSize('fieldNameSize', o.fieldNameSize, 'A file field name');
      else if (o.fileFields !== null && !o.fileFields.includes(name)) {
        problem = new HttpError(400, `The form has a file in field '${name.slice(0, 64)}', which takes none (file fields: ${o.fileFields.join(', ') || 'none'})`, { code: ErrorCode.FORM_LIMIT });
      }
      if (problem !== null) {
        stream.resume();
        fail(problem);
        return;
      }
      files.push(receive(stream, name, info, state));
    });
    parser.on('error', (error: Error) => fail(malformed(error.message.replace(/^./, (c) => c.toLowerCase()))));
    parser.on('close', () => {
      if (state.failed !== null) return;
      Promise.all(files).then(
        (received) => {
          if (state.failed === null) resolve(new Form(built.fields, received as UploadedFile[]));
        },
        // A temporary file that could not be written or closed fails the form (a 500 with an
        // error id, if the handler lets it through), rather than a rejection no one hears.
        (thrown: unknown) => fail(thrown),
      );
    });
    // Last: a body in memory is parsed at once, its events going to the listeners above.
    stopFeeding = feed(source, parser, state);
  });
}

/** What each file being received shares with its form. */
interface Receiving {
  /** What failed the form, or null while all is well. */
  failed: unknown;
  readonly temp: TempDir;
  readonly options: ResolvedFormOptions;
  fail(thrown: unknown): void;
}

/**
 * Sends the body to the parser: all at once when it is in memory, else as it arrives, pausing
 * the request while the parser (and the files it writes) catch up, and failing the form past
 * the body limit or when the client leaves. Returns what stops it.
 */
function feed(source: FormSource, parser: busboy.Busboy, state: Receiving): () => void {
  const { body, bodyLimit } = source;
  // What the parser (or a listener of ours it calls) throws fails the form rather than the
  // worker: the boundary answers it 500 with an error id and logs the stack.
  const guarded = (write: () => unknown): boolean => {
    try {
      return write() !== false;
    } catch (thrown) {
      state.fail(thrown);
      return true;
    }
  };
  if (body instanceof Uint8Array) {
    if (body.byteLength > bodyLimit) queueMicrotask(() => state.fail(bodyTooLarge(bodyLimit)));
    else guarded(() => parser.end(body));
    return () => {};
  }
  let size = 0;
  const cut = (): HttpError => new HttpError(400, 'The request was closed before its body was complete', { code: ErrorCode.BAD_REQUEST });
  if (body.readableEnded || body.destroyed || body.readableAborted || body.errored !== null) {
    queueMicrotask(() => (body.readableEnded ? guarded(() => parser.end()) : state.fail(cut())));
    return () => {};
  }
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > bodyLimit) state.fail(bodyTooLarge(bodyLimit));
    else if (!guarded(() => parser.write(chunk))) body.pause();
  };
  const onDrain = (): void => void body.resume();
  const onEnd = (): void => {
    stop(false);
    guarded(() => parser.end());
  };
  const onGone = (): void => state.fail(cut());
  const stop = (pause = true): void => {
    body.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
    parser.off('drain', onDrain);
    // Left paused: the answer then closes the connection (HTTP/1.1) or resets the stream's
    // request side (HTTP/2) rather than reading a rest nobody wants (see reply.ts).
    if (pause) body.pause();
  };
  body.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
  parser.on('drain', onDrain);
  return stop;
}

/**
 * Takes one file from the parser: counted and hashed as it arrives, kept in memory up to
 * `memoryLimit`, then written to a temporary file. Resolves to null when the form failed.
 */
async function receive(stream: Readable, fieldName: string, info: busboy.FileInfo, state: Receiving): Promise<UploadedFile | null> {
  const o = state.options;
  const hash: Hash | null = o.hash === null ? null : createHash(o.hash);
  stream.once('limit', () => state.fail(overSize('fileSize', o.fileSize, `The file in field '${fieldName.slice(0, 64)}'`)));
  let chunks: Buffer[] = [];
  let size = 0;
  let disk: { path: string; handle: FileHandle } | null = null;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      hash?.update(chunk);
      if (disk !== null) {
        await writeAll(disk.handle, chunk);
      } else {
        chunks.push(chunk);
        if (size > o.memoryLimit) {
          disk = await state.temp.create();
          await writeAll(disk.handle, chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
          chunks = [];
        }
      }
      if (state.failed !== null) return null;
    }
  } catch (thrown) {
    // The parser was destroyed (the form failed), or the file could not be written.
    state.fail(thrown);
    return null;
  } finally {
    await disk?.handle.close();
  }
  if (state.failed !== null) return null;
  const stored = disk !== null ? { path: disk.path } : { bytes: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) };
  return new UploadedFile(fieldName, info.filename ?? '', info.mimeType, size, hash?.digest('hex') ?? null, stored);
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let at = 0; at < chunk.length; ) at += (await handle.write(chunk, at)).bytesWritten;
}
