/**
 * The parts of static file serving that need no server: registration and its option checks,
 * content types, the RFC 9110 rules for validators, preconditions and ranges, and the path
 * checks run directly on decoded paths — without the router's normalisation in front, so the
 * module's own defences are what is tested.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { preferredEncoding } from '../../src/app/accept-encoding.ts';
import { appTable } from '../../src/app/app.ts';
import { openApiDocument } from '../../src/app/openapi.ts';
import { closeQuietly, locate, splitRequestPath } from '../../src/app/static/files.ts';
import { contentTypeOf } from '../../src/app/static/mime.ts';
import { resolveStatic, type StaticConfig } from '../../src/app/static/options.ts';
import { etagOf, evaluatePreconditions, ifRangeHolds, matchesList, parseRange, type Conditions } from '../../src/app/static/validators.ts';
import { App, ErrorCode, isFasterApiError, type StaticOptions } from '../../src/index.ts';
import { HOSTILE, makeStaticTree, type StaticTree } from '../helpers/static-tree.ts';

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (thrown: unknown) => {
    assert.ok(isFasterApiError(thrown), String(thrown));
    assert.equal(thrown.code, ErrorCode.ROUTE_DEFINITION);
    assert.match(thrown.message, message);
    return true;
  });
}

let tree: StaticTree;
before(() => {
  tree = makeStaticTree();
});
after(() => tree.remove());

describe('app.static() registration', () => {
  test('one GET route prefix/*, inline (never pooled), streaming, hidden from OpenAPI', () => {
    const app = new App();
    app.static('/assets', tree.root).static('/', pathToFileURL(join(tree.root, 'site')));
    const table = appTable(app);
    assert.ok(table !== null);
    assert.deepEqual(
      table.routes.map((r) => [r.method, r.path, r.pool, r.stream, r.docs.hidden]),
      [
        ['GET', '/assets/*', false, true, true],
        ['GET', '/*', false, true, true],
      ],
    );
    assert.deepEqual(openApiDocument(table).paths, {});
  });

  test('a trailing slash on the prefix is the same prefix; a relative directory is resolved against the working directory', () => {
    const app = new App();
    app.static('/a/', relative(process.cwd(), tree.root));
    assert.equal(appTable(app)?.routes[0]?.path, '/a/*');
    assert.equal(resolveStatic('/a', relative(process.cwd(), tree.root), undefined).config.root, tree.root);
  });

  test('a missing directory, or a file, is refused at registration, naming it', () => {
    const missing = join(tree.base, 'no-such-dir');
    refused(() => new App().static('/x', missing), new RegExp(`${missing}.*ENOENT`));
    refused(() => new App().static('/x', join(tree.root, 'app.css')), /app\.css is not a directory/);
    refused(() => new App().static('/x', new URL('https://example.com/')), /a path or a file: URL/);
    refused(() => new App().static('/x', '' as string), /path string or a file: URL/);
  });

  test('a prefix with params, a wildcard, dot segments or no leading slash is refused', () => {
    for (const prefix of ['assets', '/a/:id', '/a/*', '/a/../b', '/a//b', '/a?x', '/./a']) {
      refused(() => new App().static(prefix, tree.root), /the prefix must be a path/);
    }
  });

  test('each option is checked, and named when wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ index: 'index.html' }, /the index option/],
      [{ index: ['../x.html'] }, /the index option/],
      [{ index: ['a/b.html'] }, /the index option/],
      [{ index: [''] }, /the index option/],
      [{ dotfiles: 'show' }, /the dotfiles option/],
      [{ precompressed: 'yes' }, /the precompressed option/],
      [{ maxAge: -1 }, /the maxAge option/],
      [{ maxAge: 1.5 }, /the maxAge option/],
      [{ maxAge: 365 * 24 * 3600 + 1 }, /the maxAge option/],
      [{ immutable: 1 }, /the immutable option/],
      [{ cacheControl: 'no-cache', maxAge: 60 }, /replaces maxAge and immutable/],
      [{ cacheControl: 'bad\nvalue' }, /the cacheControl option/],
      [{ cacheControl: ' ' }, /the cacheControl option/],
      [{ maxage: 60 }, /unknown option "maxage"/],
      ['fast', /the options must be an object/],
    ];
    for (const [options, message] of cases) refused(() => new App().static('/x', tree.root, options as StaticOptions), message);
    // The limits themselves are accepted.
    assert.equal(resolveStatic('/x', tree.root, { maxAge: 365 * 24 * 3600 }).config.cacheControl, 'public, max-age=31536000');
    assert.equal(resolveStatic('/x', tree.root, { maxAge: 0, immutable: true }).config.cacheControl, 'public, max-age=0, immutable');
  });

  test('cannot be added once the server has started', () => {
    const app = new App();
    appTable(app)?.freeze();
    refused(() => app.static('/x', tree.root), /after the server started/);
  });
});

describe('content types', () => {
  test('by extension, any case; text says UTF-8; unknown, none and bare dotfiles are binary', () => {
    const cases: Array<[string, string]> = [
      ['a.html', 'text/html; charset=utf-8'],
      ['A.CSS', 'text/css; charset=utf-8'],
      ['x.mjs', 'text/javascript; charset=utf-8'],
      ['x.map', 'application/json; charset=utf-8'],
      ['x.svg', 'image/svg+xml; charset=utf-8'],
      ['x.woff2', 'font/woff2'],
      ['x.wasm', 'application/wasm'],
      ['x.jpeg', 'image/jpeg'],
      ['dir.d/file', 'application/octet-stream'],
      ['.html', 'application/octet-stream'],
      ['x.tar.xyz', 'application/octet-stream'],
      ['x.', 'application/octet-stream'],
    ];
    for (const [name, type] of cases) assert.equal(contentTypeOf(name), type, name);
  });
});

describe('validators and preconditions (RFC 9110 §13)', () => {
  const etag = etagOf({ size: 255, mtimeMs: 4096.7 });
  const none: Conditions = { ifMatch: undefined, ifNoneMatch: undefined, ifModifiedSince: undefined, ifUnmodifiedSince: undefined };
  const at = (seconds: number): string => new Date(seconds * 1000).toUTCString();

  test('the ETag is strong, from size and mtime in hex, with a suffix for another representation', () => {
    assert.equal(etag, '"ff-1000"');
    assert.equal(etagOf({ size: 255, mtimeMs: 4096.7 }, 'br'), '"ff-1000-br"');
  });

  test('entity-tag lists: weak comparison ignores W/, strong never matches a weak tag, * matches all', () => {
    assert.equal(matchesList(`"a", ${etag}`, etag, false), true);
    assert.equal(matchesList(`W/${etag}`, etag, false), true);
    assert.equal(matchesList(`W/${etag}`, etag, true), false);
    assert.equal(matchesList(' * ', etag, true), true);
    assert.equal(matchesList('"ff-1000, "x"', etag, false), false);
    assert.equal(matchesList('ff-1000', etag, false), false, 'unquoted is not a tag');
  });

  test('the order of §13.2.2: If-Match, else If-Unmodified-Since (412), then If-None-Match, else If-Modified-Since (304)', () => {
    const check = (c: Partial<Conditions>, modified = 1000) => evaluatePreconditions({ ...none, ...c }, etag, modified);
    assert.equal(check({}), 'proceed');
    assert.equal(check({ ifMatch: '"x"', ifNoneMatch: etag }), 412);
    assert.equal(check({ ifMatch: etag, ifNoneMatch: etag }), 304);
    assert.equal(check({ ifUnmodifiedSince: at(999) }), 412);
    assert.equal(check({ ifUnmodifiedSince: at(1000) }), 'proceed');
    assert.equal(check({ ifMatch: etag, ifUnmodifiedSince: at(999) }), 'proceed');
    assert.equal(check({ ifUnmodifiedSince: 'garbage' }), 'proceed');
    assert.equal(check({ ifModifiedSince: at(1000) }), 304);
    assert.equal(check({ ifModifiedSince: at(999) }), 'proceed');
    assert.equal(check({ ifNoneMatch: '"x"', ifModifiedSince: at(1000) }), 'proceed');
  });

  test('If-Range: a strong ETag equal to the current one, or exactly Last-Modified', () => {
    assert.equal(ifRangeHolds(etag, etag, 1000), true);
    assert.equal(ifRangeHolds(`W/${etag}`, etag, 1000), false);
    assert.equal(ifRangeHolds('"other"', etag, 1000), false);
    assert.equal(ifRangeHolds(at(1000), etag, 1000), true);
    assert.equal(ifRangeHolds(at(1001), etag, 1000), false);
    assert.equal(ifRangeHolds('garbage', etag, 1000), false);
  });
});

describe('ranges (RFC 9110 §14.1.2)', () => {
  test('at the limits of a 100-byte file', () => {
    const cases: Array<[string, ReturnType<typeof parseRange>]> = [
      ['bytes=0-0', { start: 0, end: 0 }],
      ['bytes=99-99', { start: 99, end: 99 }],
      ['bytes=99-', { start: 99, end: 99 }],
      ['bytes=100-', 'unsatisfiable'],
      ['bytes=100-100', 'unsatisfiable'],
      ['bytes=0-99', { start: 0, end: 99 }],
      ['bytes=0-100', { start: 0, end: 99 }],
      ['bytes=-1', { start: 99, end: 99 }],
      ['bytes=-100', { start: 0, end: 99 }],
      ['bytes=-101', { start: 0, end: 99 }],
      ['bytes=-0', 'unsatisfiable'],
      ['BYTES = 5-6', { start: 5, end: 6 }],
      ['bytes=6-5', 'ignore'],
      ['bytes=0-1,3-4', 'ignore'],
      ['bytes=-', 'ignore'],
      ['bytes=1', 'ignore'],
      ['bytes=+1-2', 'ignore'],
      ['bytes=0x1-2', 'ignore'],
      ['lines=0-1', 'ignore'],
      ['bytes=99999999999999999999-', 'unsatisfiable'],
    ];
    for (const [header, expected] of cases) assert.deepEqual(parseRange(header, 100), expected, header);
    assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
    assert.equal(parseRange('bytes=-5', 0), 'unsatisfiable');
  });
});

describe('Accept-Encoding', () => {
  test('q=0 refuses an encoding, also one * would accept; ties go to the order offered', () => {
    assert.equal(preferredEncoding('br;q=0, *', ['br', 'gzip']), 'gzip');
    assert.equal(preferredEncoding('gzip, br', ['br', 'gzip']), 'br');
    assert.equal(preferredEncoding('gzip;q=1, br;q=0.9', ['br', 'gzip']), 'gzip');
    assert.equal(preferredEncoding('x-gzip', ['br', 'gzip']), 'gzip');
    assert.equal(preferredEncoding('*;q=0', ['br', 'gzip']), null);
    assert.equal(preferredEncoding(undefined, ['br']), null);
  });
});

describe('paths, checked without the router in front', () => {
  let config: StaticConfig;
  before(() => {
    config = resolveStatic('/assets', tree.root, undefined).config;
  });

  test('splitting refuses NUL, backslashes, colons, absolute paths and empty, . or .. segments', () => {
    for (const rest of ['..', '../x', 'a/../b', './a', 'a/./b', 'a//b', '/etc/passwd', 'a\\b', '..\\x', 'C:/x', 'c:x', 'a\0b', 'x/..', 'x/../']) {
      assert.equal(splitRequestPath(rest), null, JSON.stringify(rest));
    }
    assert.deepEqual(splitRequestPath(''), { segments: [], directory: true, dotfile: false });
    assert.deepEqual(splitRequestPath('a/b.txt'), { segments: ['a', 'b.txt'], directory: false, dotfile: false });
    assert.deepEqual(splitRequestPath('a/.b/'), { segments: ['a', '.b'], directory: true, dotfile: true });
    assert.deepEqual(splitRequestPath('...'), { segments: ['...'], directory: false, dotfile: true });
  });

  test('every corpus path, decoded as the router decodes it, finds nothing outside the root, also with dotfiles allowed', async () => {
    const open = resolveStatic('/open', tree.root, { dotfiles: 'allow' }).config;
    for (const path of HOSTILE) {
      const rest = path.replace(/^\/(?:assets|strict|open)\//, '').replace(/^\//, '');
      let decoded: string;
      try {
        decoded = decodeURIComponent(rest);
      } catch {
        continue; // the router answers 400 before any handler
      }
      for (const form of [rest, decoded]) {
        for (const [name, settings] of [['default', config], ['dotfiles allowed', open]] as const) {
          const found = await locate(settings, form);
          if (found.kind !== 'opened') continue;
          closeQuietly(found.handle);
          // With dotfiles allowed, a dotfile inside the root may be served; nothing outside may.
          assert.ok(name === 'dotfiles allowed' && found.path.startsWith(`${tree.root}/`), `${path} (as ${JSON.stringify(form)}) opened ${found.path}`);
        }
      }
    }
  });

  test('a symlink swapped to lead outside after registration is refused on the next request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasterapi-static-unit-'));
    try {
      writeFileSync(join(dir, 'a.txt'), 'a');
      // dotfiles allowed: the root's own check alone must refuse it (`..` is no dotfile then).
      const own = resolveStatic('/x', dir, { dotfiles: 'allow' }).config;
      const first = await locate(own, 'a.txt');
      assert.equal(first.kind, 'opened');
      if (first.kind === 'opened') closeQuietly(first.handle);
      rmSync(join(dir, 'a.txt'));
      symlinkSync(join(tree.base, 'outside.txt'), join(dir, 'a.txt'));
      assert.equal((await locate(own, 'a.txt')).kind, 'missing');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
