// Streamed bodies and Server-Sent Events, over HTTP/1.1 and HTTP/2. Each chunk is asked for
// only when the client has taken the last, so a slow client never makes the server buffer.
// Streaming routes always run inline on the worker that owns the connection (a stream cannot
// cross the pool's rings): `{ pool: true }` on one is refused when the app loads.
// Run: npx fasterapi serve examples/streaming/app.ts, then open http://localhost:8000/
//
//   curl -sN localhost:8000/numbers?n=5
//   curl -sN --http2-prior-knowledge localhost:8000/clock
import { createReadStream } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { App, reply, sse } from 'fasterapi';

const app = new App();

// An async generator handler streams what it yields: NDJSON here.
app.get('/numbers', async function* (req) {
  const n = Math.min(Number(req.query['n'] ?? 10), 1000);
  for (let i = 0; i < n; i++) {
    yield `${JSON.stringify({ i, square: i * i })}\n`;
    await delay(100);
  }
});

// A Node.js Readable (or a web ReadableStream) as the body. Handlers that return a stream
// without being async generators say so with `stream: true`.
const source = fileURLToPath(import.meta.url);
app.get('/source', () => reply(createReadStream(source), { contentType: 'text/plain; charset=utf-8' }), { stream: true });

// Server-Sent Events: yield events; a comment is sent every 15 s of quiet to keep proxies open.
app.get(
  '/clock',
  sse(async function* (req) {
    // A reconnecting EventSource sends the last id it saw.
    let tick = Number(req.headers['last-event-id'] ?? 0);
    for (;;) {
      tick++;
      yield { event: 'tick', id: String(tick), data: { tick, time: new Date().toISOString() } };
      await delay(1000);
    }
  }),
  { summary: 'A clock, as Server-Sent Events' },
);

app.get(
  '/',
  () =>
    reply(
      `<!doctype html><meta charset="utf-8"><title>SSE clock</title>
<pre id="out">connecting…</pre>
<script>
const out = document.getElementById('out');
const events = new EventSource('/clock');
events.addEventListener('tick', (e) => { out.textContent = e.data + '\\n' + out.textContent; });
</script>`,
      { contentType: 'text/html; charset=utf-8' },
    ),
  { hidden: true },
);

export default app;
