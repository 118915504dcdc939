/**
 * Work after the response: `req.after(fn)` runs `fn` on the isolate that ran the handler once
 * the response has been sent — FastAPI's BackgroundTasks, Hono's `waitUntil`. Sending an email,
 * writing an audit row, warming a cache: the client does not wait for it.
 *
 * A request's functions run one after another, in the order they were added, each awaited; one
 * that throws or rejects is logged under the request's id and the next still runs. Each isolate
 * keeps the runs under way (`AfterWork`), so a graceful shutdown waits for them within its grace
 * period, after the last response and before the onShutdown hooks.
 */

import { describeThrown } from '../core/describe.ts';
import { ErrorCode } from '../core/errors.ts';
import type { Reporter } from './boundary.ts';
import { internalFault } from './boundary.ts';

export type AfterFunction = () => unknown;

/** The after-work under way on one isolate. */
export class AfterWork {
  readonly #running = new Set<Promise<void>>();
  readonly #reporter: Reporter;

  constructor(reporter: Reporter) {
    this.#reporter = reporter;
  }

  /** Runs under way (a request's whole list counts as one). */
  get pending(): number {
    return this.#running.size;
  }

  /**
   * Runs `fns` in order, from the next turn of the event loop once `behind` (the same request's
   * run before, if any) has finished; `where` names the request in log lines ("GET /signup"), and
   * `requestId` is the error id of what they throw. Never throws; the run it returns never rejects.
   */
  run(fns: readonly AfterFunction[], where: string, requestId: string, behind: Promise<void> | null): Promise<void> {
    const running = (behind ?? Promise.resolve())
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => this.#runAll(fns, where, requestId))
      // Only the log itself failing could reject here: nothing more can be said about it.
      .catch(() => {});
    this.#running.add(running);
    void running.finally(() => this.#running.delete(running));
    return running;
  }

  async #runAll(fns: readonly AfterFunction[], where: string, requestId: string): Promise<void> {
    for (const fn of fns) {
      try {
        await fn();
      } catch (thrown) {
        internalFault(ErrorCode.HANDLER, `an after() function of ${where}`, `it threw after the response was sent\n${describeThrown(thrown)}`, this.#reporter, requestId);
      }
    }
  }

  /** Resolves when every run under way has finished, or after `timeoutMs`, whichever is first: true if all finished. */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.#running.size > 0) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
      await Promise.race([Promise.all(this.#running), expired]);
      clearTimeout(timer);
    }
    return true;
  }
}
