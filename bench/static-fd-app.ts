/** The app bench/static-fd.ts serves: one static route over STATIC_BENCH_DIR, and its file from memory. */

import { readFileSync } from 'node:fs';
import { App } from '../src/index.ts';

const app = new App();
app.static('/s', process.env['STATIC_BENCH_DIR'] as string);
const bytes = readFileSync(`${process.env['STATIC_BENCH_DIR']}/file.bin`);
app.get('/memory', () => bytes);
export default app;
