/**
 * Headless Chromium (playwright-core) opening WebSockets from a page the app serves: over
 * HTTP/1.1 on the cleartext port, and over TLS, where Chromium bootstraps the socket on the
 * page's HTTP/2 connection with an extended CONNECT (RFC 8441) because the server advertises it.
 * The server tells which transport carried each socket; the test asserts it. Skipped, with the
 * reason, where no Chromium is installed (.ci/run installs Debian's).
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { serve, type Server } from '../../src/index.ts';
import { TLS_CERT, TLS_KEY } from '../helpers/clients.ts';

const APP = new URL('../fixtures/ws-app.ts', import.meta.url);

function findChromium(): string | null {
  const candidates = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((path): path is string => path !== undefined && path !== '' && existsSync(path)) ?? null;
}

let cleartext: Server;
let secure: Server;

before(async () => {
  const common = { host: '127.0.0.1', port: 0, pinnedWorkers: 1, logLevel: 'silent', handleSignals: false, gracePeriod: 2_000 } as const;
  cleartext = await serve(APP, common);
  secure = await serve(APP, { ...common, tls: { cert: TLS_CERT, key: TLS_KEY } });
});

after(async () => {
  await cleartext.close();
  await secure.close();
});

/** What the page's script reports: the server's /info message, echoes, and how the socket closed. */
interface PageResult {
  info: { transport: string; protocol: string; params: Record<string, string> };
  echoes: string[];
  binary: number[];
  close: { code: number; reason: string };
}

const PAGE_SCRIPT = async (base: string): Promise<PageResult> => {
  const opened = (url: string, protocols?: string[]): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols);
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`could not open ${url}`));
    });
  const next = (ws: WebSocket): Promise<unknown> => new Promise((resolve) => ws.addEventListener('message', (e) => resolve(e.data), { once: true }));
  const infoSocket = await opened(`${base}/info/browser`, ['chat']);
  const info = JSON.parse((await next(infoSocket)) as string);
  infoSocket.close();
  const echo = await opened(`${base}/echo`);
  const echoes: string[] = [];
  for (const text of ['one', 'zwei ü', 'x'.repeat(100_000)]) {
    const answer = next(echo);
    echo.send(text);
    echoes.push((await answer) as string);
  }
  const binaryAnswer = next(echo);
  echo.send(new Uint8Array([5, 6, 7]));
  const binary = [...new Uint8Array((await binaryAnswer) as ArrayBuffer)];
  const close = await new Promise<{ code: number; reason: string }>((resolve) => {
    echo.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    echo.close(4002, 'from the page');
  });
  return { info, echoes, binary, close };
};

test('Chromium speaks WebSocket over HTTP/1.1 and over TLS HTTP/2', async (t) => {
  const executablePath = findChromium();
  if (executablePath === null) {
    t.skip('no Chromium found (install Debian’s chromium, or set CHROMIUM_PATH)');
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--ignore-certificate-errors'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    for (const [name, origin, wsBase, transport] of [
      ['HTTP/1.1', `http://127.0.0.1:${cleartext.port}`, `ws://127.0.0.1:${cleartext.port}`, 'http/1.1'],
      ['TLS HTTP/2', `https://127.0.0.1:${secure.port}`, `wss://127.0.0.1:${secure.port}`, 'h2'],
    ] as const) {
      const page = await context.newPage();
      const loaded = await page.goto(`${origin}/page`);
      assert.equal(loaded?.status(), 200);
      const result = await page.evaluate(PAGE_SCRIPT, wsBase);
      assert.equal(result.info.transport, transport, `${name}: the socket went over ${result.info.transport}`);
      assert.equal(result.info.protocol, 'chat');
      assert.deepEqual(result.info.params, { id: 'browser' });
      assert.deepEqual(result.echoes, ['one', 'zwei ü', 'x'.repeat(100_000)]);
      assert.deepEqual(result.binary, [5, 6, 7]);
      assert.deepEqual(result.close, { code: 4002, reason: 'from the page' });
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
