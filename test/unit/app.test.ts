/** Route registration rules of the developer layer, and the OpenAPI document built from them. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { refused } from '../helpers/refused.ts';
import { z } from 'zod';
import { appTable, type AppTable } from '../../src/app/app.ts';
import { openApiDocument } from '../../src/app/openapi.ts';
import { App, ErrorCode, isFasterApiError, sse } from '../../src/index.ts';

function table(app: App): AppTable {
  const t = appTable(app);
  assert.ok(t !== null);
  return t;
}

describe('streaming routes', () => {
  test('an async generator handler is known to stream: it runs inline, never on the pool', () => {
    const app = new App();
    app.get('/gen', async function* () {
      yield 'x';
    });
    const [route] = table(app).routes;
    assert.equal(route?.stream, true);
    assert.equal(route?.pool, false);
    assert.equal(route?.streamType, 'application/octet-stream');
  });

  test('sse() handlers are known to stream text/event-stream', () => {
    const app = new App();
    app.get('/events', sse(async function* () {}));
    const [route] = table(app).routes;
    assert.equal(route?.stream, true);
    assert.equal(route?.pool, false);
    assert.equal(route?.streamType, 'text/event-stream');
  });

  test('{ stream: true } marks any handler; { stream: false } overrides the detection', () => {
    const app = new App();
    app.get('/declared', () => null, { stream: true });
    app.get('/not', async function* () {}, { stream: false, pool: true });
    const [declared, not] = table(app).routes;
    assert.equal(declared?.stream, true);
    assert.equal(declared?.pool, false);
    assert.equal(not?.stream, false);
    assert.equal(not?.pool, true);
  });

  test('a streaming route on the pool is refused at registration, naming the route', () => {
    const app = new App();
    refused(() => app.get('/a', () => null, { stream: true, pool: true }), /GET \/a streams its body, so it cannot run on the pool/);
    refused(() => app.get('/b', async function* () {}, { pool: true }), /GET \/b streams its body/);
    refused(() => app.get('/c', sse(async function* () {}), { pool: true }), /GET \/c streams its body/);
    refused(() => app.get('/d', () => null, { stream: 'yes' as never }), /the stream option of GET \/d must be true or false/);
    assert.equal(table(app).routes.length, 0);
  });
});

describe('route timeouts at registration', () => {
  test('0 to 2^31 − 1 ms are accepted; longer, negative or fractional ones are refused, naming the route', () => {
    const app = new App();
    app.get('/none', () => 'x', { timeout: 0 });
    app.get('/longest', () => 'x', { timeout: 2 ** 31 - 1 });
    for (const timeout of [2 ** 31, -1, 1.5]) {
      assert.throws(() => app.get('/bad', () => 'x', { timeout }), (thrown: unknown) => {
        assert.ok(isFasterApiError(thrown));
        assert.equal(thrown.code, ErrorCode.ROUTE_DEFINITION);
        assert.equal(thrown.message, 'the timeout of GET /bad must be a whole number of ms from 0 to 2147483647 (0 for none)');
        return true;
      });
    }
  });
});

describe('schemas and hooks at registration', () => {
  test('a schema part that is not a Standard Schema is refused, naming the part', () => {
    const app = new App();
    refused(() => app.post('/x', () => null, { schema: { body: { parse() {} } as never } }), /schema\.body of POST \/x is not a Standard Schema/);
  });

  test('a hook that is not a function is refused when it is added', () => {
    const app = new App();
    refused(() => app.onRequest('auth' as never), /an onRequest hook must be a function/);
    refused(() => app.use({ name: 'broken', onResponse: 5 as never }), /an onResponse hook must be a function/);
    refused(() => app.onShutdown(null as never), /an onShutdown hook must be a function/);
  });

  test('hooks and routes cannot be added once the server has started', () => {
    const app = new App();
    table(app).freeze();
    refused(() => app.get('/late', () => null), /cannot add GET \/late after the server started/);
    refused(() => app.onRequest(() => undefined), /cannot add an onRequest hook after the server started/);
    refused(() => app.onStartup(() => {}), /cannot add an onStartup hook/);
  });
});

describe('built-in routes', () => {
  test('the OpenAPI document and docs page come after the app’s routes, so IDs do not move', () => {
    const app = new App();
    app.get('/a', () => 'a');
    const t = table(app);
    t.freeze();
    assert.deepEqual(
      t.routes.map((r) => [r.id, r.method, r.path, r.builtIn]),
      [
        [0, 'GET', '/a', null],
        [1, 'GET', '/openapi.json', 'openapi'],
        [2, 'GET', '/docs', 'docs'],
        [3, 'GET', '/docs/assets/*', 'docs-assets'],
      ],
    );
    assert.ok(t.routes.slice(1).every((r) => r.pool === false));
  });

  test('they can be moved or switched off', () => {
    const moved = new App({ openapiPath: '/api/schema.json', docsPath: '/reference' });
    table(moved).freeze();
    assert.deepEqual(table(moved).routes.map((r) => r.path), ['/api/schema.json', '/reference', '/reference/assets/*']);
    const noDocs = new App({ docsPath: false });
    table(noDocs).freeze();
    assert.deepEqual(table(noDocs).routes.map((r) => r.path), ['/openapi.json']);
    // The docs page reads the document, so without one there is no page either.
    const none = new App({ openapiPath: false });
    table(none).freeze();
    assert.deepEqual(table(none).routes, []);
  });
});

describe('openApiDocument', () => {
  test('paths, parameters, bodies and responses come from routes and their schemas', () => {
    const app = new App({ title: 'Shop', version: '2.0.0', description: 'A shop.' });
    app.post('/shops/:shop/items', () => ({ id: 1 }), {
      schema: {
        params: z.object({ shop: z.string().min(2) }),
        query: z.object({ dryRun: z.boolean().optional() }),
        headers: z.object({ 'x-api-key': z.string() }),
        body: z.object({ name: z.string(), price: z.number() }),
        response: z.object({ id: z.number() }),
      },
      summary: 'Add an item',
      description: 'Long text.',
      tags: ['items'],
      responses: { 201: 'Created', 409: 'Already there' },
      deprecated: true,
    });
    app.get('/files/*', () => null);
    app.get('/hidden', () => null, { hidden: true });
    const t = table(app);
    t.freeze();
    const doc = openApiDocument(t) as {
      openapi: string;
      info: Record<string, string>;
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.info, { title: 'Shop', version: '2.0.0', description: 'A shop.' });
    assert.deepEqual(Object.keys(doc.paths), ['/shops/{shop}/items', '/files/{wildcard}']);
    const op = doc.paths['/shops/{shop}/items']?.['post'] as Record<string, unknown>;
    assert.equal(op['summary'], 'Add an item');
    assert.equal(op['description'], 'Long text.');
    assert.deepEqual(op['tags'], ['items']);
    assert.equal(op['deprecated'], true);
    assert.equal(op['operationId'], 'post_shops_shop_items');
    assert.deepEqual(op['parameters'], [
      { name: 'shop', in: 'path', required: true, schema: { type: 'string', minLength: 2 } },
      { name: 'dryRun', in: 'query', required: false, schema: { type: 'boolean' } },
      { name: 'x-api-key', in: 'header', required: true, schema: { type: 'string' } },
    ]);
    const body = (op['requestBody'] as { content: Record<string, { schema: Record<string, unknown> }> }).content['application/json']?.schema;
    assert.deepEqual(body?.['required'], ['name', 'price']);
    const responses = op['responses'] as Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
    assert.deepEqual(Object.keys(responses).sort(), ['201', '409', '422']);
    assert.equal(responses['201']?.description, 'Created');
    assert.deepEqual((responses['201']?.content?.['application/json']?.schema as { required: string[] }).required, ['id']);
    assert.equal(responses['409']?.description, 'Already there');
    assert.deepEqual(responses['422']?.content?.['application/json']?.schema, { $ref: '#/components/schemas/HTTPValidationError' });
    const files = doc.paths['/files/{wildcard}']?.['get'] as { parameters: Array<Record<string, unknown>>; responses: Record<string, unknown> };
    assert.equal(files.parameters[0]?.['name'], 'wildcard');
    assert.deepEqual(Object.keys(files.responses), ['200']);
  });

  test('operationIds stay unique when generated ones collide or an all() route declares one', () => {
    const app = new App();
    app.get('/a/:b', () => null);
    app.get('/a/b', () => null);
    app.all('/any', () => null, { operationId: 'any' });
    const t = table(app);
    t.freeze();
    const doc = openApiDocument(t) as { paths: Record<string, Record<string, { operationId: string }>> };
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    assert.deepEqual(ids, ['get_a_b', 'get_a_b_2', 'any', 'any_2', 'any_3', 'any_4', 'any_5']);
  });

  test('a streaming route documents its content type', () => {
    const app = new App();
    app.get('/events', sse(async function* () {}));
    const t = table(app);
    t.freeze();
    const doc = openApiDocument(t) as { paths: Record<string, Record<string, { responses: Record<string, { content: unknown }> }>> };
    assert.deepEqual(doc.paths['/events']?.['get']?.responses['200']?.content, { 'text/event-stream': {} });
  });
});
