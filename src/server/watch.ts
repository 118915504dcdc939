/**
 * `--watch`: reloads the app (generations.ts) when a file under its module's folder changes, as
 * `uvicorn --reload` and `node --watch` users expect. Changes are gathered for `WATCH_SETTLE_MS`,
 * so a save that writes several files, or an editor's write-then-rename, makes one reload;
 * `node_modules` and dot-folders (.git) are not watched for.
 */

import { watch } from 'node:fs';
import { dirname, sep } from 'node:path';
import { describeThrown } from '../core/describe.ts';
import type { Logger } from '../core/log.ts';

/** How long after the last change the reload starts, in ms. */
export const WATCH_SETTLE_MS = 150;

export function watchApp(appPath: string, log: Logger, reload: () => void): { close(): void } {
  const folder = dirname(appPath);
  let timer: NodeJS.Timeout | null = null;
  const changed: string[] = [];
  const watcher = watch(folder, { recursive: true }, (_event, name) => {
    const path = name === null ? '' : String(name);
    if (path.split(sep).some((part) => part === 'node_modules' || part.startsWith('.'))) return;
    if (!changed.includes(path)) changed.push(path);
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      log.info(`Changed: ${changed.splice(0).join(', ') || folder}; reloading`);
      reload();
    }, WATCH_SETTLE_MS);
  });
  watcher.on('error', (error) => log.error(`✗ Watching ${folder} failed: ${describeThrown(error)}; --watch reloads no more`));
  watcher.unref();
  log.info(`Watching ${folder} for changes: a change reloads the app`);
  return {
    close: () => {
      if (timer !== null) clearTimeout(timer);
      watcher.close();
    },
  };
}
