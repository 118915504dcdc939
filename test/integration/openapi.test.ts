/**
 * The OpenAPI document and the docs page, served: the document is checked against the OpenAPI
 * 3.1 schema by a real validator, and the docs page is rendered in headless Chromium.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Server } from '../../src/index.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { API_APP, startTestServer } from '../helpers/server.ts';

const MOVED_APP = new URL('../fixtures/apps/docs-moved.ts', import.meta.url);
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url);

type Operation = { summary?: string; tags?: string[]; responses: Record<string, { description: string }>; parameters: Array<{ name: string; in: string }> };
type Document = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>> };

let server: Server;
let client: Client;
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, API_APP);
  client = createClient('h1', server.port);
});
after(async () => {
  await client.close();
  await server.close();
});

describe('/openapi.json', () => {
  test('is a valid OpenAPI 3.1 document, by the OpenAPI schema', async () => {
    const res = await client.request('/openapi.json');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const doc = res.json() as Document;
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Record<string, unknown>);
    assert.deepEqual(result.errors, undefined);
    assert.equal(result.valid, true);
    assert.equal(validator.version, '3.1');
    // Every $ref resolves.
    assert.doesNotThrow(() => validator.resolveRefs());
  });

  test('lists the app’s routes with their summaries, tags, parameters and responses, and not the hidden ones', async () => {
    const doc = (await client.request('/openapi.json')).json() as Document;
    assert.deepEqual(doc.info, { title: 'Test API', version: '1.2.3', description: 'The developer layer test app.' });
    const paths = Object.keys(doc.paths);
    for (const path of ['/inline/items/{shop}', '/pooled/items/{shop}', '/inline/users/{id}', '/pooled/points', '/events']) {
      assert.ok(paths.includes(path), `${path} is missing from ${paths.join(', ')}`);
    }
    for (const hidden of ['/inline/teapot', '/stream/large', '/openapi.json', '/docs']) assert.ok(!paths.includes(hidden), hidden);
    const create = doc.paths['/inline/items/{shop}']?.['post'];
    assert.equal(create?.summary, 'Create an item');
    assert.deepEqual(create?.tags, ['items']);
    assert.equal(create?.responses['201']?.description, 'Created');
    assert.equal(create?.responses['422']?.description, 'The item is invalid');
    assert.deepEqual(create?.parameters.map((p) => `${p.in}:${p.name}`), ['path:shop', 'query:dryRun']);
    // valibot, through the app's toJsonSchema option.
    const user = doc.paths['/inline/users/{id}']?.['get'];
    assert.deepEqual(user?.parameters.map((p) => `${p.in}:${p.name}`), ['path:id', 'query:verbose']);
    assert.deepEqual(Object.keys(doc.paths['/events']?.['get']?.responses['200'] ?? {}).sort(), ['content', 'description']);
  });
});

describe('moved and switched off', () => {
  test('the document and the page are served where the app says, and nowhere else', async () => {
    const moved = await startTestServer({ pinnedWorkers: 1 }, MOVED_APP);
    const movedClient = createClient('h2c', moved.port);
    try {
      assert.equal((await movedClient.request('/api/schema.json')).status, 200);
      const page = await movedClient.request('/reference');
      assert.equal(page.status, 200);
      assert.match(page.text(), /url: "\/api\/schema.json"/);
      assert.match(page.text(), /href="\/reference\/assets\/swagger-ui.css"/);
      assert.equal((await movedClient.request('/reference/assets/swagger-ui-bundle.js')).status, 200);
      assert.equal((await movedClient.request('/openapi.json')).status, 404);
      assert.equal((await movedClient.request('/docs')).status, 404);
    } finally {
      await movedClient.close();
      await moved.close();
    }
  });
});

describe('/docs', () => {
  test('serves Swagger UI from the installed package, nothing from a CDN', async () => {
    const page = await client.request('/docs');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const urls = [...page.text().matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(urls.length >= 3);
    for (const url of urls) {
      assert.ok(url.startsWith('/docs/assets/'), `${url} is not served by the app`);
      const asset = await client.request(url);
      assert.equal(asset.status, 200, url);
      assert.ok(asset.body.byteLength > 0, url);
    }
    assert.equal((await client.request('/docs/assets/../package.json')).status, 404);
    assert.equal((await client.request('/docs/assets/index.html')).status, 404);
  });

  test('renders in headless Chromium, shows the routes, and runs a request', async (t) => {
    const executablePath = findChromium();
    if (executablePath === null) {
      t.skip('no Chromium found (install Debian’s chromium, or set CHROMIUM_PATH)');
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const origin = `http://127.0.0.1:${server.port}`;
      const elsewhere: string[] = [];
      page.on('request', (request) => {
        const url = request.url();
        if (!url.startsWith(origin) && !url.startsWith('data:')) elsewhere.push(url);
      });
      await page.goto(`${origin}/docs`, { waitUntil: 'networkidle' });
      await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
      const text = await page.locator('#swagger-ui').innerText();
      for (const expected of ['Test API', '1.2.3', '/inline/items/{shop}', 'Create an item', '/pooled/users/{id}', 'Get a user (valibot)', 'items', 'users']) {
        assert.ok(text.includes(expected), `the docs page does not show ${JSON.stringify(expected)}`);
      }
      assert.equal(text.includes('/stream/large'), false, 'a hidden route is shown');

      // Try it out: GET /pooled/users/{id} with id 7, from the page, against the server.
      const operation = page.locator('.opblock', { has: page.locator('[data-path="/pooled/users/{id}"]') });
      await operation.locator('.opblock-summary').click();
      await operation.getByRole('button', { name: 'Try it out' }).click();
      await operation.locator('input[placeholder="id"]').fill('7');
      await operation.getByRole('button', { name: 'Execute' }).click();
      const responseBody = operation.locator('.live-responses-table .response-col_description pre').first();
      await responseBody.waitFor({ timeout: 10_000 });
      assert.match(await responseBody.innerText(), /"id": 7/);

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = new URL('docs.png', ARTIFACTS);
      await page.screenshot({ path: shot.pathname, fullPage: true });
      t.diagnostic(`screenshot: ${shot.pathname}`);
      assert.deepEqual(elsewhere, [], 'the docs page fetched from somewhere other than the app');
    } finally {
      await browser.close();
    }
  });
});

/** Chromium from CHROMIUM_PATH or the usual install places, or null. */
function findChromium(): string | null {
  const candidates = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((path): path is string => path !== undefined && path !== '' && existsSync(path)) ?? null;
}
