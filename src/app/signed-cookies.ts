/**
 * Signed cookies: a value the client can read but not change, or move to another cookie.
 *
 *     const session = signedCookies({ keys: [process.env.COOKIE_KEY_NEW!, process.env.COOKIE_KEY_OLD!] });
 *     app.get('/login', (req, res) => { session.set(res.headers, 'sid', 'u42', { httpOnly: true, secure: true }); });
 *     app.get('/me', (req) => session.get(req, 'sid') ?? reply('not signed in', { status: 401 }));
 *
 * The cookie's value is `value.signature`, where the signature is HMAC-SHA256 over
 * `name=value`, in base64url (43 characters). Signing over the name as well means a signed value
 * copied into another cookie fails. The first key signs; every key verifies, so keys rotate by
 * putting a new key first and keeping the old one until the cookies it signed have expired.
 * Verification compares with `crypto.timingSafeEqual` against every key.
 *
 * Make the signer at module level: each isolate imports the app module, so every isolate then
 * has the same keys. Where the keys come from (an environment variable, a secret store read at
 * import) is the app's business; they must be the same in every isolate and every server that
 * shares the cookies.
 */

import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ErrorCode, FasterApiError } from '../core/errors.ts';
import { checkName, checkValue, setCookie, type CookieOptions, type CookieTarget } from './cookies.ts';

/**
 * The shortest key, in bytes: HMAC-SHA256's output size, below which RFC 2104 §3 says a key
 * weakens the MAC. A string key counts its UTF-8 bytes.
 */
export const MIN_KEY_BYTES = 32;

/** A base64url HMAC-SHA256: 32 bytes are 43 characters without padding. */
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

export interface SignedCookiesOptions {
  /** Secrets of at least 32 bytes each; the first signs, all verify. */
  readonly keys: readonly (string | Uint8Array)[];
}

export interface SignedCookies {
  /** `value.signature` for the cookie `name`. Throws a TypeError for an invalid name or value. */
  sign(name: string, value: string): string;
  /** The value of a signed cookie `name`, or undefined when `signed` carries no valid signature by any key. */
  verify(name: string, signed: string | undefined): string | undefined;
  /** The verified value of the request's cookie `name`, or undefined (missing, unsigned, tampered with, moved). */
  get(req: { readonly cookies: Readonly<Record<string, string>> }, name: string): string | undefined;
  /** Adds a `Set-Cookie` field with the signed value to `headers` (see `setCookie`). */
  set(headers: CookieTarget, name: string, value: string, options?: CookieOptions): void;
}

/**
 * A signer and verifier over `keys`. Throws a `FasterApiError` (`FA_ERR_ROUTE_DEFINITION`) for
 * an empty list or a key that is not a string or bytes of at least 32 bytes.
 */
export function signedCookies(options: SignedCookiesOptions): SignedCookies {
  const keys = keysOf(options);
  const signWith = (key: KeyObject, name: string, value: string): string => createHmac('sha256', key).update(`${name}=${value}`).digest('base64url');
  const sign = (name: string, value: string): string => {
    checkName(name);
    checkValue(name, value);
    // `"x".signature` would not be a cookie value: quotes may only wrap a whole value.
    if (value.startsWith('"')) throw new TypeError(`cookie ${JSON.stringify(name)}: a signed value cannot be wrapped in double quotes`);
    return `${value}.${signWith(keys[0]!, name, value)}`;
  };
  const verify = (name: string, signed: string | undefined): string | undefined => {
    if (typeof signed !== 'string') return undefined;
    const dot = signed.lastIndexOf('.');
    const given = signed.slice(dot + 1);
    if (dot === -1 || !SIGNATURE.test(given)) return undefined;
    const value = signed.slice(0, dot);
    const givenBytes = Buffer.from(given, 'latin1');
    let valid = false;
    // Every key, also after a match: the time taken says nothing about which key signed.
    for (const key of keys) {
      if (timingSafeEqual(Buffer.from(signWith(key, name, value), 'latin1'), givenBytes)) valid = true;
    }
    return valid ? value : undefined;
  };
  return {
    sign,
    verify,
    get: (req, name) => verify(name, req.cookies[name]),
    set: (headers, name, value, cookieOptions) => setCookie(headers, name, sign(name, value), cookieOptions),
  };
}

function keysOf(options: SignedCookiesOptions): KeyObject[] {
  const given: unknown = typeof options === 'object' && options !== null ? options.keys : undefined;
  if (!Array.isArray(given) || given.length === 0) {
    throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, 'signedCookies needs keys: a non-empty array of secrets (the first signs, all verify)');
  }
  return given.map((key: unknown, i) => {
    let bytes: Buffer;
    if (typeof key === 'string') bytes = Buffer.from(key, 'utf8');
    else if (key instanceof Uint8Array) bytes = Buffer.from(key);
    else throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `signedCookies: keys[${i}] must be a string or a Uint8Array, not ${key === null ? 'null' : typeof key}`);
    if (bytes.length < MIN_KEY_BYTES) {
      throw new FasterApiError(ErrorCode.ROUTE_DEFINITION, `signedCookies: keys[${i}] is ${bytes.length} bytes; a key must be at least ${MIN_KEY_BYTES} bytes (e.g. crypto.randomBytes(32).toString('base64url'))`);
    }
    return createSecretKey(bytes);
  });
}
