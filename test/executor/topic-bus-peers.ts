/**
 * The test's side of the topic bus workers (topic-bus-worker.ts): start one, send it commands,
 * and await its answers by type. A worker that fails or exits rejects every answer still awaited.
 */

import { Worker } from 'node:worker_threads';
import type { Command, PeerData, PeerReport } from './topic-bus-worker.ts';

export type Answer =
  | { readonly type: 'ready' | 'blocking' }
  | { readonly type: 'published' | 'stopped' | 'ends' | 'report'; readonly report: PeerReport }
  | { readonly type: 'renewed'; readonly applied: boolean }
  | { readonly type: 'reached'; readonly key: string };

type Waiter = { readonly type: Answer['type']; readonly resolve: (answer: Answer) => void; readonly reject: (error: Error) => void };

export class Peer {
  readonly name: string;
  readonly worker: Worker;
  readonly #early: Answer[] = [];
  #waiters: Waiter[] = [];
  #gone: Error | null = null;
  #exited: Promise<number>;

  constructor(name: string, data: PeerData) {
    this.name = name;
    this.worker = new Worker(new URL('./topic-bus-worker.ts', import.meta.url), { workerData: data });
    this.worker.on('message', (answer: Answer) => {
      const index = this.#waiters.findIndex((w) => w.type === answer.type);
      if (index < 0) {
        this.#early.push(answer);
        return;
      }
      const [waiter] = this.#waiters.splice(index, 1);
      waiter?.resolve(answer);
    });
    this.worker.on('error', (error: unknown) => this.#fail(error instanceof Error ? error : new Error(String(error))));
    this.#exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.#fail(new Error(`${name} exited (${code})`));
        resolve(code);
      });
    });
  }

  #fail(error: Error): void {
    this.#gone ??= error;
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters = [];
  }

  /** The next answer of `type` (one that came before this call counts). */
  next<T extends Answer['type']>(type: T): Promise<Extract<Answer, { type: T }>> {
    const index = this.#early.findIndex((a) => a.type === type);
    if (index >= 0) return Promise.resolve(this.#early.splice(index, 1)[0] as Extract<Answer, { type: T }>);
    if (this.#gone !== null) return Promise.reject(this.#gone);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ type, resolve: resolve as (answer: Answer) => void, reject });
    });
  }

  send(command: Command): void {
    this.worker.postMessage(command);
  }

  /** Sends a command and awaits its answer's report. */
  async ask(command: Command, answer: 'published' | 'stopped' | 'ends' | 'report'): Promise<PeerReport> {
    const next = this.next(answer);
    this.send(command);
    return (await next).report;
  }

  /** Ends the worker (gracefully: it leaves the bus) and waits for its exit. */
  async close(): Promise<void> {
    if (this.#gone === null) this.send({ type: 'close' });
    await this.#exited;
  }

  /** Ends the worker at once, as a crash would, and waits for its exit. */
  async kill(): Promise<void> {
    await this.worker.terminate();
    await this.#exited;
  }
}
