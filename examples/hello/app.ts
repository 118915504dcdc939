import { threadId } from 'node:worker_threads';
import { App, HttpError, reply } from 'fasterapi';

const app = new App();

app.get('/', () => 'Hello from /');
app.get('/test', () => ({ ok: true, thread: threadId }));
app.get('/items/:id', (req) => {
  if (!/^\d+$/.test(req.params.id ?? '')) throw new HttpError(422, 'id must be a number');
  return { id: Number(req.params.id), q: req.query };
});
app.post('/echo', async (req) => req.bytes());
app.post('/items', async (req) => reply(await req.json(), { status: 201 }));
// CPU-bound: runs on the pooled executor, so it never blocks the workers that own connections.
const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));
app.get('/fib/:n', (req) => {
  const n = Number(req.params.n);
  if (!Number.isInteger(n) || n < 0 || n > 40) throw new HttpError(422, 'n must be an integer from 0 to 40');
  return { n, fib: fib(n), isolate: req.isolate };
}, { pool: true, timeout: 5_000 });
app.get('/seed-style', (req, res) => {
  res.status = 200;
  res.contentType = 'text/plain';
  res.body = `Hello from ${req.path}`;
});

export default app;
