/**
 * Whether Node's `respondWithFD` would serve static files faster over HTTP/2 than the stream the
 * server sends today, measured with h2load on one 64 KiB file, three ways, each server on one
 * thread in a process of its own:
 *
 *   fd        raw node:http2, open + fstat + `stream.respondWithFD(handle, headers)`
 *   stream    raw node:http2, open + fstat + `handle.createReadStream()` piped to the stream
 *   fasterapi `app.static()` on one pinned worker (the stream path, with every check it makes:
 *             realpath, dotfiles, precompressed siblings, conditions)
 *   memory    the same server answering the same bytes from memory: the floor for the framework
 *
 * Run: ./node_modules/.bin/node bench/static-fd.ts [requests] (h2load must be installed)
 */

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FILE_SIZE = 64 * 1024;
const ROUNDS = 3;
const mode = process.argv[2];

if (mode === '--server') {
  // A child: serve the file one way and print the port.
  const [, , , how, file] = process.argv as [string, string, string, 'fd' | 'stream', string];
  const server = http2.createServer();
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    void (async () => {
      const handle = await open(file, 'r');
      const stat = await handle.stat();
      const headers = { ':status': 200, 'content-type': 'application/octet-stream', 'content-length': stat.size };
      if (how === 'fd') {
        stream.respondWithFD(handle, headers);
        stream.once('close', () => void handle.close().catch(() => {}));
      } else {
        stream.respond(headers);
        handle.createReadStream({ highWaterMark: 64 * 1024 }).pipe(stream);
      }
    })();
  });
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${(server.address() as { port: number }).port}`));
} else if (mode === '--fasterapi') {
  const [, , , dir] = process.argv as [string, string, string, string];
  process.env['STATIC_BENCH_DIR'] = dir;
  const { serve } = await import('../src/index.ts');
  const server = await serve(new URL('./static-fd-app.ts', import.meta.url), { host: '127.0.0.1', port: 0, pinnedWorkers: 1, logLevel: 'silent' });
  console.log(`PORT ${server.port}`);
} else {
  const requests = Number(mode ?? 20_000);
  const dir = mkdtempSync(join(tmpdir(), 'fasterapi-static-bench-'));
  const file = join(dir, 'file.bin');
  writeFileSync(file, Buffer.alloc(FILE_SIZE, 0x61));
  const self = fileURLToPath(import.meta.url);
  const runs: Array<[string, string[], string]> = [
    ['fd', ['--server', 'fd', file], '/file.bin'],
    ['stream', ['--server', 'stream', file], '/file.bin'],
    ['fasterapi', ['--fasterapi', dir], '/s/file.bin'],
    ['memory', ['--fasterapi', dir], '/memory'],
  ];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, args, path] of runs) {
        const child = spawn(process.execPath, [self, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        const port = await new Promise<number>((resolve) => {
          child.stdout.on('data', (chunk: Buffer) => {
            const found = /PORT (\d+)/.exec(chunk.toString());
            if (found !== null) resolve(Number(found[1]));
          });
        });
        const out = execFileSync('h2load', ['-n', String(requests), '-c', '10', '-m', '10', `http://127.0.0.1:${port}${path}`]).toString();
        const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1];
        const ok = /(\d+) succeeded/.exec(out)?.[1];
        console.log(`round ${round} ${name.padEnd(9)} ${rps} req/s (${ok}/${requests} succeeded)`);
        child.kill();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
