/**
 * Static files end to end, over HTTP/1.1 and h2c: content types and validators, directories and
 * their index, dotfiles and symlinks, conditional requests and ranges (RFC 9110 §13, §14),
 * HEAD, precompressed siblings chosen by Accept-Encoding, and many files at once on one HTTP/2
 * connection. The hostile paths, the clients that leave mid-download and curl are in
 * static-safety.test.ts.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createClient, overEachClient, type Client } from '../helpers/clients.ts';
import { BIG_SIZE, CSS, withStaticServer } from '../helpers/static-tree.ts';

const served = withStaticServer();

const file = (path: string): Buffer => served.tree.files.get(path) as Buffer;
const N = BIG_SIZE;

overEachClient(['h1', 'h2c'], () => served.server.port, (client) => {
  const get = (path: string, headers: Record<string, string> = {}) => client().request(path, { headers });
  const head = (path: string, headers: Record<string, string> = {}) => client().request(path, { method: 'HEAD', headers });

  describe('files', () => {
    test('a file comes with its type, length, validators, cache policy and nosniff', async () => {
      const res = await get('/assets/data.json');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, file('data.json'));
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(res.headers['content-length'], String(file('data.json').byteLength));
      assert.match(String(res.headers['etag']), /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(!Number.isNaN(Date.parse(String(res.headers['last-modified']))));
      assert.equal(res.headers['cache-control'], 'public, max-age=0');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.equal(res.headers['vary'], undefined, 'no sibling, no Vary');
    });

    test('a file past 64 KiB streams whole, with its content-length', async () => {
      const res = await get('/assets/big.bin');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      assert.equal(res.headers['content-length'], String(N));
      assert.equal(res.headers['transfer-encoding'], undefined);
      assert.ok(res.body.equals(file('big.bin')));
    });

    test('names with a space, non-ASCII letters, no extension, an unknown extension, and an empty file', async () => {
      const space = await get('/assets/with%20space.txt');
      assert.deepEqual([space.status, space.text()], [200, 'a file with a space\n']);
      assert.equal(space.headers['content-type'], 'text/plain; charset=utf-8');
      const unicode = await get(`/assets/${encodeURIComponent('ünï✓ code.txt')}`);
      assert.deepEqual([unicode.status, unicode.text()], [200, 'a file with a unicode name\n']);
      assert.equal((await get('/assets/noext')).headers['content-type'], 'application/octet-stream');
      assert.equal((await get('/assets/odd.xyz')).headers['content-type'], 'application/octet-stream');
      const empty = await get('/assets/empty.txt');
      assert.deepEqual([empty.status, empty.headers['content-length'], empty.body.byteLength], [200, '0', 0]);
    });

    test('a missing file, and a file asked for as a directory, are 404 in the JSON error shape', async () => {
      for (const path of ['/assets/nope.txt', '/assets/app.css/', '/assets/sub/nope/', '/assets/empty-dir/']) {
        const res = await get(path);
        assert.equal(res.status, 404, path);
        assert.deepEqual(res.json(), { detail: 'Not Found' });
      }
    });

    test('the options of each route: cache policy, immutable, and a raw Cache-Control', async () => {
      assert.equal((await get('/strict/app.css')).headers['cache-control'], 'public, max-age=3600, immutable');
      assert.equal((await get('/open/app.css')).headers['cache-control'], 'no-cache');
    });

    test('other routes of the app still answer, and the static routes are not in the OpenAPI document', async () => {
      assert.equal((await get('/api/hello')).text(), 'hello');
      const doc = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
      assert.deepEqual(Object.keys(doc.paths), ['/api/hello']);
    });
  });

  describe('directories', () => {
    test('a directory with its slash gets its index file; the prefix "/" serves a whole tree', async () => {
      assert.equal((await get('/assets/')).text(), file('index.html').toString());
      assert.equal((await get('/assets/sub/')).text(), '<p>sub index</p>\n');
      const site = await get('/');
      assert.deepEqual([site.status, site.text(), site.headers['content-type']], [200, '<p>site</p>\n', 'text/html; charset=utf-8']);
      assert.equal((await get('/about.txt')).text(), 'about the site\n');
    });

    test('index names are tried in order', async () => {
      assert.equal((await get('/open/sub/')).text(), '<p>sub htm</p>\n');
      assert.equal((await get('/open/')).text(), file('index.html').toString());
    });

    test('a directory without its slash is redirected to it, query kept', async () => {
      const res = await get('/assets/sub?x=1');
      assert.equal(res.status, 301);
      assert.equal(res.headers['location'], '/assets/sub/?x=1');
    });

    test('index: false serves no directory', async () => {
      assert.equal((await get('/strict/')).status, 404);
      assert.equal((await get('/strict/sub')).status, 404);
      assert.equal((await get('/strict/sub/')).status, 404);
    });
  });

  describe('dotfiles and symlinks', () => {
    test("dotfiles: 'ignore' answers 404, 'deny' 403, 'allow' serves them", async () => {
      assert.equal((await get('/assets/.env')).status, 404);
      assert.equal((await get('/assets/.well-known/security.txt')).status, 404);
      assert.equal((await get('/strict/.env')).status, 403);
      assert.equal((await get('/strict/.git/config')).status, 403);
      const allowed = await get('/open/.well-known/security.txt');
      assert.deepEqual([allowed.status, allowed.text()], [200, 'Contact: mailto:security@example.com\n']);
    });

    test('a symlink to a file inside the root is served; to a dotfile it is not, unless dotfiles are allowed', async () => {
      const res = await get('/assets/in.css');
      assert.deepEqual([res.status, res.text(), res.headers['content-type']], [200, CSS, 'text/css; charset=utf-8']);
      assert.equal((await get('/assets/to-env.txt')).status, 404);
      assert.equal((await get('/strict/to-env.txt')).status, 403);
      assert.equal((await get('/open/to-env.txt')).status, 200);
    });

    test('a symlink leading out of the root, absolute or relative, to a file or a directory, and a loop, are 404', async () => {
      for (const path of ['/assets/out.txt', '/assets/abs-out.txt', '/assets/outdir/outside.txt', '/assets/outdir/', '/assets/loop', '/open/out.txt']) {
        const res = await get(path);
        assert.equal(res.status, 404, path);
        assert.ok(!res.text().includes(served.tree.sentinel), path);
      }
    });
  });

  describe('HEAD', () => {
    test('HEAD has the headers and content-length of GET, and no body', async () => {
      for (const path of ['/assets/data.json', '/assets/big.bin', '/assets/app.css']) {
        const full = await get(path);
        const res = await head(path);
        assert.equal(res.status, 200, path);
        assert.equal(res.body.byteLength, 0, path);
        assert.equal(res.headers['content-length'], String(full.body.byteLength), path);
        assert.equal(res.headers['etag'], full.headers['etag'], path);
        assert.equal(res.headers['content-type'], full.headers['content-type'], path);
      }
    });

    test('HEAD ignores Range (it is defined for GET only) and answers conditions like GET', async () => {
      const res = await head('/assets/big.bin', { range: 'bytes=0-9' });
      assert.deepEqual([res.status, res.headers['content-length'], res.headers['content-range']], [200, String(N), undefined]);
      const etag = String(res.headers['etag']);
      const cached = await head('/assets/big.bin', { 'if-none-match': etag });
      assert.deepEqual([cached.status, cached.body.byteLength], [304, 0]);
    });
  });

  describe('conditional requests (RFC 9110 §13)', () => {
    const etagOf = async (path: string, headers: Record<string, string> = {}): Promise<string> => String((await get(path, headers)).headers['etag']);

    test('If-None-Match with the ETag, in a list, weak, or *, is a 304 with validators and no body', async () => {
      const etag = await etagOf('/assets/big.bin');
      for (const inm of [etag, `"nope", ${etag}`, `W/${etag}`, '*', `"a,b", ${etag}`]) {
        const res = await get('/assets/big.bin', { 'if-none-match': inm });
        assert.equal(res.status, 304, inm);
        assert.equal(res.body.byteLength, 0, inm);
        assert.equal(res.headers['etag'], etag);
        assert.equal(res.headers['cache-control'], 'public, max-age=0');
        assert.ok(res.headers['last-modified'] !== undefined);
        assert.equal(res.headers['content-length'], undefined);
      }
      assert.equal((await get('/assets/big.bin', { 'if-none-match': '"other"' })).status, 200);
    });

    test('If-Modified-Since counts only without If-None-Match', async () => {
      const lastModified = String((await get('/assets/data.json')).headers['last-modified']);
      const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
      assert.equal((await get('/assets/data.json', { 'if-modified-since': lastModified })).status, 304);
      assert.equal((await get('/assets/data.json', { 'if-modified-since': earlier })).status, 200);
      assert.equal((await get('/assets/data.json', { 'if-modified-since': 'not a date' })).status, 200);
      // A non-matching If-None-Match wins over a matching If-Modified-Since.
      assert.equal((await get('/assets/data.json', { 'if-none-match': '"other"', 'if-modified-since': lastModified })).status, 200);
    });

    test('If-Match and If-Unmodified-Since fail with 412, checked before If-None-Match', async () => {
      const etag = await etagOf('/assets/data.json');
      const lastModified = String((await get('/assets/data.json')).headers['last-modified']);
      const earlier = new Date(Date.parse(lastModified) - 1000).toUTCString();
      assert.equal((await get('/assets/data.json', { 'if-match': etag })).status, 200);
      assert.equal((await get('/assets/data.json', { 'if-match': '*' })).status, 200);
      const failed = await get('/assets/data.json', { 'if-match': '"other"' });
      assert.deepEqual([failed.status, failed.json()], [412, { detail: 'Precondition Failed' }]);
      assert.equal((await get('/assets/data.json', { 'if-match': `W/${etag}` })).status, 412, 'If-Match compares strongly');
      assert.equal((await get('/assets/data.json', { 'if-unmodified-since': earlier })).status, 412);
      assert.equal((await get('/assets/data.json', { 'if-unmodified-since': lastModified })).status, 200);
      // If-Unmodified-Since counts only without If-Match.
      assert.equal((await get('/assets/data.json', { 'if-match': etag, 'if-unmodified-since': earlier })).status, 200);
      assert.equal((await get('/assets/data.json', { 'if-match': '"other"', 'if-none-match': etag })).status, 412);
    });
  });

  describe('ranges (RFC 9110 §14)', () => {
    const part = (res: { status: number; body: Buffer; headers: Record<string, unknown> }) => [res.status, res.headers['content-range'], res.headers['content-length']];

    test('first-last, crossing a 64 KiB read, and the exact last byte', async () => {
      const res = await get('/assets/big.bin', { range: 'bytes=65530-131080' });
      assert.deepEqual(part(res), [206, `bytes 65530-131080/${N}`, String(131080 - 65530 + 1)]);
      assert.ok(res.body.equals(file('big.bin').subarray(65530, 131081)));
      const last = await get('/assets/big.bin', { range: `bytes=${N - 1}-${N - 1}` });
      assert.deepEqual(part(last), [206, `bytes ${N - 1}-${N - 1}/${N}`, '1']);
      assert.deepEqual(last.body, file('big.bin').subarray(N - 1));
      const from = await get('/assets/big.bin', { range: `bytes=${N - 1}-` });
      assert.deepEqual([...part(from), from.body.byteLength], [206, `bytes ${N - 1}-${N - 1}/${N}`, '1', 1]);
    });

    test('first- and a last past the end are clamped to the file', async () => {
      const res = await get('/assets/big.bin', { range: 'bytes=300000-999999999' });
      assert.deepEqual(part(res), [206, `bytes 300000-${N - 1}/${N}`, String(N - 300000)]);
      assert.ok(res.body.equals(file('big.bin').subarray(300000)));
      const small = await get('/assets/data.json', { range: 'bytes=2-' });
      assert.equal(small.text(), file('data.json').subarray(2).toString());
    });

    test('suffixes: the last n bytes, and a suffix longer than the file is the whole file as 206', async () => {
      const res = await get('/assets/big.bin', { range: 'bytes=-5' });
      assert.deepEqual(part(res), [206, `bytes ${N - 5}-${N - 1}/${N}`, '5']);
      assert.deepEqual(res.body, file('big.bin').subarray(N - 5));
      const whole = await get('/assets/big.bin', { range: `bytes=-${N + 1000}` });
      assert.deepEqual(part(whole), [206, `bytes 0-${N - 1}/${N}`, String(N)]);
      assert.ok(whole.body.equals(file('big.bin')));
    });

    test('a range that starts at the end, or a zero suffix, is 416 with the size', async () => {
      for (const range of [`bytes=${N}-`, `bytes=${N}-${N + 5}`, 'bytes=-0']) {
        const res = await get('/assets/big.bin', { range });
        assert.deepEqual([res.status, res.headers['content-range']], [416, `bytes */${N}`], range);
      }
      assert.equal((await get('/assets/empty.txt', { range: 'bytes=0-' })).status, 416);
    });

    test('several ranges, other units and malformed ranges are ignored: 200 with the whole file', async () => {
      for (const range of ['bytes=0-1,5-6', 'items=0-1', 'bytes=5-2', 'bytes=a-b', 'bytes=', 'bytes=--1', 'bytes 0-1']) {
        const res = await get('/assets/data.json', { range });
        assert.deepEqual([res.status, res.headers['content-range'], res.text()], [200, undefined, file('data.json').toString()], range);
      }
    });

    test('If-Range: the current strong ETag or Last-Modified lets the range apply; anything else gets the whole file', async () => {
      const full = await get('/assets/big.bin');
      const etag = String(full.headers['etag']);
      const lastModified = String(full.headers['last-modified']);
      const ranged = (ifRange: string) => get('/assets/big.bin', { range: 'bytes=0-3', 'if-range': ifRange });
      assert.equal((await ranged(etag)).status, 206);
      assert.equal((await ranged(lastModified)).status, 206);
      for (const stale of ['"other"', `W/${etag}`, new Date(Date.parse(lastModified) - 1000).toUTCString()]) {
        const res = await ranged(stale);
        assert.deepEqual([res.status, res.body.byteLength], [200, N], stale);
      }
    });

    test('a range gets the identity file, never a precompressed sibling or on-the-fly compression', async () => {
      const res = await get('/assets/app.css', { range: 'bytes=0-9', 'accept-encoding': 'br, gzip' });
      assert.deepEqual([res.status, res.headers['content-encoding'], res.text()], [206, undefined, CSS.slice(0, 10)]);
      const csv = await get('/assets/data.csv', { range: 'bytes=0-7', 'accept-encoding': 'gzip' });
      assert.deepEqual([csv.status, csv.headers['content-encoding'], csv.text()], [206, undefined, 'id,name\n']);
      const whole = await get('/assets/data.csv', { 'accept-encoding': 'gzip' });
      assert.equal(whole.headers['content-encoding'], 'gzip', 'the compression plugin does compress the whole file');
      assert.deepEqual(gunzipSync(whole.body), file('data.csv'));
    });
  });

  describe('precompressed siblings', () => {
    const fetch = (path: string, acceptEncoding?: string) => get(path, acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding });

    test('br is preferred, gzip next, each with its own ETag, the file type and Vary', async () => {
      const br = await fetch('/assets/app.css', 'gzip, deflate, br');
      assert.deepEqual([br.headers['content-encoding'], br.headers['vary'], br.headers['content-type']], ['br', 'Accept-Encoding', 'text/css; charset=utf-8']);
      assert.equal(brotliDecompressSync(br.body).toString(), CSS);
      const gz = await fetch('/assets/app.css', 'gzip');
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.equal(gunzipSync(gz.body).toString(), CSS);
      const plain = await fetch('/assets/app.css');
      assert.deepEqual([plain.headers['content-encoding'], plain.headers['vary'], plain.text()], [undefined, 'Accept-Encoding', CSS]);
      assert.equal(new Set([br.headers['etag'], gz.headers['etag'], plain.headers['etag']]).size, 3);
      assert.equal((await fetch('/assets/app.css', 'br')).headers['etag'], br.headers['etag']);
    });

    test('q-values decide, and q=0 refuses an encoding, even one * would accept', async () => {
      const cases: Array<[string, string | undefined]> = [
        ['br;q=0, gzip', 'gzip'],
        ['gzip, br;q=0.5', 'gzip'],
        ['*', 'br'],
        ['*, br;q=0', 'gzip'],
        ['gzip;q=0, br;q=0', undefined],
        ['identity', undefined],
        ['', undefined],
      ];
      for (const [accept, expected] of cases) {
        const res = await fetch('/assets/app.css', accept);
        assert.equal(res.headers['content-encoding'], expected, accept);
        assert.equal(res.headers['vary'], 'Accept-Encoding', accept);
      }
    });

    test('only the siblings that exist are chosen; precompressed: false never looks', async () => {
      assert.equal((await fetch('/assets/only-gz.js', 'br, gzip')).headers['content-encoding'], 'gzip');
      const brOnly = await fetch('/assets/only-gz.js', 'br');
      assert.deepEqual([brOnly.headers['content-encoding'], brOnly.headers['vary']], [undefined, 'Accept-Encoding']);
      const strict = await fetch('/strict/app.css', 'br, gzip');
      assert.deepEqual([strict.headers['content-encoding'], strict.headers['vary'], strict.text()], [undefined, undefined, CSS]);
    });

    test('a 304 for the compressed representation compares its own ETag', async () => {
      const br = await fetch('/assets/app.css', 'br');
      const etag = String(br.headers['etag']);
      const hit = await get('/assets/app.css', { 'accept-encoding': 'br', 'if-none-match': etag });
      assert.deepEqual([hit.status, hit.headers['vary'], hit.headers['etag']], [304, 'Accept-Encoding', etag]);
      assert.equal((await get('/assets/app.css', { 'accept-encoding': 'gzip', 'if-none-match': etag })).status, 200);
    });
  });
});

describe('many files at once on one HTTP/2 connection', () => {
  let client: Client;
  before(() => {
    client = createClient('h2c', served.server.port);
  });
  after(() => client.close());

  test('each response carries the file its request asked for', async () => {
    const paths = ['big.bin', 'app.css', 'data.json', 'with space.txt', 'sub/page.txt', 'in.css', 'data.csv', 'index.html'];
    const asked = Array.from({ length: 48 }, (_, i) => paths[i % paths.length] as string);
    const answers = await Promise.all(
      asked.map((path, i) => client.request(`/assets/${path.split('/').map(encodeURIComponent).join('/')}`, i % 3 === 0 ? { headers: { range: 'bytes=1-' } } : {})),
    );
    answers.forEach((res, i) => {
      const path = asked[i] as string;
      const expected = i % 3 === 0 ? file(path).subarray(1) : file(path);
      assert.equal(res.status, i % 3 === 0 ? 206 : 200, path);
      assert.ok(res.body.equals(expected), `${path} #${i}`);
    });
  });
});
