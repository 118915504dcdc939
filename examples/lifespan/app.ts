// Lifespan hooks run in every isolate — each pinned worker and each pooled isolate has its own
// module state, so per-process resources (database pools, caches, timers) are opened in each.
// A startup hook that throws stops the server with its error, before it serves anything.
// Run: npx fasterapi serve examples/lifespan/app.ts --pooled 1
//
//   curl -s localhost:8000/stats      # served by a pinned worker
//   curl -s localhost:8000/report     # served by a pooled isolate: its own cache
import { setInterval } from 'node:timers';
import { App, type IsolateInfo } from 'fasterapi';

/** Stands in for a database client pool: opened at startup, closed at shutdown. */
class Pool {
  readonly #size: number;
  #open = false;
  constructor(size: number) {
    this.#size = size;
  }
  async connect(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20)); // a real pool would connect here
    this.#open = true;
  }
  async query(sql: string): Promise<{ sql: string; pool: number }> {
    if (!this.#open) throw new Error('the pool is closed');
    return { sql, pool: this.#size };
  }
  async end(): Promise<void> {
    this.#open = false;
  }
}

const app = new App();
let db: Pool | undefined;
let refresh: NodeJS.Timeout | undefined;
const cache = new Map<string, number>();
let where: IsolateInfo | undefined;

app.onStartup(async (isolate) => {
  where = isolate;
  // Pinned workers serve many small queries; pooled isolates run few heavy ones.
  db = new Pool(isolate.kind === 'pinned' ? 10 : 2);
  await db.connect();
  cache.set('warmedAt', Date.now());
  refresh = setInterval(() => cache.set('warmedAt', Date.now()), 60_000);
  refresh.unref();
});

app.onShutdown(async () => {
  clearInterval(refresh);
  await db?.end();
});

app.get('/stats', async () => ({ isolate: where, result: await db!.query('select 1'), cacheWarmedAt: cache.get('warmedAt') }));
app.get('/report', async () => ({ isolate: where, result: await db!.query('select sum(total) from orders') }), { pool: true });

export default app;
