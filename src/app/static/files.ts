/**
 * Finding a static file safely, and the body that streams it.
 *
 * A request path reaches here normalised by the router (no `.`/`..` segments, no doubled or
 * encoded slashes, see router/normalize.ts) and its wildcard part percent-decoded once. It is
 * checked again all the same (defence in depth: this module must be safe whatever calls it):
 *
 *   1. the decoded path is split on `/` and refused — 404, as if the file did not exist — when
 *      it has a NUL, a backslash (a Windows separator), a `:` (a drive letter, an NTFS stream),
 *      a leading `/`, or an empty, `.` or `..` segment; a segment starting with a dot is a
 *      dotfile (the `dotfiles` option: 404, 403 or served);
 *   2. the file's real path (every symlink resolved) must lie inside the root's real path; a
 *      symlink inside the root to a file inside it is served, one leading out is 404, and so is
 *      one leading to a dotfile unless dotfiles are allowed;
 *   3. that real path is opened with O_NOFOLLOW (the last component cannot have been swapped for
 *      a symlink since) and O_NONBLOCK (a FIFO put in the tree cannot block a thread of the
 *      libuv pool), and everything after — type, size, mtime, bytes — comes from the open
 *      descriptor, so what is checked is what is sent.
 *
 * What remains is a race with a writer of the tree itself swapping a directory on the way for a
 * symlink between steps 2 and 3: serve trees only the deployer writes.
 */

import { constants, promises as fsp, type ReadStream, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { SizedBody } from '../response.ts';
import type { StaticConfig } from './options.ts';

/** An open file (or directory) inside the root, and what it was asked for as. */
export interface Opened {
  readonly kind: 'opened';
  readonly handle: FileHandle;
  readonly stat: Stats;
  /** Its real path. */
  readonly path: string;
  /** The name it was requested by (the last segment, or the index file's), for its content type. */
  readonly name: string;
}

/** Where a request path leads: a file, a directory to redirect to with its slash, nothing (404), or a denied dotfile (403). */
export type Located = Opened | { readonly kind: 'redirect' } | { readonly kind: 'missing' } | { readonly kind: 'denied' };

const MISSING = Object.freeze({ kind: 'missing' as const });
const DENIED = Object.freeze({ kind: 'denied' as const });
const REDIRECT = Object.freeze({ kind: 'redirect' as const });

// Either flag is 0 where the platform lacks it (Windows): the checks before the open still hold.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/** A request path split into segments, or `null` when it must be refused outright. */
export interface RequestPath {
  readonly segments: readonly string[];
  /** It ends in `/` (or is empty): a directory is asked for. */
  readonly directory: boolean;
  /** Some segment starts with a dot. */
  readonly dotfile: boolean;
}

/** Splits the decoded wildcard part of a request path (step 1 above); `null` refuses it. */
export function splitRequestPath(rest: string): RequestPath | null {
  if (rest.startsWith('/') || /[\0\\:]/.test(rest)) return null;
  const directory = rest === '' || rest.endsWith('/');
  const segments = rest === '' ? [] : (directory ? rest.slice(0, -1) : rest).split('/');
  let dotfile = false;
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') return null;
    if (segment.charCodeAt(0) === 46 /* . */) dotfile = true;
  }
  return { segments, directory, dotfile };
}

/**
 * Finds what `rest` names under the root: the file, the index file of a directory asked for
 * with its slash, or why not. An `Opened` result's handle belongs to the caller, who closes it.
 */
export async function locate(config: StaticConfig, rest: string): Promise<Located> {
  const asked = splitRequestPath(rest);
  if (asked === null) return MISSING;
  if (asked.dotfile && config.dotfiles !== 'allow') return config.dotfiles === 'deny' ? DENIED : MISSING;
  const found = await openInside(config, join(config.root, ...asked.segments), asked.segments.at(-1) ?? '');
  if (found.kind !== 'opened') return found;
  if (found.stat.isFile()) {
    if (!asked.directory) return found;
    closeQuietly(found.handle); // `file.txt/` names no file
    return MISSING;
  }
  closeQuietly(found.handle);
  if (!found.stat.isDirectory() || !config.directories) return MISSING;
  if (!asked.directory) return REDIRECT;
  for (const name of config.index) {
    const index = await openInside(config, join(found.path, name), name);
    if (index.kind !== 'opened') continue;
    if (index.stat.isFile()) return index;
    closeQuietly(index.handle);
  }
  return MISSING;
}

/** Steps 2 and 3: resolves `target`, checks it is inside the root, opens it. */
async function openInside(config: StaticConfig, target: string, name: string): Promise<Located> {
  let real: string;
  try {
    real = await fsp.realpath(target);
  } catch {
    return MISSING; // absent, a dangling or looping symlink, a file where a directory was expected
  }
  const { root } = config;
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)) return MISSING;
  if (config.dotfiles !== 'allow' && relative(root, real).split(sep).some((s) => s.charCodeAt(0) === 46)) {
    return config.dotfiles === 'deny' ? DENIED : MISSING;
  }
  const opened = await openRegular(real, false);
  return opened === null ? MISSING : { kind: 'opened', handle: opened.handle, stat: opened.stat, path: real, name: name === '' ? basename(real) : name };
}

/**
 * Opens `path` (never through a symlink at its last component) and stats the descriptor;
 * `null` if it cannot be opened, or (`fileOnly`) is not a regular file.
 */
export async function openRegular(path: string, fileOnly: boolean): Promise<{ handle: FileHandle; stat: Stats } | null> {
  let handle: FileHandle;
  try {
    handle = await fsp.open(path, OPEN_FLAGS);
  } catch {
    return null;
  }
  try {
    const stat = await handle.stat();
    if (!fileOnly || stat.isFile()) return { handle, stat };
  } catch {
    // Falls through: closed below.
  }
  closeQuietly(handle);
  return null;
}

/** Closes a handle whose close can only fail if it is closed already. */
export function closeQuietly(handle: FileHandle): void {
  handle.close().catch(() => {});
}

/**
 * Reads `length` bytes from `start` at once: how small files (and small ranges) are sent, whole,
 * without a stream's machinery. Throws if the file has become shorter.
 */
export async function readWhole(handle: FileHandle, start: number, length: number): Promise<Uint8Array> {
  const bytes = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, length - filled, start + filled);
    if (bytesRead === 0) throw new Error(`the file became shorter while it was read (${filled} of ${length} bytes)`);
    filled += bytesRead;
  }
  return bytes;
}

/**
 * `length` bytes of an open file from `start`, streamed as the client takes them (64 KiB reads),
 * with a known length so they go out with Content-Length. The body owns the handle: it is closed
 * when the last byte is read, when the client leaves or the response is dropped (`destroy`, which
 * `pipeBody` and `disposeBody` call), and is never read at all for HEAD. A file that turns out
 * shorter than its stat said (truncated while it is sent) makes the body throw, which cuts the
 * response rather than passing a short body off as whole; a file deleted meanwhile is still read
 * whole through its open descriptor.
 */
export class FileBody extends SizedBody {
  readonly length: number;
  #handle: FileHandle | null;
  readonly #start: number;
  #stream: ReadStream | null = null;

  /** `handle` null: a body never to be read (the length of a HEAD response). */
  constructor(handle: FileHandle | null, start: number, length: number) {
    super();
    this.#handle = handle;
    this.#start = start;
    this.length = length;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const handle = this.#handle;
    this.#handle = null;
    let sent = 0;
    if (handle !== null && this.length > 0) {
      // autoClose: the stream closes the handle when it ends, fails or is destroyed.
      const stream = (this.#stream = handle.createReadStream({ start: this.#start, end: this.#start + this.length - 1, highWaterMark: READ_SIZE }));
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          sent += chunk.byteLength;
          yield chunk;
        }
      } finally {
        stream.destroy();
      }
    } else if (handle !== null) {
      closeQuietly(handle);
    }
    if (sent !== this.length) throw new Error(`the file became shorter while it was sent (${sent} of ${this.length} bytes)`);
  }

  destroy(): void {
    if (this.#stream !== null) this.#stream.destroy();
    else if (this.#handle !== null) closeQuietly(this.#handle);
    this.#handle = null;
  }
}

/** Bytes per read of a streamed file: what a socket write takes well, and HTTP/2's default window. */
const READ_SIZE = 64 * 1024;
