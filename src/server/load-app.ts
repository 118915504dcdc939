/** Importing the user's app module inside an isolate, with failures as values. */

import { appTable, type AppTable } from '../app/app.ts';
import { ErrorCode } from '../core/errors.ts';
import { err, fromPromise, ok, type Result } from '../core/result.ts';

export interface LoadError {
  readonly code: typeof ErrorCode.APP_LOAD | typeof ErrorCode.APP_EXPORT;
  readonly message: string;
}

export async function loadApp(appUrl: string): Promise<Result<AppTable, LoadError>> {
  const imported = await fromPromise(
    () => import(appUrl) as Promise<Record<string, unknown>>,
    (thrown): LoadError => ({
      code: ErrorCode.APP_LOAD,
      message: `importing ${appUrl} failed: ${thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown)}`,
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
