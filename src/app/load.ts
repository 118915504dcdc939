/** Importing the user's app module inside an isolate and running its lifespan hooks, with failures as values. */

import { appTable, type AppTable } from './app.ts';
import type { IsolateInfo } from './request.ts';
import { describeThrown } from './boundary.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, fromPromise, ok, type Result } from '../core/result.ts';

export interface LoadError {
  readonly code: typeof ErrorCode.APP_LOAD | typeof ErrorCode.APP_EXPORT | typeof ErrorCode.STARTUP_HOOK;
  readonly message: string;
}

/** Runs the app's onShutdown hooks; a hook that throws is logged, and the others still run. */
export async function runShutdownHooks(table: AppTable, isolate: IsolateInfo, onError: (message: string) => void): Promise<void> {
  for (const hook of table.lifespan.shutdown) {
    const ran = await fromPromise(async () => hook(isolate), describeThrown);
    if (!ran.ok) onError(`✗ an onShutdown hook failed: ${ran.error}`);
  }
}

export async function loadApp(appUrl: string): Promise<Result<AppTable, LoadError>> {
  const imported = await fromPromise(
    () => import(appUrl) as Promise<Record<string, unknown>>,
    (thrown): LoadError => ({
      code: ErrorCode.APP_LOAD,
      message: `importing ${appUrl} failed: ${describeThrown(thrown)}`,
    }),
  );
  if (!imported.ok) return imported;
  const table = appTable(imported.value['default']);
  if (table === null) {
    return err({
      code: ErrorCode.APP_EXPORT,
      message: `${appUrl} has no default export that is an App: add \`export default app\` (where \`const app = new App()\`)`,
    });
  }
  table.freeze();
  return ok(table);
}

/**
 * Imports the app and runs its onStartup hooks (connection pools, caches), as every isolate does
 * before it serves; the first hook that throws stops it.
 */
export async function startApp(appUrl: string, isolate: IsolateInfo): Promise<Result<AppTable, LoadError>> {
  const loaded = await loadApp(appUrl);
  if (!loaded.ok) return loaded;
  const started = await runStartupHooks(loaded.value, isolate);
  if (!started.ok) return err({ code: ErrorCode.STARTUP_HOOK, message: `an onStartup hook of ${appUrl} failed: ${started.error}` });
  return loaded;
}

/** Runs the app's onStartup hooks in order; the first that throws stops them, and says why. */
export async function runStartupHooks(table: AppTable, isolate: IsolateInfo): Promise<Result<void, string>> {
  for (const hook of table.lifespan.startup) {
    const ran = await fromPromise(async () => hook(isolate), describeThrown);
    if (!ran.ok) return ran;
  }
  return ok(undefined);
}
