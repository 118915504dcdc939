/**
 * Cookies end to end, over HTTP/1.1 and h2c, inline and on the pool: `req.cookies`, several
 * Set-Cookie fields that arrive as fields of their own, every attribute, a cookie added by an
 * onResponse hook, refusals answered 500 without taking the worker down, signed cookies with a
 * rotated key; then curl, with `--cookie` and with a cookie jar, over both protocols.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { Server } from '../../src/index.ts';
import { createClient, type Client, type SimpleResponse } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const COOKIES_APP = new URL('../fixtures/apps/cookies.ts', import.meta.url);

let server: Server;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, exposeErrors: true }, COOKIES_APP);
});
after(() => server.close());

interface CookiesSeen {
  isolate: string;
  cookies: Record<string, string>;
  names: string[];
  frozen: boolean;
  nullPrototype: boolean;
  once: boolean;
  inherited: string;
}

function setCookies(res: SimpleResponse): string[] {
  const value = res.headers['set-cookie'];
  // Node's clients give every Set-Cookie field as its own array item, never a joined string.
  assert.ok(Array.isArray(value), `set-cookie is a list of fields, got ${JSON.stringify(value)}`);
  return value;
}

/** `name=value` of the first Set-Cookie field named `name`. */
function pairOf(fields: readonly string[], name: string): string {
  const field = fields.find((f) => f.startsWith(`${name}=`));
  assert.ok(field !== undefined, `no ${name} in ${JSON.stringify(fields)}`);
  return field.split(';')[0]!;
}

const SET_FIELDS = [
  'a=1',
  'b=2; HttpOnly',
  'c=x%2Cy; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Domain=example.com; Path=/; Secure; HttpOnly; SameSite=None; Partitioned',
  '__Host-id="quoted"; Path=/; Secure; SameSite=Strict',
];

for (const kind of ['h1', 'h2c'] as const) {
  for (const [where, isolate] of [['inline', 'pinned'], ['pool', 'pooled']] as const) {
    describe(`cookies ${where} over ${kind}`, () => {
      let client: Client;
      before(() => {
        client = createClient(kind, server.port);
      });
      after(() => client.close());

      const read = async (cookie: string | string[]): Promise<CookiesSeen> => {
        const res = await client.request(`/${where}/cookies`, { headers: { cookie } as unknown as Record<string, string> });
        assert.equal(res.status, 200);
        const seen = res.json() as CookiesSeen;
        assert.equal(seen.isolate, isolate);
        return seen;
      };

      test('req.cookies holds each pair, trimmed and unquoted, the first of a name winning, malformed pairs skipped', async () => {
        // (No space at the very start or end: HTTP/2 refuses a field value with one.)
        const seen = await read('a=1 ;b = "two" ; a=3; junk; =nameless; c=;\td="; e=x=y;;');
        assert.deepEqual(seen.names, ['a', 'b', 'c', 'd', 'e']);
        assert.deepEqual(Object.entries(seen.cookies), [['a', '1'], ['b', 'two'], ['c', ''], ['d', '"'], ['e', 'x=y']]);
        assert.equal(seen.frozen, true);
        assert.equal(seen.nullPrototype, true);
        assert.equal(seen.once, true);
        assert.equal(seen.inherited, 'undefined');
      });

      test('__proto__, constructor and toString are ordinary cookie names', async () => {
        const seen = await read('__proto__=p; constructor=c; toString=t; hasOwnProperty=h');
        assert.deepEqual(seen.names, ['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
        assert.deepEqual(Object.values(seen.cookies), ['p', 'c', 't', 'h']);
        assert.equal(seen.inherited, 'string');
      });

      test('200 cookies are all read, and a repeated name keeps its first value; each answer is its own request', async () => {
        const pairs = Array.from({ length: 200 }, (_, i) => `c${i}=${kind}-${where}-${i}`);
        const seen = await read([...pairs, 'c0=late', 'c199=late'].join('; '));
        assert.equal(seen.names.length, 200);
        assert.equal(seen.cookies['c0'], `${kind}-${where}-0`);
        assert.equal(seen.cookies['c199'], `${kind}-${where}-199`);
        const [x, y] = await Promise.all([read('who=first'), read('who=second')]);
        assert.deepEqual([x.cookies['who'], y.cookies['who']], ['first', 'second']);
      });

      test('a Cookie header sent as several fields (HTTP/2 crumbs) reads as one', async () => {
        const seen = await read(['a=1', 'b=2', 'a=3']);
        assert.deepEqual(Object.entries(seen.cookies), [['a', '1'], ['b', '2']]);
      });

      test('no Cookie header: an empty record', async () => {
        const res = await client.request(`/${where}/cookies`);
        const seen = res.json() as CookiesSeen;
        assert.deepEqual(seen.names, []);
        assert.equal(seen.frozen, true);
      });

      test('res.cookie sends each cookie as a Set-Cookie field of its own, with every attribute', async () => {
        const res = await client.request(`/${where}/set`);
        assert.equal(res.status, 200);
        assert.equal(res.text(), `set on ${isolate}`);
        assert.deepEqual(setCookies(res), SET_FIELDS);
      });

      test('setCookie adds to a reply\'s headers, after a Set-Cookie the app spelt itself', async () => {
        const res = await client.request(`/${where}/reply`);
        assert.equal(res.status, 201);
        assert.deepEqual(res.json(), { isolate });
        assert.deepEqual(setCookies(res), ['first=1', 'second=2; Path=/', 'third=3; SameSite=Lax']);
      });

      test('res.clearCookie expires the cookie at once', async () => {
        const res = await client.request(`/${where}/clear`);
        assert.deepEqual(setCookies(res), ['a=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/']);
      });

      test('an onResponse hook adds a cookie next to the handler\'s', async () => {
        const res = await client.request(`/${where}/hooked`);
        assert.equal(res.text(), 'hooked');
        assert.deepEqual(setCookies(res), ['handler=1', 'hook=h; Path=/; HttpOnly']);
      });

      test('a valid value passes; one with ;, space, a DQUOTE inside or non-ASCII is a 500 naming the cookie, and the worker serves on', async () => {
        const good = await client.request(`/${where}/bad?value=${encodeURIComponent('"a!#$%&\'()*+-./:<=>?@[]^_`{|}~"')}`);
        assert.equal(good.status, 200);
        assert.deepEqual(setCookies(good), ['ok=1', 'bad="a!#$%&\'()*+-./:<=>?@[]^_`{|}~"; SameSite=Lax']);
        for (const [value, shown] of [['a;b', '";"'], ['a,b', '","'], ['a b', '" "'], ['a"b', '"\\""'], ['a\\b', '"\\\\"'], ['é', '"é"'], ['a\u007fb', 'a control character (U+007F)'], ['a\tb', 'a control character (U+0009)']] as const) {
          const res = await client.request(`/${where}/bad?value=${encodeURIComponent(value)}`);
          assert.equal(res.status, 500, value);
          assert.equal(res.headers['set-cookie'], undefined, 'a refused answer sends none of its cookies');
          const body = res.json() as { errorId: string; debug: string };
          assert.match(body.errorId, GENERATED_ID);
          assert.ok(body.debug.includes(`cookie "bad": ${shown}`), body.debug);
        }
        const none = await client.request(`/${where}/bad?value=v&samesite=none`);
        assert.equal(none.status, 500);
        assert.match((none.json() as { debug: string }).debug, /cookie "bad": SameSite=None requires secure: true/);
        const after = await read('still=here');
        assert.equal(after.cookies['still'], 'here');
      });

      test('a signed cookie round-trips; a tampered value or one moved to another name reads as undefined', async () => {
        const other = where === 'inline' ? 'pool' : 'inline';
        const set = await client.request(`/${where}/signed/set?v=u42`);
        const fields = setCookies(set);
        assert.equal(fields.length, 1);
        assert.match(fields[0]!, /^sid=u42\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly$/);
        const pair = pairOf(fields, 'sid');
        const signature = pair.slice(pair.lastIndexOf('.') + 1);
        // Verified where it was signed and on the other kind of isolate alike (same keys in each).
        for (const at of [where, other]) {
          const res = await client.request(`/${at}/signed/get`, { headers: { cookie: `${pair}; other=u42.${signature}` } });
          assert.deepEqual(res.json(), { isolate: at === 'inline' ? 'pinned' : 'pooled', sid: 'u42', other: null, byNewKeyOnly: 'u42' });
        }
        // The last character of a 43-character signature carries two unused bits: flipping the
        // lowest one leaves the decoded bytes as they were, and must fail all the same.
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const flipped = `${signature.slice(0, 42)}${alphabet[alphabet.indexOf(signature[42]!) ^ 1]}`;
        for (const cookie of [`sid=u43.${signature}`, `sid=u42.${flipped}`, `sid=u42.${signature}x`, 'sid=u42', `sid=u42.${signature.slice(0, 42)}`, `sid=.${signature}`]) {
          const res = await client.request(`/${where}/signed/get`, { headers: { cookie } });
          assert.equal((res.json() as { sid: unknown }).sid, null, cookie);
        }
      });

      test('a cookie signed with the old key still verifies while it is in the list; new ones are signed with the first key', async () => {
        const set = await client.request(`/${where}/signed/set-old?v=old1`);
        const pair = pairOf(setCookies(set), 'sid');
        const res = await client.request(`/${where}/signed/get`, { headers: { cookie: pair } });
        assert.deepEqual(res.json(), { isolate, sid: 'old1', other: null, byNewKeyOnly: null });
      });
    });
  }
}

// curl: a client of its own, with its own cookie parser and jar.
const run = promisify(execFile);
const curlFound = await run('curl', ['--version']).then(({ stdout }) => stdout, () => null);
const skip = curlFound === null ? 'curl is not installed' : !/HTTP2/.test(curlFound) ? 'this curl has no HTTP/2 support' : false;

describe('cookies with curl', { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fasterapi-cookies-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const curl = async (args: string[]): Promise<string> => (await run('curl', ['-sS', '--max-time', '10', ...args])).stdout;

  for (const [flag, name] of [['--http1.1', 'HTTP/1.1'], ['--http2-prior-knowledge', 'h2c']] as const) {
    for (const where of ['inline', 'pool'] as const) {
      test(`--cookie 'a=1; b=2' is read (${name}, ${where})`, async () => {
        const body = JSON.parse(await curl([flag, '--cookie', 'a=1; b=2', `${server.url}/${where}/cookies`])) as CookiesSeen;
        assert.deepEqual(Object.entries(body.cookies), [['a', '1'], ['b', '2']]);
      });

      test(`each Set-Cookie is a header line of its own on the wire (${name}, ${where})`, async () => {
        const head = await curl([flag, '-o', '/dev/null', '-D', '-', `${server.url}/${where}/set`]);
        const lines = head.split('\r\n').filter((line) => /^set-cookie:/i.test(line)).map((line) => line.slice('set-cookie:'.length).trim());
        assert.deepEqual(lines, SET_FIELDS);
      });

      test(`a cookie jar round trip: -c jar, then -b jar (${name}, ${where})`, async () => {
        const jar = join(dir, `jar-${name.replace("/", "")}-${where}`);
        await curl([flag, '-c', jar, '-o', '/dev/null', `${server.url}/${where}/reply`]);
        await curl([flag, '-b', jar, '-c', jar, '-o', '/dev/null', `${server.url}/${where}/signed/set?v=jar`]);
        const saved = await readFile(jar, 'utf8');
        assert.match(saved, /\tsid\tjar\.[A-Za-z0-9_-]{43}\n/);
        const seen = JSON.parse(await curl([flag, '-b', jar, `${server.url}/${where}/cookies`])) as CookiesSeen;
        assert.deepEqual([...seen.names].sort(), ['first', 'second', 'sid', 'third']);
        const signed = JSON.parse(await curl([flag, '-b', jar, `${server.url}/${where}/signed/get`])) as { sid: string };
        assert.equal(signed.sid, 'jar');
      });
    }
  }
});
