/**
 * The server's log lines, written by each thread straight to the process's stdout (and, in the
 * pretty format, stderr) — a worker's lines never pass through the main thread's `console`.
 *
 * Two formats:
 * - `json`: one JSON object per line with pino's conventions, so pino's tools and log shippers
 *   read it: `level` as pino's numbers (20 debug, 30 info, 40 warn, 50 error), `time` in ms
 *   since the epoch, `pid`, `hostname`, the writing `isolate`, the line's own fields (`reqId`,
 *   `route`, `method`, `path`, `status`, `durationMs`, …), and `msg` last. Every level goes to
 *   stdout, as pino writes it.
 * - `pretty`: the message alone, for a person at a terminal; info and debug go to stdout, warn
 *   and error to stderr.
 *
 * Writing: each thread has one buffered writer per file descriptor (sonic-boom, pino's own),
 * which writes asynchronously and gathers the lines that come while a write is under way into
 * the next one. A write holds whole lines and at most 4 KiB (`PIPE_BUF`), so lines from several
 * threads never interleave inside a line on a pipe. At most 16 MiB wait per thread for a slow
 * reader of stdout; past that, lines are dropped and counted, and a line says how many once the
 * writer has room again. `flush()` writes what waits, synchronously: a thread calls it before it
 * ends, and the main thread on exit.
 */

import os from 'node:os';
import sonicBoom from 'sonic-boom';

// sonic-boom is CommonJS: its class is the module itself (typed as the module's `SonicBoom`).
const SonicBoom = sonicBoom as unknown as typeof import('sonic-boom').SonicBoom;
type SonicBoom = import('sonic-boom').SonicBoom;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'pretty';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
/** pino's level numbers. */
const PINO_LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** The format a terminal gets (`pretty`), and anything else (`json`: a pipe, a file, a log shipper). */
export function defaultLogFormat(): LogFormat {
  return process.stdout.isTTY === true ? 'pretty' : 'json';
}

/** A line's own fields, beside its message. */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Writes what this thread has buffered now, synchronously. */
  flush(): void;
}

/** Bytes of lines that may wait for a slow reader, per thread and descriptor. */
const MAX_BUFFERED = 16 * 1024 * 1024;
/** The largest write: whole lines up to PIPE_BUF, so writes from several threads stay whole on a pipe. */
const MAX_WRITE = 4096;

/** This thread's writer for a descriptor: made on first use, flushed when the thread or process exits. */
class Sink {
  readonly #fd: number;
  #boom: SonicBoom | null = null;
  #dropped = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  write(line: string): void {
    const boom = (this.#boom ??= this.#open());
    if (this.#dropped > 0 && boom.write(`${JSON.stringify({ level: PINO_LEVEL.warn, time: Date.now(), msg: `${this.#dropped} log line(s) dropped: stdout was not read fast enough` })}\n`)) {
      this.#dropped = 0;
    }
    boom.write(line);
  }

  flush(): void {
    try {
      this.#boom?.flushSync();
    } catch {
      // The descriptor is gone (a closed pipe) or busy: nothing more can be done.
    }
  }

  #open(): SonicBoom {
    const boom = new SonicBoom({ fd: this.#fd, sync: false, maxWrite: MAX_WRITE, maxLength: MAX_BUFFERED });
    boom.on('drop', () => void this.#dropped++);
    // A closed stdout (EPIPE) must not take the thread down; its lines have nowhere to go.
    boom.on('error', () => {});
    process.once('exit', () => this.flush());
    return boom;
  }
}

const stdout = new Sink(1);
const stderr = new Sink(2);

const HOSTNAME = JSON.stringify(os.hostname());

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format?: LogFormat;
  /** Who writes: `supervisor`, `pinned-0`, `pooled-1`. */
  readonly isolate?: string;
}

export function createLogger(options: LoggerOptions | LogLevel): Logger {
  const { level, format = 'pretty', isolate = 'supervisor' } = typeof options === 'string' ? { level: options } : options;
  const at = RANK[level];
  // Everything a JSON line starts with but its level and time, made once.
  const bindings = `,"pid":${process.pid},"hostname":${HOSTNAME},"isolate":${JSON.stringify(isolate)}`;
  const line = (name: keyof typeof PINO_LEVEL, message: string, fields: LogFields | undefined): void => {
    if (format === 'pretty') {
      (name === 'warn' || name === 'error' ? stderr : stdout).write(`${message}\n`);
      return;
    }
    let text = `{"level":${PINO_LEVEL[name]},"time":${Date.now()}${bindings}`;
    if (fields !== undefined) {
      for (const key in fields) {
        const value = fields[key];
        if (value !== undefined) text += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
      }
    }
    stdout.write(`${text},"msg":${JSON.stringify(message)}}\n`);
  };
  return {
    level,
    format,
    debug: (m, f) => void (at <= RANK.debug && line('debug', m, f)),
    info: (m, f) => void (at <= RANK.info && line('info', m, f)),
    warn: (m, f) => void (at <= RANK.warn && line('warn', m, f)),
    error: (m, f) => void (at <= RANK.error && line('error', m, f)),
    flush: () => {
      stdout.flush();
      stderr.flush();
    },
  };
}
