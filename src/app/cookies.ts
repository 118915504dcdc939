/**
 * Cookies (RFC 6265bis): reading a request's `Cookie` header, and writing `Set-Cookie` fields.
 *
 * Reading is lenient, as a user agent's own parser is: a malformed pair is skipped, never an
 * error, since the header is the client's and a handler should still see the pairs that are
 * well formed. Writing is strict: a name, value or attribute the user agent would drop, cut or
 * read differently is refused with a TypeError that names the cookie and the fault, so a
 * mistake shows up as a 500 with an error id in development rather than as a cookie that
 * silently never arrives (or arrives without its `HttpOnly`).
 *
 * Neither side percent-decodes or -encodes. A value is what the header carries; an app that
 * wants to store arbitrary text encodes it itself (`encodeURIComponent`'s output is always a
 * valid cookie value) and decodes what it reads back. Decoding by default would make `%` in a
 * value mean two things, and a value that fails to decode would need an error on the read side.
 */

/**
 * The attributes of a `Set-Cookie` field. Every option is checked; an unknown key (a typo such
 * as `httponly`) is refused, since a dropped `HttpOnly` or `Secure` fails silently otherwise.
 */
export interface CookieOptions {
  /** Seconds until the cookie expires, a whole number; 0 or less expires it at once. User agents cap it at 400 days. */
  readonly maxAge?: number;
  /** When the cookie expires (sent as an IMF-fixdate); a date from year 1601 to 9999. */
  readonly expires?: Date;
  /** The path the cookie is sent for: starts with `/`, at most 1024 characters, ASCII without controls or `;`. */
  readonly path?: string;
  /** The host (and its subdomains) the cookie is sent to: letters, digits, `-` and `.` (an IDN as its A-label), at most 1024 characters. */
  readonly domain?: string;
  /** Sent over HTTPS only. Required by `SameSite=None`, `Partitioned` and the `__Secure-`/`__Host-` prefixes. */
  readonly secure?: boolean;
  /** Hidden from scripts in the page (`document.cookie`). */
  readonly httpOnly?: boolean;
  /** Whether cross-site requests carry the cookie. `None` requires `secure`. Any letter case. */
  readonly sameSite?: 'Strict' | 'Lax' | 'None' | 'strict' | 'lax' | 'none';
  /** Kept per top-level site (CHIPS). Requires `secure`. */
  readonly partitioned?: boolean;
}

/** The options that clearing a cookie takes: those that must match the cookie to replace it. */
export type ClearCookieOptions = Omit<CookieOptions, 'maxAge' | 'expires'>;

/** Headers a `Set-Cookie` field can be added to: `res.headers`, a `reply()`'s headers, an onResponse draft's. */
export type CookieTarget = Record<string, string | number | readonly string[]>;

/**
 * RFC 6265bis §5.7: a user agent ignores a cookie whose name and value together are longer than
 * this many octets, and an attribute whose value is longer than `MAX_ATTRIBUTE_LENGTH`.
 */
export const MAX_COOKIE_LENGTH = 4096;
export const MAX_ATTRIBUTE_LENGTH = 1024;

/**
 * The cookies of a `Cookie` header, by name, in an object that inherits nothing (so `__proto__`
 * and `constructor` are ordinary names). Pairs are separated by `;` and trimmed of spaces and
 * tabs; a pair without `=` or with an empty name is skipped; the first pair of a name wins
 * (user agents send the most specific cookie first); a value wrapped in double quotes loses
 * them. Values are not percent-decoded. Never throws.
 */
export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies = Object.create(null) as Record<string, string>;
  if (header === undefined) return cookies;
  const length = header.length;
  let start = 0;
  while (start < length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const name = trimmed(header, start, eq);
      if (name !== '' && !(name in cookies)) {
        let value = trimmed(header, eq + 1, end);
        if (value.length >= 2 && value.charCodeAt(0) === DQUOTE && value.charCodeAt(value.length - 1) === DQUOTE) value = value.slice(1, -1);
        cookies[name] = value;
      }
    }
    start = end + 1;
  }
  return cookies;
}

/** `text[from, to)` without leading and trailing spaces and tabs (HTTP's whitespace, not `trim()`'s). */
function trimmed(text: string, from: number, to: number): string {
  while (from < to && isBlank(text.charCodeAt(from))) from++;
  while (to > from && isBlank(text.charCodeAt(to - 1))) to--;
  return text.slice(from, to);
}

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

const DQUOTE = 0x22;

/**
 * One `Set-Cookie` field value: `name=value` and its attributes. Throws a TypeError naming the
 * cookie when the name is not an RFC 9110 token, the value has a character outside RFC 6265's
 * cookie-octet set (optionally wrapped in double quotes), an attribute is invalid, or the
 * combination breaks a rule (`SameSite=None` or `Partitioned` without `Secure`, the
 * `__Secure-` and `__Host-` prefixes' rules).
 */
export function serializeCookie(name: string, value: string, options: CookieOptions = {}): string {
  checkName(name);
  checkValue(name, value);
  if (name.length + value.length > MAX_COOKIE_LENGTH) {
    fail(name, `the name and value are ${name.length + value.length} characters together; user agents ignore a cookie past ${MAX_COOKIE_LENGTH}`);
  }
  if (typeof options !== 'object' || options === null) fail(name, 'the options must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) fail(name, `unknown option ${JSON.stringify(key)} (known: ${[...OPTION_NAMES].join(', ')})`);
  }
  const { maxAge, expires, path, domain } = options;
  const secure = flag(name, options, 'secure');
  const httpOnly = flag(name, options, 'httpOnly');
  const partitioned = flag(name, options, 'partitioned');
  const sameSite = sameSiteOf(name, options.sameSite);

  let field = `${name}=${value}`;
  if (maxAge !== undefined) {
    if (!Number.isSafeInteger(maxAge)) fail(name, `maxAge must be a whole number of seconds, not ${describe(maxAge)}`);
    field += `; Max-Age=${maxAge}`;
  }
  if (expires !== undefined) field += `; Expires=${imfDate(name, expires)}`;
  if (domain !== undefined) field += `; Domain=${checkDomain(name, domain)}`;
  if (path !== undefined) field += `; Path=${checkPath(name, path)}`;
  if (secure) field += '; Secure';
  if (httpOnly) field += '; HttpOnly';
  if (sameSite !== undefined) field += `; SameSite=${sameSite}`;
  if (partitioned) field += '; Partitioned';

  if (sameSite === 'None' && !secure) fail(name, 'SameSite=None requires secure: true (user agents drop it otherwise)');
  if (partitioned && !secure) fail(name, 'partitioned requires secure: true');
  // RFC 6265bis §4.1.3; user agents match the prefixes in any letter case.
  const lower = name.toLowerCase();
  if (lower.startsWith('__secure-') && !secure) fail(name, 'a __Secure- cookie requires secure: true');
  if (lower.startsWith('__host-')) {
    if (!secure) fail(name, 'a __Host- cookie requires secure: true');
    if (path !== '/') fail(name, "a __Host- cookie requires path: '/'");
    if (domain !== undefined) fail(name, 'a __Host- cookie must not have a domain');
  }
  return field;
}

/**
 * Adds a `Set-Cookie` field to `headers`, after any already there: each cookie goes out as a
 * field of its own over HTTP/1.1 and HTTP/2, never joined with commas. Works on `res.headers`,
 * on the headers of a `reply()`, and on an onResponse hook's draft. Throws as `serializeCookie`.
 */
export function setCookie(headers: CookieTarget, name: string, value: string, options?: CookieOptions): void {
  appendSetCookie(headers, serializeCookie(name, value, options));
}

/**
 * Tells the user agent to drop a cookie: an empty value that expired at the epoch. `path` and
 * `domain` must be those the cookie was set with, or the user agent keeps it.
 */
export function clearCookie(headers: CookieTarget, name: string, options: ClearCookieOptions = {}): void {
  if (typeof options === 'object' && options !== null && ('maxAge' in options || 'expires' in options)) {
    fail(name, 'clearing a cookie sets its expiry: maxAge and expires are not options here');
  }
  appendSetCookie(headers, serializeCookie(name, '', { ...options, maxAge: 0, expires: EPOCH }));
}

const EPOCH = new Date(0);

function appendSetCookie(headers: CookieTarget, field: string): void {
  // The app may have spelt it `Set-Cookie`: its fields and ours go out together.
  let key = 'set-cookie';
  for (const name in headers) {
    if (name.length === 10 && name.toLowerCase() === 'set-cookie') {
      key = name;
      break;
    }
  }
  const existing = headers[key];
  if (existing === undefined) headers[key] = [field];
  else if (typeof existing === 'string' || typeof existing === 'number') headers[key] = [String(existing), field];
  // A new array: the one there may be the app's, frozen or shared.
  else headers[key] = [...existing, field];
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['maxAge', 'expires', 'path', 'domain', 'secure', 'httpOnly', 'sameSite', 'partitioned']);

/**
 * RFC 9110 tchar, by character code below 128: `!#$%&'*+-.^_\`|~`, digits and letters.
 * RFC 6265bis cookie-octet: visible ASCII but `"`, `,`, `;` and `\`.
 */
const TCHAR = charClass((c) => /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(String.fromCharCode(c)));
const COOKIE_OCTET = charClass((c) => c >= 0x21 && c <= 0x7e && c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c);

function charClass(test: (code: number) => boolean): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) table[c] = test(c) ? 1 : 0;
  return table;
}

/** The index of the first character of `text[from, to)` outside `table`, or -1. */
function firstOutside(table: Uint8Array, text: string, from = 0, to = text.length): number {
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || table[code] === 0) return i;
  }
  return -1;
}

/** Whether `name` is an RFC 9110 token, which is what a cookie name must be. Throws otherwise. */
export function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string') throw new TypeError(`a cookie name must be a string, not ${describe(name)}`);
  if (name === '') throw new TypeError('a cookie name must not be empty');
  const bad = firstOutside(TCHAR, name);
  if (bad !== -1) throw new TypeError(`invalid cookie name ${JSON.stringify(name)}: ${charAt(name, bad)} is not allowed in a name (an RFC 9110 token)`);
}

/** Whether `value` is a cookie-value: cookie-octets, optionally wrapped in double quotes. Throws otherwise. */
export function checkValue(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') fail(name, `the value must be a string, not ${describe(value)}`);
  const quoted = value.length >= 2 && value.charCodeAt(0) === DQUOTE && value.charCodeAt(value.length - 1) === DQUOTE;
  const bad = quoted ? firstOutside(COOKIE_OCTET, value, 1, value.length - 1) : firstOutside(COOKIE_OCTET, value);
  if (bad !== -1) {
    fail(name, `${charAt(value, bad)} is not allowed in a value (visible ASCII except " , ; and \\; encode it, e.g. with encodeURIComponent)`);
  }
}

function flag(name: string, options: CookieOptions, key: 'secure' | 'httpOnly' | 'partitioned'): boolean {
  const value = options[key];
  if (value !== undefined && typeof value !== 'boolean') fail(name, `${key} must be true or false, not ${describe(value)}`);
  return value === true;
}

function sameSiteOf(name: string, value: unknown): 'Strict' | 'Lax' | 'None' | undefined {
  if (value === undefined) return undefined;
  switch (typeof value === 'string' ? value.toLowerCase() : value) {
    case 'strict':
      return 'Strict';
    case 'lax':
      return 'Lax';
    case 'none':
      return 'None';
  }
  return fail(name, `sameSite must be 'Strict', 'Lax' or 'None', not ${describe(value)}`);
}

function imfDate(name: string, date: unknown): string {
  if (!(date instanceof Date)) fail(name, `expires must be a Date, not ${describe(date)}`);
  const time = date.getTime();
  if (Number.isNaN(time)) fail(name, 'expires is an invalid Date');
  // An IMF-fixdate has a four-digit year; RFC 6265bis §5.1.1 refuses years before 1601.
  const year = date.getUTCFullYear();
  if (year < 1601 || year > 9999) fail(name, `expires must be a date from year 1601 to 9999, not ${year}`);
  return date.toUTCString();
}

/** An attribute value: ASCII without controls or `;`, at most 1024 characters (RFC 6265bis av-octet). */
function checkAttribute(name: string, attribute: string, value: unknown): string {
  if (typeof value !== 'string') fail(name, `${attribute} must be a string, not ${describe(value)}`);
  if (value.length > MAX_ATTRIBUTE_LENGTH) fail(name, `${attribute} is ${value.length} characters; user agents ignore one past ${MAX_ATTRIBUTE_LENGTH}`);
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code >= 0x7f || code === 0x3b) fail(name, `${charAt(value, i)} is not allowed in ${attribute} (ASCII without controls or ;)`);
  }
  return value;
}

function checkPath(name: string, path: unknown): string {
  const checked = checkAttribute(name, 'path', path);
  // User agents ignore a Path that does not start with `/` and use the request's directory instead.
  if (!checked.startsWith('/')) fail(name, `path must start with /, not ${JSON.stringify(checked)}`);
  return checked;
}

const DOMAIN = /^\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;

function checkDomain(name: string, domain: unknown): string {
  const checked = checkAttribute(name, 'domain', domain);
  if (!DOMAIN.test(checked)) fail(name, `domain must be a host name (letters, digits, - and .; an IDN as its A-label), not ${JSON.stringify(checked)}`);
  return checked;
}

/** A character for an error message: `";" (U+003B) at index 3`, `a control character (U+007F) at index 0`. */
function charAt(text: string, index: number): string {
  const code = text.codePointAt(index)!;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  const control = code < 0x20 || (code >= 0x7f && code < 0xa0);
  return `${control ? `a control character (${hex})` : `${JSON.stringify(String.fromCodePoint(code))} (${hex})`} at index ${index}`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  return typeof value;
}

function fail(name: string, problem: string): never {
  throw new TypeError(`cookie ${JSON.stringify(name)}: ${problem}`);
}
