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
app.get('/seed-style', (req, res) => {
  res.status = 200;
  res.contentType = 'text/plain';
  res.body = `Hello from ${req.path}`;
});

export default app;
