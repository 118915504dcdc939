/**
 * Running a contender: a fresh process on 127.0.0.1, ready when it prints `READY <port>`, its
 * memory sampled as the peak RSS of its whole process tree (cluster workers included), and the
 * CPU time of that tree read on demand.
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Running {
  readonly port: number;
  readonly pid: number;
  /** Peak RSS of the process tree since the last `resetPeak()`, in MiB. */
  peakRss(): number;
  resetPeak(): void;
  /**
   * User + system CPU time of the process tree so far, in µs: the process (its threads included)
   * and every descendant, counted in clock ticks (`CPU_TICK_US`). Only differences mean anything.
   */
  cpuTimeUs(): number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const RSS_SAMPLE_MS = 100;

/** Spawns `node <script> ...args` with a raised file-descriptor limit, and waits for READY. */
export function start(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<Running> {
  // `ulimit -n` in a shell that then execs node: the 10k-connection scenario needs it, and the
  // shell is replaced, so the pid is node's.
  const command = `ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`;
  const child = spawn('sh', ['-c', command, process.execPath, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${script} did not print READY within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n${out}\n${err}`));
    };
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /READY (\d+)/.exec(out);
      if (match === null) return;
      clearTimeout(timer);
      resolve(running(child, Number(match[1])));
    });
    child.once('exit', (code) => fail(new Error(`${script} exited with code ${code} before READY`)));
  });
}

function running(child: ChildProcess, port: number): Running {
  const pid = child.pid as number;
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, treeRssKiB(pid));
  };
  const sampler = setInterval(sample, RSS_SAMPLE_MS);
  sampler.unref();
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    port,
    pid,
    peakRss: () => {
      sample();
      return peak / 1024;
    },
    resetPeak: () => {
      peak = 0;
    },
    cpuTimeUs: () => treeCpuTicks(pid) * CPU_TICK_US,
    async stop() {
      clearInterval(sampler);
      const descendants = descendantsOf(pid);
      child.kill('SIGTERM');
      const killer = setTimeout(() => {
        child.kill('SIGKILL');
        for (const orphan of descendants) tryKill(orphan);
      }, 5_000);
      await exited;
      clearTimeout(killer);
      // Whatever a contender forgot to stop must not slow the next one down.
      for (const orphan of descendants) tryKill(orphan);
    },
  };
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export interface ProcStat {
  readonly ppid: number;
  /** utime + stime: CPU time of the process and its threads, in clock ticks. */
  readonly cpuTicks: number;
  /** cutime + cstime: CPU time of its children that ended and were waited for, in clock ticks. */
  readonly childrenCpuTicks: number;
}

/**
 * The fields of a /proc/<pid>/stat line that the bench reads (proc(5)). The second field is the
 * process name in parentheses, which may itself hold spaces and parentheses, so the fields are
 * counted from the last `)`: after it come field 3 (state), 4 (ppid), … 14 (utime), 15 (stime),
 * 16 (cutime), 17 (cstime).
 */
export function parseProcStat(line: string): ProcStat {
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => {
    const value = Number(fields[n - 3]);
    if (!Number.isInteger(value)) throw new Error(`/proc stat field ${n} is not a number: ${line.slice(0, 80)}`);
    return value;
  };
  return { ppid: field(4), cpuTicks: field(14) + field(15), childrenCpuTicks: field(16) + field(17) };
}

/** CPU time per answered request, µs; NaN when nothing was answered. */
export function cpuPerRequest(cpuUs: number, answered: number): number {
  return answered > 0 ? cpuUs / answered : Number.NaN;
}

/** Length of the clock tick /proc counts CPU time in (`getconf CLK_TCK`), in µs. */
export const CPU_TICK_US = 1_000_000 / clockTicksPerSecond();

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(ticks) && ticks > 0) return ticks;
  } catch {
    // no getconf
  }
  // USER_HZ, what the kernel reports /proc times in, is 100 on every Linux architecture Node runs on.
  return 100;
}

/** Parent pid of every process, from /proc. */
function parents(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { ppid } = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

function descendantsOf(pid: number): number[] {
  const children = parents();
  const found: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop() as number;
    found.push(next);
    stack.push(...(children.get(next) ?? []));
  }
  return found;
}

function rssKiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

function treeRssKiB(pid: number): number {
  return [pid, ...descendantsOf(pid)].reduce((sum, p) => sum + rssKiB(p), 0);
}

/**
 * CPU ticks of the tree: each process's own (threads included, ended ones too), plus what its
 * ended children left in its cutime/cstime, so a worker that exits between two readings does not
 * take its time with it.
 */
function treeCpuTicks(pid: number): number {
  let sum = 0;
  for (const p of [pid, ...descendantsOf(pid)]) {
    try {
      const stat = parseProcStat(readFileSync(`/proc/${p}/stat`, 'utf8'));
      sum += stat.cpuTicks + stat.childrenCpuTicks;
    } catch {
      // the process ended while we looked; its parent's cutime/cstime has its time once waited for
    }
  }
  return sum;
}
