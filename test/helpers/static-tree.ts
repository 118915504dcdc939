/**
 * The directory the static-file tests serve, made in a temporary folder: files of every kind a
 * static route meets (precompressed siblings, a streamed size, a space and non-ASCII in a name,
 * dotfiles, symlinks inside and out of the root), and a sentinel file outside the root whose
 * content no response may ever carry.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { Server } from '../../src/index.ts';
import { after, before } from 'node:test';
import { startTestServer } from './server.ts';

export interface StaticTree {
  /** The temporary folder: `root/` is served, the rest is outside it. */
  readonly base: string;
  readonly root: string;
  /** The content of the files outside the root (unique to this run). */
  readonly sentinel: string;
  /** Files under the root by request path (relative, unencoded), with their bytes. */
  readonly files: ReadonlyMap<string, Buffer>;
  remove(): void;
}

/** Bytes of the file that is streamed (past the 64 KiB read-whole limit, not a multiple of 64 KiB). */
export const BIG_SIZE = 300_007;
export const CSS = 'body { color: rebeccapurple; }\n'.repeat(40);

export function makeStaticTree(): StaticTree {
  const base = mkdtempSync(join(tmpdir(), 'fasterapi-static-'));
  const root = join(base, 'root');
  const sentinel = `SENTINEL-${randomBytes(8).toString('hex')}`;
  const files = new Map<string, Buffer>();
  const put = (path: string, content: string | Buffer): void => {
    const bytes = Buffer.from(content);
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), bytes);
    files.set(path, bytes);
  };

  writeFileSync(join(base, 'outside.txt'), sentinel);
  mkdirSync(join(base, 'outdir'));
  writeFileSync(join(base, 'outdir', 'outside.txt'), sentinel);
  writeFileSync(join(base, '.hidden-outside'), sentinel);

  put('index.html', '<!doctype html><title>root index</title>\n');
  put('app.css', CSS);
  writeFileSync(join(root, 'app.css.br'), brotliCompressSync(CSS));
  writeFileSync(join(root, 'app.css.gz'), gzipSync(CSS));
  put('only-gz.js', 'console.log("gzip only");\n'.repeat(20));
  writeFileSync(join(root, 'only-gz.js.gz'), gzipSync(files.get('only-gz.js') as Buffer));
  put('big.bin', Buffer.from(Array.from({ length: BIG_SIZE }, (_, i) => (i * 7 + (i >> 8)) & 0xff)));
  put('data.csv', 'id,name\n'.concat(Array.from({ length: 200 }, (_, i) => `${i},row ${i}\n`).join('')));
  put('with space.txt', 'a file with a space\n');
  put('ünï✓ code.txt', 'a file with a unicode name\n');
  put('noext', 'no extension\n');
  put('odd.xyz', 'unknown extension\n');
  put('data.json', '{"ok":true}\n');
  put('empty.txt', '');
  put('.env', `SECRET=${sentinel}\n`);
  put('.git/config', `[core] ${sentinel}\n`);
  put('.well-known/security.txt', 'Contact: mailto:security@example.com\n');
  put('sub/index.html', '<p>sub index</p>\n');
  put('sub/index.htm', '<p>sub htm</p>\n');
  put('sub/page.txt', 'sub page\n');
  put('site/index.html', '<p>site</p>\n');
  put('site/about.txt', 'about the site\n');
  mkdirSync(join(root, 'empty-dir'));

  symlinkSync('app.css', join(root, 'in.css')); // inside, to a file inside: served
  symlinkSync('../outside.txt', join(root, 'out.txt')); // inside, to a file outside: refused
  symlinkSync('../outdir', join(root, 'outdir')); // a directory outside
  symlinkSync('.env', join(root, 'to-env.txt')); // to a dotfile
  symlinkSync('loop', join(root, 'loop')); // to itself
  symlinkSync(join(base, 'outside.txt'), join(root, 'abs-out.txt')); // absolute, outside
  files.set('in.css', Buffer.from(CSS));

  return { base, root, sentinel, files, remove: () => rmSync(base, { recursive: true, force: true }) };
}

/** The app that serves the tree (test/fixtures/apps/static.ts). */
export const STATIC_APP = new URL('../fixtures/apps/static.ts', import.meta.url);

/**
 * A fresh tree and the static test app serving it on two pinned workers and a pool, made before
 * the file's tests and removed after them. The directory goes to the app through the
 * environment, which worker isolates inherit when they are spawned.
 */
export function withStaticServer(): { readonly tree: StaticTree; readonly server: Server } {
  let tree: StaticTree | undefined;
  let server: Server | undefined;
  before(async () => {
    tree = makeStaticTree();
    process.env['STATIC_TEST_DIR'] = tree.root;
    server = await startTestServer({ pinnedWorkers: 2, pooledWorkers: 1 }, STATIC_APP);
  });
  after(async () => {
    await server?.close();
    tree?.remove();
  });
  const made = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the static server is made before the tests');
    return value;
  };
  return {
    get tree() {
      return made(tree);
    },
    get server() {
      return made(server);
    },
  };
}

/** How many descriptors this process holds open on files under `dir` (Linux: /proc/self/fd); null elsewhere. */
export function openFilesUnder(dir: string): number | null {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  let count = 0;
  for (const name of names) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith(dir)) count++;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}

/**
 * Request paths that try to leave the root of the test app's static routes, or reach what they
 * hide (see test/fixtures/apps/static.ts); each must be refused with 400, 403 or 404.
 */
export const HOSTILE: readonly string[] = [
  '/assets/../outside.txt',
  '/assets/../../outside.txt',
  '/assets/..%2foutside.txt',
  '/assets/..%2Foutside.txt',
  '/assets/%2e%2e/outside.txt',
  '/assets/%2E%2E/outside.txt',
  '/assets/.%2e/outside.txt',
  '/assets/%2e./outside.txt',
  '/assets/%2e%2e%2foutside.txt',
  '/assets/sub/%2e%2e/%2e%2e/outside.txt',
  '/assets/sub/../../outside.txt',
  '/assets/%252e%252e/outside.txt',
  '/assets/%252e%252e%252foutside.txt',
  '/assets/..%252foutside.txt',
  '/assets/..\\outside.txt',
  '/assets/\\..\\..\\outside.txt',
  '/assets/..%5coutside.txt',
  '/assets/..%5Coutside.txt',
  '/assets/%5c..%5coutside.txt',
  '/assets/%2e%2e%5c%2e%2e%5coutside.txt',
  '/assets/..%00/outside.txt',
  '/assets/outside.txt%00.css',
  '/assets/app.css%00',
  '/assets/.env%00',
  '/assets/%c0%ae%c0%ae/outside.txt',
  '/assets/%c0%ae%c0%ae%c0%afoutside.txt',
  '/assets/..%c0%af..%c0%afoutside.txt',
  '/assets/%e0%80%ae%e0%80%ae/outside.txt',
  '/assets/%u002e%u002e/outside.txt',
  '/assets/....//outside.txt',
  '/assets/....//....//outside.txt',
  '/assets/..;/outside.txt',
  '//etc/passwd',
  '/assets//etc/passwd',
  '/assets/%2fetc%2fpasswd',
  '/assets/..%2f..%2fetc/passwd',
  '/assets/../../../../../../../../etc/passwd',
  '/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/assets/C:/Windows/win.ini',
  '/assets/C:%5cWindows%5cwin.ini',
  '/assets/c:outside.txt',
  '/assets/app.css:stream',
  '/assets/out.txt',
  '/assets/abs-out.txt',
  '/assets/outdir/outside.txt',
  '/assets/loop',
  '/assets/.env',
  '/assets/.git/config',
  '/assets/%2eenv',
  '/assets/%2egit/config',
  '/assets/to-env.txt',
  '/assets/sub/..%2f.env',
  '/strict/.env',
  '/strict/out.txt',
  '/open/out.txt',
  '/open/outdir/outside.txt',
  '/../outside.txt',
  '/%2e%2e/outside.txt',
  '/..%2foutside.txt',
  '/site/../../outside.txt',
];
