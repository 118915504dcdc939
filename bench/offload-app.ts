// The trivial handler of the offload benchmark, once inline and once on the pool.
import { App } from '../src/index.ts';

const app = new App();
app.get('/inline', () => 'ok', { pool: false });
app.get('/pooled', () => 'ok', { pool: true });
export default app;
