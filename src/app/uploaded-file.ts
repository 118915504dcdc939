/**
 * Files received in a multipart form, and the temporary folder the large ones are written to.
 *
 * A file's bytes stay in memory up to the form's `memoryLimit`; past it they go to a file in a
 * folder of the request's own, `<tmpDir>/fasterapi-uploads-XXXXXX/` (made by `mkdtemp`, mode
 * 0o700), under a name of 32 random hex digits, created exclusively with mode 0o600. The folder
 * and everything still in it is removed when the request is over — response sent, client gone,
 * handler failed or timed out — so only files the handler moved out with `moveTo` outlive it.
 */

import { createReadStream } from 'node:fs';
import { copyFile, mkdtemp, open, readFile, rename, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Where a file's bytes are: in memory, or in a file on disk (temporary, or where `moveTo` put it). */
export type Stored = { readonly bytes: Uint8Array } | { readonly path: string };

/** A file of a multipart form. Read it (`bytes`, `text`, `stream`) or keep it (`moveTo`). */
export class UploadedFile {
  /** The form field it was sent under. */
  readonly fieldName: string;
  /** The file name the client gave, without any folder part (may be empty). */
  readonly filename: string;
  /** The media type the client gave, e.g. `image/png` (`application/octet-stream` when none). */
  readonly type: string;
  /** Its size in bytes, counted as it was received. */
  readonly size: number;
  /** Hex digest of its bytes, computed as they were received, when the form's `hash` option names an algorithm; else null. */
  readonly hash: string | null;
  #stored: Stored;

  constructor(fieldName: string, filename: string, type: string, size: number, hash: string | null, stored: Stored) {
    this.fieldName = fieldName;
    this.filename = filename;
    this.type = type;
    this.size = size;
    this.hash = hash;
    this.#stored = stored;
  }

  /** Where the file is on disk: its temporary file, or where `moveTo` put it; null while it is in memory. */
  get path(): string | null {
    return 'path' in this.#stored ? this.#stored.path : null;
  }

  /** Its bytes (read from disk when it is there). */
  async bytes(): Promise<Uint8Array> {
    const stored = this.#stored;
    return 'bytes' in stored ? stored.bytes : readFile(stored.path);
  }

  /** Its bytes decoded as UTF-8. */
  async text(): Promise<string> {
    return utf8.decode(await this.bytes());
  }

  /** Its bytes as a stream, without reading a file on disk into memory first. */
  stream(): Readable {
    const stored = this.#stored;
    return 'bytes' in stored ? Readable.from([stored.bytes], { objectMode: false }) : createReadStream(stored.path);
  }

  /**
   * Keeps the file at `dest` (which it replaces, as `rename` does), so it is not deleted when the
   * request is over. A temporary file is renamed (copied where `dest` is on another file system);
   * a file in memory is written, mode 0o600. Reading it afterwards reads `dest`.
   */
  async moveTo(dest: string): Promise<void> {
    const stored = this.#stored;
    if ('bytes' in stored) {
      await writeFile(dest, stored.bytes, { mode: 0o600 });
    } else {
      try {
        await rename(stored.path, dest);
      } catch (thrown) {
        if ((thrown as NodeJS.ErrnoException).code !== 'EXDEV') throw thrown;
        await copyFile(stored.path, dest);
        await unlink(stored.path);
      }
    }
    this.#stored = { path: dest };
  }
}

/**
 * The request's temporary folder, made on first need. `end()` removes it with what is left in
 * it; a file asked for after that is refused, so nothing is left behind by a form still being
 * read when the request ends (a client that left mid-upload, a handler that timed out).
 */
export class TempDir {
  readonly #parent: string;
  #dir: Promise<string> | null = null;
  #ended = false;

  constructor(parent: string) {
    this.#parent = parent;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A new file in the folder, created exclusively, mode 0o600, with an unguessable name. */
  async create(): Promise<{ path: string; handle: FileHandle }> {
    if (this.#ended) throw new Error('the request is over');
    const dir = await (this.#dir ??= mkdtemp(join(this.#parent, 'fasterapi-uploads-')));
    if (this.#ended) throw new Error('the request is over');
    const path = join(dir, randomBytes(16).toString('hex'));
    const handle = await open(path, 'wx', 0o600);
    if (this.#ended) {
      // `end()` may have removed the folder while the file was being opened.
      await handle.close();
      await rm(path, { force: true });
      throw new Error('the request is over');
    }
    return { path, handle };
  }

  /** The request is over: the folder goes, with every file not moved out of it. Never rejects. */
  async end(): Promise<void> {
    this.#ended = true;
    const made = this.#dir;
    if (made === null) return;
    try {
      await rm(await made, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // The folder was never made (mkdtemp failed: the form failed with it) or is gone already.
    }
  }
}
