// Hooks and plugins, in the order they run (docs/architecture.md has the lifecycle diagram):
//   onRequest hooks → route → validation → handler → onError hooks (if it threw) → onResponse hooks
// Run: npx fasterapi serve examples/middleware/app.ts
//
//   curl -si localhost:8000/private                                  # 401 from the onRequest hook
//   curl -si localhost:8000/private -H 'authorization: Bearer demo'  # 200
//   curl -si localhost:8000/report --compressed                      # brotli or gzip, negotiated
//   curl -si -X OPTIONS localhost:8000/report -H 'origin: http://localhost:5173' -H 'access-control-request-method: GET'
//   curl -si localhost:8000/orders/42                                # 409 from the error handler
import { App, compression, cors, reply, type RequestInfo } from 'fasterapi';

const app = new App();

// CORS: preflights are answered before routing; allowed origins get their headers on every answer.
app.use(cors({ origin: ['http://localhost:5173'], credentials: true, exposedHeaders: ['x-response-time'] }));
// Compression: brotli or gzip by Accept-Encoding, for text-like bodies over 1 KiB.
app.use(compression({ threshold: 1024 }));

// Authentication before routing: the first hook that returns a reply answers the request.
app.onRequest((req) => {
  if (req.path.startsWith('/private') && req.header('authorization') !== 'Bearer demo') {
    return reply({ detail: 'Not authenticated' }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
  }
  return undefined;
});

// Timing: onRequest notes the start, onResponse (which sees every answer, 404s and errors
// included) adds the header.
const started = new WeakMap<RequestInfo, number>();
app.onRequest((req) => void started.set(req, performance.now()));
app.onResponse((req, res) => {
  const began = started.get(req);
  if (began !== undefined) res.headers['x-response-time'] = `${(performance.now() - began).toFixed(2)}ms`;
});

// Error handlers map error types to responses, inline and on the pool alike.
class ConflictError extends Error {}
app.errorHandler(ConflictError, (error, req) => reply({ detail: error.message, path: req.path }, { status: 409 }));

app.get('/private', () => ({ secret: 42 }));
app.get('/report', () => ({ rows: Array.from({ length: 200 }, (_, i) => ({ id: i, status: 'shipped' })) }));
app.get('/orders/:id', (req) => {
  throw new ConflictError(`order ${req.params['id']} is being edited by someone else`);
});
app.get('/orders/:id/pooled', (req) => {
  throw new ConflictError(`order ${req.params['id']} is locked`);
}, { pool: true });

export default app;
