/**
 * Compile-time tests of the cookie API (`npm run typecheck` compiles this file; nothing here
 * runs): the shapes the README shows compile, and the mistakes below do not.
 */

import { App, reply, setCookie, signedCookies, type CookieOptions } from '../../src/index.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

const app = new App();
const session = signedCookies({ keys: ['k'.repeat(32)] });

app.get('/prefs', (req, res) => {
  expectType<Equal<typeof req.cookies, Readonly<Record<string, string>>>>(true);
  const theme: string | undefined = req.cookies['theme'];
  // @ts-expect-error: req.cookies is read-only
  req.cookies['theme'] = 'dark';
  res.cookie('theme', theme ?? 'light', { maxAge: 86_400, path: '/', sameSite: 'Lax' }).clearCookie('old', { path: '/' });
  // @ts-expect-error: clearing sets the expiry itself
  res.clearCookie('old', { maxAge: 0 });
  // @ts-expect-error: SameSite is Strict, Lax or None
  res.cookie('a', '1', { sameSite: 'loose' });
  // @ts-expect-error: expires is a Date
  res.cookie('a', '1', { expires: '2030-01-01' });
});

app.post('/login', () => {
  const headers = {};
  session.set(headers, 'sid', 'u42', { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
  return reply({ ok: true }, { headers });
});
app.get('/me', (req) => {
  expectType<Equal<ReturnType<typeof session.get>, string | undefined>>(true);
  return session.get(req, 'sid') ?? reply({ detail: 'not signed in' }, { status: 401 });
});
app.onResponse((_req, res) => setCookie(res.headers, 'seen', '1', { path: '/' }));

// @ts-expect-error: a typo of an option
const typo: CookieOptions = { httponly: true };
void typo;
