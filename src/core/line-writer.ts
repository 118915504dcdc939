/**
 * Whole lines to a file descriptor (stdout, stderr) from any thread, without blocking it and
 * without a message to the main thread.
 *
 *   write(line) ──► batch of this event-loop turn ──► queue of chunks ──► fs.write, one at a time
 *                   (whole lines, ≤ MAX_WRITE bytes)   (≤ MAX_QUEUED bytes;   EAGAIN: the same chunk
 *                                                      past it, dropped and   again after 1 ms, then
 *                                                      counted)               2, 4 … up to 32 ms
 *
 * - A chunk holds whole lines and at most MAX_WRITE = 4 KiB = PIPE_BUF bytes (a longer line goes
 *   alone), and only one write is under way at a time. A write of at most PIPE_BUF bytes to a pipe
 *   is atomic — all of it or EAGAIN — so the lines of several threads writing to one pipe never
 *   mix inside a line.
 * - stdout is usually a non-blocking pipe (Node makes it so on the main thread), so a slow reader
 *   (a container runtime on a busy machine) answers EAGAIN. The same chunk is written again
 *   after a short wait, so a burst costs milliseconds, not the 100 ms a sonic-boom writer waits
 *   each time (measured: a pinned worker's access log fell seconds behind under load with it).
 * - What the reader cannot keep up with waits in the queue, up to MAX_QUEUED bytes per thread and
 *   descriptor; past that, lines are dropped and counted, and a line says how many before the
 *   next ones. `flushSync` writes what waits before a thread or the process ends, retrying
 *   EAGAIN for at most FLUSH_DEADLINE_MS.
 */

import fs from 'node:fs';
import tty from 'node:tty';

/** The largest write: whole lines up to PIPE_BUF. */
export const MAX_WRITE = 4096;
/** Bytes that may wait for a slow reader, per thread and descriptor. */
export const MAX_QUEUED = 16 * 1024 * 1024;
const RETRY_FIRST_MS = 1;
const RETRY_MOST_MS = 32;
/** How long `flushSync` keeps retrying a reader that does not take the lines. */
const FLUSH_DEADLINE_MS = 2_000;

/** A sleep that blocks this thread (for `flushSync` only): waiting on a word nobody notifies. */
const nap = new Int32Array(new SharedArrayBuffer(4));

export class LineWriter {
  readonly #fd: number;
  /** `(dropped) => line` that reports dropped lines in the writer's format. */
  readonly #droppedLine: (count: number) => string;
  #batch = '';
  #batchBytes = 0;
  #scheduled = false;
  /** Chunks of whole lines; a Buffer is the rest of one that a file or terminal took in part. */
  readonly #queue: Array<string | Buffer> = [];
  #queuedBytes = 0;
  /** The chunk being written, until its write has ended. */
  #writing: string | Buffer | null = null;
  /** Raised by `flushSync`: a write or retry begun before it is over, whatever it reports. */
  #epoch = 0;
  /** A terminal is written synchronously: it is blocking, and would hold a thread of libuv's pool. */
  readonly #sync: boolean;
  #retryMs = RETRY_FIRST_MS;
  #dropped = 0;
  /** The descriptor is gone (EPIPE, EBADF): lines have nowhere to go. */
  #broken = false;

  constructor(fd: number, droppedLine: (count: number) => string) {
    this.#fd = fd;
    this.#droppedLine = droppedLine;
    this.#sync = tty.isatty(fd);
    process.once('exit', () => this.flushSync());
  }

  /** Queues `line` (ending with a line feed) to be written after this event-loop turn. */
  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.#batchBytes + bytes > MAX_WRITE && this.#batchBytes > 0) this.#enqueue();
    this.#batch += line;
    this.#batchBytes += bytes;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#endOfTurn);
    }
  }

  readonly #endOfTurn = (): void => {
    this.#scheduled = false;
    if (this.#batchBytes > 0) this.#enqueue();
    if (this.#sync) this.flushSync();
    else this.#pump();
  };

  #enqueue(): void {
    let chunk = this.#batch;
    let bytes = this.#batchBytes;
    this.#batch = '';
    this.#batchBytes = 0;
    if (this.#queuedBytes + bytes > MAX_QUEUED) {
      for (let at = chunk.indexOf('\n'); at !== -1; at = chunk.indexOf('\n', at + 1)) this.#dropped++;
      return;
    }
    if (this.#dropped > 0) {
      const report = this.#droppedLine(this.#dropped);
      this.#dropped = 0;
      chunk = report + chunk;
      bytes += Buffer.byteLength(report);
    }
    this.#queue.push(chunk);
    this.#queuedBytes += bytes;
  }

  /** Starts the next write, if none is under way. */
  #pump(): void {
    if (this.#writing !== null || this.#broken) return;
    const chunk = this.#queue.shift();
    if (chunk === undefined) return;
    this.#writing = chunk;
    this.#send(chunk, this.#epoch);
  }

  #send(chunk: string | Buffer, epoch: number): void {
    const done = (error: NodeJS.ErrnoException | null, bytes: number): void => this.#written(epoch, chunk, error, bytes);
    if (typeof chunk === 'string') fs.write(this.#fd, chunk, null, 'utf8', done);
    else fs.write(this.#fd, chunk, done);
  }

  #written(epoch: number, chunk: string | Buffer, error: NodeJS.ErrnoException | null, bytes: number): void {
    // `flushSync` has written this chunk already, and everything after it.
    if (epoch !== this.#epoch) return;
    if (error !== null && error.code === 'EAGAIN') {
      // The reader is behind: the whole chunk again, a little later.
      setTimeout(() => {
        if (epoch === this.#epoch) this.#send(chunk, epoch);
      }, this.#retryMs).unref();
      this.#retryMs = Math.min(RETRY_MOST_MS, this.#retryMs * 2);
      return;
    }
    this.#writing = null;
    this.#retryMs = RETRY_FIRST_MS;
    if (error !== null) {
      this.#broken = true;
      return;
    }
    this.#queuedBytes -= bytes;
    // A write to a file or a terminal may take part of a chunk; the rest goes next, as bytes, so
    // that a character cut in two is not.
    const total = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (bytes < total) this.#queue.unshift((typeof chunk === 'string' ? Buffer.from(chunk) : chunk).subarray(bytes));
    this.#pump();
  }

  /**
   * Writes everything waiting, synchronously: before a thread or the process ends. A write under
   * way is written again first (it may have been refused; at worst its lines appear twice).
   */
  flushSync(): void {
    if (this.#batchBytes > 0) this.#enqueue();
    const chunks = this.#writing === null ? this.#queue.splice(0) : [this.#writing, ...this.#queue.splice(0)];
    this.#writing = null;
    this.#epoch++;
    const deadline = Date.now() + FLUSH_DEADLINE_MS;
    for (const first of chunks) {
      let chunk = typeof first === 'string' ? Buffer.from(first) : first;
      while (chunk.length > 0 && !this.#broken) {
        try {
          chunk = chunk.subarray(fs.writeSync(this.#fd, chunk));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) {
            this.#broken = true;
            break;
          }
          Atomics.wait(nap, 0, 0, 1);
        }
      }
    }
    this.#queuedBytes = 0;
  }
}
