/** The app bench/static-fd.ts serves: one static route over STATIC_BENCH_DIR. */

import { App } from '../src/index.ts';

const app = new App();
app.static('/s', process.env['STATIC_BENCH_DIR'] as string);
export default app;
