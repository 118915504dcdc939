// The developer kit in one app: static files, an upload form, cookies (one of them signed), a
// pooled task called from a handler, and work after the response. Its tests, written with
// app.request() and node:test, are in app.test.ts: `node --test examples/kit/app.test.ts`.
//
//   npx fasterapi serve examples/kit/app.ts --pooled 1
//   curl -F doc=@README.md http://127.0.0.1:8000/upload
//   curl -c jar -b jar 'http://127.0.0.1:8000/login?user=ann' && curl -b jar http://127.0.0.1:8000/me
import { createHash, scryptSync } from 'node:crypto';
import { App, HttpError, reply, signedCookies } from 'fasterapi';

const app = new App({ title: 'Developer kit example' });

// Files under ./public at /assets: ETag, Last-Modified, ranges, and app.css.gz when the client
// accepts gzip.
app.static('/assets', new URL('./public', import.meta.url), { maxAge: 60 });

// An upload: the file streams to a temporary file (deleted when the request is over) and is
// hashed on the way.
app.post('/upload', async (req) => {
  const form = await req.form();
  const doc = form.file('doc');
  if (doc === undefined) throw new HttpError(400, 'send the file as the form field "doc"');
  return { name: doc.filename, type: doc.type, size: doc.size, sha256: doc.hash, note: form.get('note') ?? null };
}, { bodyLimit: 5 * 1024 * 1024, form: { fileSize: 4 * 1024 * 1024, files: 1, fileFields: ['doc'], hash: 'sha256' } });

// Cookies: a plain one, and a signed session. The key comes from the environment in production;
// the fallback is for trying the example only.
const session = signedCookies({ keys: [process.env['COOKIE_KEY'] ?? 'example-only-key-never-use-in-production'] });

app.get('/theme', (req, res) => {
  const theme = req.query['set'] ?? req.cookies['theme'] ?? 'light';
  res.cookie('theme', String(theme), { path: '/', maxAge: 86_400, sameSite: 'Lax' });
  res.body = { theme };
});
app.get('/login', (req) => {
  const user = String(req.query['user'] ?? '');
  if (!/^[a-z]{1,32}$/.test(user)) throw new HttpError(422, 'user must be 1 to 32 lowercase letters');
  const headers = {};
  session.set(headers, 'sid', user, { path: '/', httpOnly: true, sameSite: 'Strict' });
  return reply({ user }, { headers });
});
app.get('/me', (req) => {
  const user = session.get(req, 'sid');
  if (user === undefined) throw new HttpError(401, 'not signed in');
  return { user };
});

// CPU work off the event loop: a password hash on the pool, and an audit line after the response.
app.task('hash', ({ password, salt }: { password: string; salt: string }) => scryptSync(password, salt, 32).toString('hex'));
export const audit: string[] = [];
app.post('/signup', async (req) => {
  const { user, password } = await req.json<{ user: string; password: string }>();
  const salt = createHash('sha256').update(user).digest('hex').slice(0, 16);
  const hash = await app.run<string>('hash', { password, salt });
  req.after(() => {
    audit.push(`signed up ${user}`);
  });
  return reply({ user, hash }, { status: 201 });
});

export default app;
