/** Running the real `fasterapi` command in a child process and reading what it prints. */

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/fasterapi.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The arguments as given, with `--log-format pretty` after `serve <app>` unless they name a
 * format: the tests read the plain messages, and a child's stdout is a pipe, where the default
 * is json. `keepDefaultFormat` leaves them as given.
 */
function withFormat(args: readonly string[], keepDefaultFormat: boolean): readonly string[] {
  if (keepDefaultFormat || args[0] !== 'serve' || args.length < 2 || args.some((a) => a.startsWith('--log-format'))) return args;
  return [args[0], args[1] as string, '--log-format', 'pretty', ...args.slice(2)];
}

/** A running `fasterapi` process with its output collected as it arrives. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly finished: Promise<Finished>;
  #waiters: Array<() => void> = [];

  constructor(args: readonly string[], options: { nodeArgs?: readonly string[]; node?: string; keepDefaultFormat?: boolean } = {}) {
    this.child = spawn(options.node ?? process.execPath, [...(options.nodeArgs ?? []), BIN, ...withFormat(args, options.keepDefaultFormat === true)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.#notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.#notify();
    });
    this.finished = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.#notify();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves with the first match of `pattern` in stdout (or stderr); rejects if the process ends first. */
  async waitForOutput(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    for (;;) {
      const match = this[stream].match(pattern);
      if (match !== null) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`fasterapi exited before printing ${pattern}:\n${this.stdout}\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}

/** Runs `fasterapi` to completion. */
export function runCli(args: readonly string[], options?: { nodeArgs?: readonly string[]; node?: string; keepDefaultFormat?: boolean }): Promise<Finished> {
  return new CliProcess(args, options).finished;
}
