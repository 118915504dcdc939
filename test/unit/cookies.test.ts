/**
 * The cookie parser and serializer (src/app/cookies.ts), `res.cookie`, and signed cookies
 * (src/app/signed-cookies.ts): every character at the edge of each set, every limit at its value
 * and one past it, and a property test that what is serialized parses back.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  clearCookie,
  ErrorCode,
  MAX_ATTRIBUTE_LENGTH,
  MAX_COOKIE_LENGTH,
  MIN_KEY_BYTES,
  parseCookies,
  Response,
  serializeCookie,
  setCookie,
  signedCookies,
  type CookieOptions,
  type CookieTarget,
} from '../../src/index.ts';
import { NO_RESPONSE } from '../../src/app/response.ts';

const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** RFC 6265 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E. */
const COOKIE_OCTETS = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c))
  .filter((ch) => /[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]/.test(ch))
  .join('');

function refused(run: () => unknown, message: RegExp): void {
  assert.throws(run, (thrown: unknown) => {
    assert.ok(thrown instanceof TypeError, `a TypeError, got ${String(thrown)}`);
    assert.match(thrown.message, message);
    return true;
  });
}

describe('parseCookies', () => {
  test('splits on ;, trims spaces and tabs, skips pairs without = or a name, keeps the first of a name', () => {
    const cookies = parseCookies(' a=1 ;\tb = 2\t; a=3; junk ; =nameless;; c=; d=x=y ;');
    assert.deepEqual(Object.entries(cookies), [['a', '1'], ['b', '2'], ['c', ''], ['d', 'x=y']]);
  });

  test('a value wrapped in double quotes loses them; a lone or one-sided quote stays', () => {
    const cookies = parseCookies('a="x"; b=""; c="; d="x; e=x"; f=" y "');
    assert.deepEqual(Object.entries(cookies), [['a', 'x'], ['b', ''], ['c', '"'], ['d', '"x'], ['e', 'x"'], ['f', ' y ']]);
  });

  test('values are not percent-decoded, and other whitespace is not trimmed', () => {
    assert.deepEqual(Object.entries(parseCookies('a=%20x%3B; b=\u00a0y')), [['a', '%20x%3B'], ['b', '\u00a0y']]);
  });

  test('no header, an empty one, or nothing but separators: an empty record that inherits nothing', () => {
    for (const header of [undefined, '', ';;;', '   ', 'junk']) {
      const cookies = parseCookies(header);
      assert.equal(Object.getPrototypeOf(cookies), null);
      assert.deepEqual(Object.keys(cookies), []);
    }
  });

  test('__proto__, constructor and prototype are plain entries; nothing is inherited or polluted', () => {
    const cookies = parseCookies('__proto__=p; constructor=c; prototype=q; hasOwnProperty=h');
    assert.equal(Object.getPrototypeOf(cookies), null);
    assert.deepEqual(Object.keys(cookies), ['__proto__', 'constructor', 'prototype', 'hasOwnProperty']);
    assert.equal(cookies['__proto__'], 'p');
    assert.equal(({} as Record<string, unknown>)['p'], undefined);
    assert.equal(parseCookies('a=1')['toString'], undefined);
  });

  test('200 cookies in one header, then the same names again: 200 entries with the first values', () => {
    const header = [...Array.from({ length: 200 }, (_, i) => `n${i}=v${i}`), ...Array.from({ length: 200 }, (_, i) => `n${i}=late`)].join('; ');
    const cookies = parseCookies(header);
    assert.equal(Object.keys(cookies).length, 200);
    assert.equal(cookies['n0'], 'v0');
    assert.equal(cookies['n199'], 'v199');
  });

  test('never throws, and every entry has a non-empty name without ; or =', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        const cookies = parseCookies(header);
        for (const name of Object.keys(cookies)) assert.ok(name !== '' && !name.includes(';') && !name.includes('='));
      }),
      { numRuns: 500 },
    );
  });
});

describe('serializeCookie', () => {
  test('every attribute, in a fixed order', () => {
    const field = serializeCookie('id', 'v', {
      partitioned: true,
      sameSite: 'none',
      httpOnly: true,
      secure: true,
      path: '/app',
      domain: '.example.com',
      expires: new Date(Date.UTC(1994, 10, 6, 8, 49, 37)),
      maxAge: 60,
    });
    assert.equal(field, 'id=v; Max-Age=60; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Domain=.example.com; Path=/app; Secure; HttpOnly; SameSite=None; Partitioned');
    assert.equal(serializeCookie('id', ''), 'id=');
    assert.equal(serializeCookie('id', 'v', { secure: false, httpOnly: false, partitioned: false }), 'id=v');
    assert.equal(serializeCookie('id', 'v', { sameSite: 'Strict' }), 'id=v; SameSite=Strict');
    assert.equal(serializeCookie('id', 'v', { sameSite: 'LAX' as 'Lax' }), 'id=v; SameSite=Lax');
  });

  test('a name is an RFC 9110 token: each ASCII character is allowed exactly when it is a tchar', () => {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      if (TCHARS.includes(ch)) assert.equal(serializeCookie(`a${ch}`, '1'), `a${ch}=1`);
      else refused(() => serializeCookie(`a${ch}`, '1'), /^invalid cookie name .*: .* at index 1 is not allowed in a name/);
    }
    refused(() => serializeCookie('', '1'), /a cookie name must not be empty/);
    refused(() => serializeCookie('naïve', '1'), /"ï" \(U\+00EF\) at index 2/);
    refused(() => serializeCookie(1 as unknown as string, '1'), /a cookie name must be a string, not 1/);
  });

  test('a value is cookie-octets: each ASCII character is allowed exactly when it is one', () => {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      if (COOKIE_OCTETS.includes(ch)) assert.equal(serializeCookie('a', `x${ch}`), `a=x${ch}`);
      else refused(() => serializeCookie('a', `x${ch}`), /^cookie "a": .* at index 1 is not allowed in a value/);
    }
    refused(() => serializeCookie('a', 'x;y'), /";" \(U\+003B\) at index 1/);
    refused(() => serializeCookie('a', 'x,y'), /"," \(U\+002C\)/);
    refused(() => serializeCookie('a', 'x y'), /" " \(U\+0020\)/);
    refused(() => serializeCookie('a', 'x\ty'), /a control character \(U\+0009\)/);
    refused(() => serializeCookie('a', 'x\u0080'), /a control character \(U\+0080\)/);
    refused(() => serializeCookie('a', 'é'), /"é" \(U\+00E9\) at index 0/);
    refused(() => serializeCookie('a', '😀'), /"😀" \(U\+1F600\)/);
    refused(() => serializeCookie('a', 1 as unknown as string), /the value must be a string, not 1/);
  });

  test('a value may be wrapped in double quotes, but a quote elsewhere is refused', () => {
    assert.equal(serializeCookie('a', '"x"'), 'a="x"');
    assert.equal(serializeCookie('a', '""'), 'a=""');
    refused(() => serializeCookie('a', '"'), /"\\"" \(U\+0022\) at index 0/);
    refused(() => serializeCookie('a', '"x'), /at index 0/);
    refused(() => serializeCookie('a', 'x"'), /at index 1/);
    refused(() => serializeCookie('a', '"x"y"'), /at index 2/);
    refused(() => serializeCookie('a', '"x y"'), /" " \(U\+0020\) at index 2/);
  });

  test(`name and value together: ${MAX_COOKIE_LENGTH} characters pass, one more is refused`, () => {
    assert.equal(serializeCookie('n', 'v'.repeat(MAX_COOKIE_LENGTH - 1)).length, MAX_COOKIE_LENGTH + 1);
    refused(() => serializeCookie('n', 'v'.repeat(MAX_COOKIE_LENGTH)), new RegExp(`are ${MAX_COOKIE_LENGTH + 1} characters together`));
  });

  test(`path: starts with /, ASCII without controls or ;, at most ${MAX_ATTRIBUTE_LENGTH} characters`, () => {
    const longest = `/${'p'.repeat(MAX_ATTRIBUTE_LENGTH - 1)}`;
    assert.ok(serializeCookie('a', '1', { path: longest }).endsWith(`; Path=${longest}`));
    refused(() => serializeCookie('a', '1', { path: `${longest}p` }), /path is 1025 characters/);
    assert.equal(serializeCookie('a', '1', { path: '/a b,"c"=\\~' }), 'a=1; Path=/a b,"c"=\\~');
    refused(() => serializeCookie('a', '1', { path: '/a;b' }), /";" \(U\+003B\) at index 2 is not allowed in path/);
    refused(() => serializeCookie('a', '1', { path: '/a\r\nSet-Cookie: x=1' }), /a control character \(U\+000D\)/);
    refused(() => serializeCookie('a', '1', { path: '/\u007f' }), /a control character \(U\+007F\)/);
    refused(() => serializeCookie('a', '1', { path: '/é' }), /"é"/);
    refused(() => serializeCookie('a', '1', { path: 'app' }), /path must start with \//);
    refused(() => serializeCookie('a', '1', { path: '' }), /path must start with \//);
    refused(() => serializeCookie('a', '1', { path: 1 as unknown as string }), /path must be a string, not 1/);
  });

  test(`domain: a host name, at most ${MAX_ATTRIBUTE_LENGTH} characters`, () => {
    for (const domain of ['example.com', '.example.com', 'localhost', '127.0.0.1', 'xn--bcher-kva.example']) {
      assert.equal(serializeCookie('a', '1', { domain }), `a=1; Domain=${domain}`);
    }
    const longest = `${'d'.repeat(MAX_ATTRIBUTE_LENGTH - 4)}.com`;
    assert.ok(serializeCookie('a', '1', { domain: longest }).endsWith(longest));
    refused(() => serializeCookie('a', '1', { domain: `d${longest}` }), /domain is 1025 characters/);
    refused(() => serializeCookie('a', '1', { domain: 'a.com;b' }), /";" \(U\+003B\) at index 5 is not allowed in domain/);
    refused(() => serializeCookie('a', '1', { domain: 'a.com\n' }), /a control character \(U\+000A\)/);
    for (const domain of ['', 'a..com', 'a.com.', 'a com', 'a_b.com', 'a.com:80', 'bücher.example']) {
      refused(() => serializeCookie('a', '1', { domain }), /domain must be a host name|is not allowed in domain/);
    }
  });

  test('maxAge: a whole number of seconds, negative and 0 included', () => {
    for (const maxAge of [0, 1, -1, 34_560_000, Number.MAX_SAFE_INTEGER]) assert.equal(serializeCookie('a', '1', { maxAge }), `a=1; Max-Age=${maxAge}`);
    for (const maxAge of [1.5, Number.NaN, Infinity, 2 ** 53, '10' as unknown as number]) {
      refused(() => serializeCookie('a', '1', { maxAge }), /maxAge must be a whole number of seconds/);
    }
  });

  test('expires: a valid Date from year 1601 to 9999, as an IMF-fixdate', () => {
    assert.equal(serializeCookie('a', '1', { expires: new Date(Date.UTC(1601, 0, 1)) }), 'a=1; Expires=Mon, 01 Jan 1601 00:00:00 GMT');
    assert.equal(serializeCookie('a', '1', { expires: new Date(Date.UTC(9999, 11, 31, 23, 59, 59)) }), 'a=1; Expires=Fri, 31 Dec 9999 23:59:59 GMT');
    refused(() => serializeCookie('a', '1', { expires: new Date(Date.UTC(1600, 11, 31, 23, 59, 59)) }), /from year 1601 to 9999, not 1600/);
    refused(() => serializeCookie('a', '1', { expires: new Date(Date.UTC(10000, 0, 1)) }), /not 10000/);
    refused(() => serializeCookie('a', '1', { expires: new Date('not a date') }), /expires is an invalid Date/);
    refused(() => serializeCookie('a', '1', { expires: Date.now() as unknown as Date }), /expires must be a Date, not \d+/);
  });

  test('SameSite=None and Partitioned require Secure', () => {
    refused(() => serializeCookie('a', '1', { sameSite: 'None' }), /^cookie "a": SameSite=None requires secure: true/);
    assert.equal(serializeCookie('a', '1', { sameSite: 'None', secure: true }), 'a=1; Secure; SameSite=None');
    refused(() => serializeCookie('a', '1', { partitioned: true }), /partitioned requires secure: true/);
    refused(() => serializeCookie('a', '1', { sameSite: 'Loose' as 'Lax' }), /sameSite must be 'Strict', 'Lax' or 'None', not "Loose"/);
  });

  test('__Secure- needs Secure; __Host- needs Secure, Path=/ and no Domain; in any letter case', () => {
    for (const name of ['__Secure-a', '__secure-a', '__SECURE-a']) {
      refused(() => serializeCookie(name, '1'), /a __Secure- cookie requires secure: true/);
      assert.equal(serializeCookie(name, '1', { secure: true }), `${name}=1; Secure`);
    }
    for (const name of ['__Host-a', '__host-a']) {
      assert.equal(serializeCookie(name, '1', { secure: true, path: '/' }), `${name}=1; Path=/; Secure`);
      refused(() => serializeCookie(name, '1', { path: '/' }), /a __Host- cookie requires secure: true/);
      refused(() => serializeCookie(name, '1', { secure: true }), /a __Host- cookie requires path: '\/'/);
      refused(() => serializeCookie(name, '1', { secure: true, path: '/a' }), /requires path: '\/'/);
      refused(() => serializeCookie(name, '1', { secure: true, path: '/', domain: 'example.com' }), /a __Host- cookie must not have a domain/);
    }
    // Not a prefix: the rule is for the name's start only.
    assert.equal(serializeCookie('x__Host-a', '1'), 'x__Host-a=1');
    assert.equal(serializeCookie('__Hosts', '1'), '__Hosts=1');
  });

  test('an unknown option (a typo) or a flag that is not a boolean is refused', () => {
    refused(() => serializeCookie('a', '1', { httponly: true } as unknown as CookieOptions), /unknown option "httponly"/);
    refused(() => serializeCookie('a', '1', { secure: 'yes' } as unknown as CookieOptions), /secure must be true or false, not "yes"/);
    refused(() => serializeCookie('a', '1', null as unknown as CookieOptions), /the options must be an object/);
  });

  test('what is serialized parses back to the same name and value (property)', () => {
    const name = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 40 });
    const plain = fc.string({ unit: fc.constantFrom(...COOKIE_OCTETS), maxLength: 100 });
    const value = fc.oneof(plain, plain.map((v) => `"${v}"`));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, value), { selector: ([n]) => n, minLength: 1, maxLength: 10 }), (cookies) => {
        const header = cookies.map(([n, v]) => serializeCookie(n, v, { path: '/', httpOnly: true }).split('; ')[0]).join('; ');
        const parsed = parseCookies(header);
        // Compared by name: an object lists integer-like keys ("5") first, whatever the header's order.
        assert.equal(Object.keys(parsed).length, cookies.length);
        for (const [n, v] of cookies) assert.equal(parsed[n], v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v);
      }),
      { numRuns: 300 },
    );
  });
});

describe('setCookie, clearCookie and res.cookie', () => {
  test('each call adds a field after those already there, whatever the header is spelt', () => {
    const headers: CookieTarget = {};
    setCookie(headers, 'a', '1');
    setCookie(headers, 'b', '2', { httpOnly: true });
    assert.deepEqual(headers, { 'set-cookie': ['a=1', 'b=2; HttpOnly'] });
    const spelt: CookieTarget = { 'Set-Cookie': 'x=1' };
    setCookie(spelt, 'y', '2');
    assert.deepEqual(spelt, { 'Set-Cookie': ['x=1', 'y=2'] });
  });

  test("an app's frozen list is replaced, not changed", () => {
    const list = Object.freeze(['x=1']);
    const headers: CookieTarget = { 'set-cookie': list };
    setCookie(headers, 'y', '2');
    assert.deepEqual(headers['set-cookie'], ['x=1', 'y=2']);
    assert.deepEqual(list, ['x=1']);
  });

  test('a refused cookie adds nothing', () => {
    const headers: CookieTarget = {};
    refused(() => setCookie(headers, 'a', 'x;y'), /cookie "a"/);
    assert.deepEqual(headers, {});
  });

  test('clearCookie sends an empty value expired at the epoch, with the path and domain given', () => {
    const headers: CookieTarget = {};
    clearCookie(headers, 'sid', { path: '/app', domain: 'example.com', secure: true });
    assert.deepEqual(headers['set-cookie'], ['sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com; Path=/app; Secure']);
    refused(() => clearCookie(headers, 'sid', { maxAge: 10 } as CookieOptions), /maxAge and expires are not options here/);
    refused(() => clearCookie(headers, '__Host-sid', { secure: true }), /requires path: '\/'/);
  });

  test('res.cookie and res.clearCookie add to res.headers; the shared response of a one-parameter handler refuses', () => {
    const res = new Response();
    assert.equal(res.cookie('a', '1').cookie('b', '2', { secure: true }).clearCookie('c'), res);
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2; Secure', 'c=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
    refused(() => NO_RESPONSE.cookie('a', '1'), /res\.cookie\(\) needs a response of the handler's own: declare the handler with two parameters/);
    refused(() => NO_RESPONSE.clearCookie('a'), /res\.clearCookie\(\)/);
    assert.equal(NO_RESPONSE.hasHeaders, false);
  });
});

describe('signedCookies', () => {
  const A = 'a'.repeat(MIN_KEY_BYTES);
  const B = 'b'.repeat(MIN_KEY_BYTES);

  function refusedKeys(keys: unknown, message: RegExp): void {
    assert.throws(() => signedCookies({ keys } as { keys: string[] }), (thrown: unknown) => {
      assert.equal((thrown as { code?: unknown }).code, ErrorCode.ROUTE_DEFINITION);
      assert.match((thrown as Error).message, message);
      return true;
    });
  }

  test(`keys: a non-empty list of strings or bytes of at least ${MIN_KEY_BYTES} bytes each`, () => {
    refusedKeys([], /signedCookies needs keys: a non-empty array/);
    refusedKeys(undefined, /a non-empty array/);
    refusedKeys('x'.repeat(40), /a non-empty array/);
    refusedKeys([A, 'b'.repeat(MIN_KEY_BYTES - 1)], /keys\[1\] is 31 bytes; a key must be at least 32 bytes/);
    refusedKeys([''], /keys\[0\] is 0 bytes/);
    refusedKeys([42], /keys\[0\] must be a string or a Uint8Array, not number/);
    refusedKeys([new Uint8Array(MIN_KEY_BYTES - 1)], /keys\[0\] is 31 bytes/);
    // A string counts its UTF-8 bytes: 16 × "é" is 32 bytes.
    signedCookies({ keys: ['é'.repeat(16)] });
    signedCookies({ keys: [new Uint8Array(MIN_KEY_BYTES)] });
    assert.throws(() => signedCookies(undefined as unknown as { keys: string[] }), { code: ErrorCode.ROUTE_DEFINITION });
  });

  test('sign gives value.signature (HMAC-SHA256 over name=value, base64url); verify gives the value back', () => {
    const signer = signedCookies({ keys: [A] });
    const signed = signer.sign('sid', 'u42');
    assert.match(signed, /^u42\.[A-Za-z0-9_-]{43}$/);
    assert.equal(signer.verify('sid', signed), 'u42');
    assert.equal(signer.verify('sid', signer.sign('sid', '')), '');
    assert.equal(signer.verify('sid', signer.sign('sid', 'a.b.c')), 'a.b.c');
    assert.equal(signer.get({ cookies: { sid: signed } }, 'sid'), 'u42');
    assert.equal(signer.get({ cookies: {} }, 'sid'), undefined);
  });

  test('a changed value or signature, or a value moved to another name, does not verify', () => {
    const signer = signedCookies({ keys: [A] });
    const signed = signer.sign('sid', 'u42');
    const signature = signed.slice(4);
    for (const tampered of ['u43.' + signature, signed + 'A', signed.slice(0, -1), 'u42', '', '.' + signature, `u42.${signature.slice(0, -1)}=`]) {
      assert.equal(signer.verify('sid', tampered), undefined, tampered);
    }
    assert.equal(signer.verify('other', signed), undefined);
    assert.equal(signer.verify('sid', undefined), undefined);
  });

  test('the first key signs and every key verifies: a rotation', () => {
    const rotated = signedCookies({ keys: [B, A] });
    const onlyA = signedCookies({ keys: [A] });
    const onlyB = signedCookies({ keys: [B] });
    const old = onlyA.sign('sid', 'v');
    assert.equal(rotated.verify('sid', old), 'v');
    const fresh = rotated.sign('sid', 'v');
    assert.equal(onlyB.verify('sid', fresh), 'v');
    assert.equal(onlyA.verify('sid', fresh), undefined);
    assert.equal(signedCookies({ keys: [B] }).verify('sid', old), undefined);
  });

  test('set adds a Set-Cookie with the signed value; an invalid name or value is refused', () => {
    const signer = signedCookies({ keys: [A] });
    const headers: CookieTarget = {};
    signer.set(headers, 'sid', 'u1', { httpOnly: true });
    const [field] = headers['set-cookie'] as string[];
    assert.match(field!, /^sid=u1\.[A-Za-z0-9_-]{43}; HttpOnly$/);
    refused(() => signer.sign('sid', 'a;b'), /cookie "sid"/);
    refused(() => signer.sign('s d', 'v'), /invalid cookie name/);
    refused(() => signer.sign('sid', '"quoted"'), /cookie "sid"/);
  });
});
