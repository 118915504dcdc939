/**
 * Reloading without downtime (generations.ts): a new generation imports the app afresh and
 * takes over the listening sockets; one that fails to load, or whose isolates disagree on the
 * routes, is refused and the old one serves on; fresh connections arriving during reloads are
 * never reset; counts survive; `--watch` reloads on a change.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ErrorCode, type Server } from '../../src/index.ts';
import { CliProcess } from '../helpers/cli.ts';
import { createClient } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';

const INDEX = pathToFileURL(new URL('../../src/index.ts', import.meta.url).pathname).href;

/**
 * An app whose `/version` says `version` and that has a route of its own, `/only-<version>`.
 * `/version` stays inline: while a new generation boots beside the old one on two cores, a
 * worker's event loop lags, and a route that may spill is then shed (503) when the pool has no
 * idle slot, by design (docs/architecture.md, "Where a request runs"); the reload tests count
 * connections, not the spill policy.
 */
function appSource(version: string, extra = ''): string {
  return `import { App } from ${JSON.stringify(INDEX)};
import { threadId } from 'node:worker_threads';
const app = new App();
app.get('/version', () => ${JSON.stringify(version)}, { pool: false });
app.get('/only-${version}', () => 'yes');
app.get('/pooled-version', () => ${JSON.stringify(version)}, { pool: true });
${extra}
export default app;
`;
}

/** One request on a connection of its own: its status and body. */
async function fresh(server: Server, path: string): Promise<{ status: number; body: string }> {
  const client = createClient('h1', server.port);
  try {
    const res = await client.request(path);
    return { status: res.status, body: res.text() };
  } finally {
    await client.close();
  }
}

const folder = mkdtempSync(join(tmpdir(), 'fasterapi-reload-'));
after(() => rmSync(folder, { recursive: true, force: true }));

for (const listener of ['reuseport', 'acceptor'] as const) {
  describe(`reload (${listener})`, () => {
    const appFile = join(folder, `app-${listener}.ts`);
    let server: Server;
    before(async () => {
      writeFileSync(appFile, appSource('one'));
      server = await startTestServer({ listener, pinnedWorkers: 2, pooledWorkers: 2, pooledIsolates: 1, adminPort: 0 }, pathToFileURL(appFile));
    });
    after(() => server.close());

    test('a new version serves its routes, inline and pooled, and the old routes are gone', async () => {
      assert.deepEqual(await fresh(server, '/version'), { status: 200, body: 'one' });
      assert.equal(server.generation, 1);
      const before = { pinned: [...server.workerThreadIds], pooled: [...server.pooledThreadIds] };
      writeFileSync(appFile, appSource('two'));
      const reloaded = await server.reload();
      assert.equal(reloaded.generation, 2);
      assert.deepEqual(reloaded.added, ['GET:/only-two']);
      assert.deepEqual(reloaded.removed, ['GET:/only-one']);
      assert.equal(server.generation, 2);
      assert.deepEqual(await fresh(server, '/version'), { status: 200, body: 'two' });
      assert.deepEqual(await fresh(server, '/pooled-version'), { status: 200, body: 'two' });
      assert.equal((await fresh(server, '/only-two')).status, 200);
      assert.equal((await fresh(server, '/only-one')).status, 404);
      // Every isolate is new.
      for (const id of server.workerThreadIds) assert.ok(!before.pinned.includes(id));
      for (const id of server.pooledThreadIds) assert.ok(!before.pooled.includes(id));
      assert.equal(server.workerThreadIds.length, 2);
      assert.equal((await fetch(`${server.adminUrl}/readyz`)).status, 200);
    });

    test('a version that fails to load is refused with its error, and the serving one goes on', async () => {
      writeFileSync(appFile, `${appSource('three')}\nthrow new Error('half-saved file');\n`);
      await assert.rejects(server.reload(), (error: { code: string; message: string }) => {
        assert.equal(error.code, ErrorCode.APP_LOAD);
        assert.match(error.message, /half-saved file/);
        return true;
      });
      assert.equal(server.generation, 2);
      assert.deepEqual(await fresh(server, '/version'), { status: 200, body: 'two' });
      assert.equal(server.workerThreadIds.length, 2);
    });

    test('a version whose isolates build different route tables is refused', async () => {
      writeFileSync(appFile, appSource('four', `if (threadId % 2 === 0) app.get('/sometimes', () => 'odd');`));
      await assert.rejects(server.reload(), (error: { code: string }) => error.code === ErrorCode.ROUTE_TABLE_MISMATCH);
      assert.deepEqual(await fresh(server, '/version'), { status: 200, body: 'two' });
    });

    test('fresh connections arriving through five reloads are all answered, none reset', async () => {
      let answered = 0;
      const failures: string[] = [];
      let running = true;
      const loop = async (): Promise<void> => {
        while (running) {
          await new Promise<void>((resolve) => {
            const socket = net.connect(server.port, '127.0.0.1');
            let text = '';
            let done = false;
            const end = (failure: string | null): void => {
              if (done) return;
              done = true;
              if (failure === null) answered++;
              else failures.push(failure);
              socket.destroy();
              resolve();
            };
            socket.setEncoding('latin1');
            socket.on('data', (chunk: string) => {
              text += chunk;
              if (/^HTTP\/1\.1 200 [^]*\r\n\r\n\w+$/.test(text)) end(null);
            });
            socket.on('error', (error: NodeJS.ErrnoException) => end(error.code ?? error.message));
            socket.on('close', () => end(`closed after ${JSON.stringify(text)}`));
            socket.write('GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          });
        }
      };
      const loops = Array.from({ length: 6 }, loop);
      for (const version of ['five', 'six', 'five', 'six', 'five']) {
        writeFileSync(appFile, appSource(version));
        await server.reload();
      }
      running = false;
      await Promise.all(loops);
      assert.deepEqual(failures, [], `${failures.length} connections failed`);
      assert.ok(answered > 100, `only ${answered} answered`);
      assert.deepEqual(await fresh(server, '/version'), { status: 200, body: 'five' });
    });

    test('the counters of replaced generations are kept', async () => {
      const scrape = async (): Promise<number> => {
        const text = await (await fetch(`${server.adminUrl}/metrics`)).text();
        return Number(/^http_requests_total\{method="GET",route="\/version",status="200"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      };
      const before = await scrape();
      for (let i = 0; i < 5; i++) await fresh(server, '/version');
      writeFileSync(appFile, appSource('seven'));
      await server.reload();
      for (let i = 0; i < 3; i++) await fresh(server, '/version');
      // The replaced generation's counts join once it has drained.
      for (let i = 0; i < 100 && (await scrape()) < before + 8; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await scrape(), before + 8);
    });
  });
}

test('--watch reloads when the app file changes', async () => {
  const appFile = join(folder, 'watched.ts');
  writeFileSync(appFile, appSource('first'));
  const cli = new CliProcess(['serve', appFile, '--port', '0', '--pinned', '1', '--watch']);
  try {
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    await cli.waitForOutput(/Watching .* for changes/);
    writeFileSync(appFile, appSource('second'));
    await cli.waitForOutput(/✓ Reloaded: generation 2 serves/);
    const client = createClient('h1', Number(port));
    assert.equal((await client.request('/version')).text(), 'second');
    await client.close();
  } finally {
    cli.kill('SIGTERM');
    assert.equal((await cli.finished).code, 0);
  }
});

test('a shutdown begun during a reload keeps serving through its shutdown delay', async () => {
  const appFile = join(folder, 'closing.ts');
  writeFileSync(appFile, appSource('before'));
  const server = await startTestServer({ pinnedWorkers: 2, shutdownDelay: 1_200 }, pathToFileURL(appFile));
  // The new version takes 400 ms to start, so the shutdown begins while it boots.
  writeFileSync(appFile, appSource('after', 'app.onStartup(() => new Promise((resolve) => setTimeout(resolve, 400)));'));
  const reloading = server.reload().then(
    () => 'reloaded',
    (error: { code: string }) => error.code,
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  const began = Date.now();
  const closing = server.close();
  // Through the delay, new connections are answered, by whichever generation holds the sockets.
  while (Date.now() - began < 900) {
    const answer = await fresh(server, '/version');
    assert.equal(answer.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await closing;
  assert.ok(Date.now() - began >= 1_200, 'the server stopped before its shutdown delay');
  assert.equal(await reloading, ErrorCode.RELOAD);
});
