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
 * Writing (line-writer.ts): each thread writes its lines itself, gathered per event-loop turn
 * into writes of whole lines of at most 4 KiB (`PIPE_BUF`), so lines from several threads never
 * interleave inside a line on a pipe. At most 16 MiB wait per thread for a slow reader of stdout;
 * past that, lines are dropped and counted, and a line says how many once there is room again.
 * `flush()` writes what waits, synchronously: a thread calls it before it ends, and every thread
 * on exit.
 */

import os from 'node:os';
import { LineWriter } from './line-writer.ts';

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

/** Reports lines a writer had to drop, as a JSON line (readable in the pretty format too). */
const droppedLine = (count: number): string =>
  `{"level":${PINO_LEVEL.warn},"time":${Date.now()},"msg":"${count} log line(s) dropped: the reader of this output was not keeping up"}\n`;

/** This thread's writers: lines go to the descriptors straight from the thread that logs them. */
const stdout = new LineWriter(1, droppedLine);
const stderr = new LineWriter(2, droppedLine);

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
      // Field names are the server's own identifiers, written as they are; values are encoded.
      for (const key in fields) {
        const value = fields[key];
        if (value === undefined) continue;
        text += `,"${key}":${typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' && !Number.isFinite(value) ? 'null' : String(value)}`;
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
      stdout.flushSync();
      stderr.flushSync();
    },
  };
}
