/**
 * Where `app.request()` finds the in-process runtime. The runtime (server/in-process.ts) sits
 * above the lifecycle, the executor and the protocol layer, which this layer may not import; so
 * it installs itself here when `fasterapi` is imported, and App calls it through this seam.
 * An App imported by a deep path, without the package's entry, has no runtime installed, and
 * `app.request()` says so.
 */

import { ErrorCode, FasterApiError } from '../core/errors.ts';

/** What `app.request()` hands its arguments to. */
export interface InProcessRunner {
  /** Answers one request to `app` in-process, through the whole request lifecycle. */
  request(app: object, input: string | URL | globalThis.Request, init: RequestInit | undefined): Promise<globalThis.Response>;
}

let runner: InProcessRunner | null = null;

/** Called once by the runtime module as it loads. */
export function installInProcessRunner(installed: InProcessRunner): void {
  runner = installed;
}

/** The installed runtime; throws a `FasterApiError` when none is. */
export function inProcessRunner(): InProcessRunner {
  if (runner === null) {
    throw new FasterApiError(
      ErrorCode.IN_PROCESS,
      "app.request() needs the in-process runtime, which is installed by importing 'fasterapi' (the package entry): import { App } from 'fasterapi' rather than from a file inside the package",
    );
  }
  return runner;
}
