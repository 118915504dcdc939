/** Importing the user's app module inside an isolate, with failures as values. */

import { parentPort } from 'node:worker_threads';
import { appTable, routeInfo, type AppTable } from '../app/app.ts';
import type { IsolateInfo } from '../app/request.ts';
import { describeThrown } from '../app/boundary.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, fromPromise, ok, type Result } from '../core/result.ts';
import type { FromWorker } from './messages.ts';

export interface LoadError {
  readonly code: typeof ErrorCode.APP_LOAD | typeof ErrorCode.APP_EXPORT;
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
 * The first step of every isolate, pinned or pooled: import the app and report its route table
 * to the supervisor, or report why it cannot. Returns the table, or null after a failure (the
 * supervisor then terminates the isolate; the port stays open until then, so the report arrives).
 */
export async function loadAndReport(appUrl: string, isolate: IsolateInfo): Promise<AppTable | null> {
  const loaded = await loadApp(appUrl);
  const port = parentPort;
  if (port === null) throw new Error('loadAndReport() runs only in a worker thread');
  if (!loaded.ok) {
    port.postMessage({ type: 'failed', code: loaded.error.code, message: loaded.error.message } satisfies FromWorker);
    return null;
  }
  // The app's onStartup hooks (connection pools, caches) run in every isolate before it serves.
  for (const hook of loaded.value.lifespan.startup) {
    const ran = await fromPromise(async () => hook(isolate), describeThrown);
    if (!ran.ok) {
      port.postMessage({ type: 'failed', code: ErrorCode.STARTUP_HOOK, message: `an onStartup hook of ${appUrl} failed: ${ran.error}` } satisfies FromWorker);
      return null;
    }
  }
  port.postMessage({ type: 'routes', routes: loaded.value.routes.map(routeInfo) } satisfies FromWorker);
  return loaded.value;
}
