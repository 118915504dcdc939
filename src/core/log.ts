/**
 * The server's log lines. Workers write through their own `console`, which Node forwards to the
 * process's stdout and stderr; the supervisor prefixes nothing, so lines read the same wherever
 * they were written.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

export interface Logger {
  readonly level: LogLevel;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(level: LogLevel): Logger {
  const at = RANK[level];
  return {
    level,
    debug: (m) => void (at <= RANK.debug && console.log(m)),
    info: (m) => void (at <= RANK.info && console.log(m)),
    warn: (m) => void (at <= RANK.warn && console.error(m)),
    error: (m) => void (at <= RANK.error && console.error(m)),
  };
}
