/**
 * The routes an app gets for free: its OpenAPI document and an interactive docs page (Swagger
 * UI, from the swagger-ui-dist package's own files: nothing is fetched from a CDN, so it works
 * offline). They are added after the app's own routes, so they never change their IDs.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AppTable, BuiltIn, Handler, RouteOptions } from './table.ts';
import { openApiDocument } from './openapi.ts';
import { reply } from './response.ts';

/** The files of swagger-ui-dist the page needs, and their types. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const INTERNAL: RouteOptions = { pool: false, hidden: true };

/** Where swagger-ui-dist is installed, or null. */
export function swaggerUiDir(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  } catch {
    return null;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface BuiltInRoute {
  readonly kind: BuiltIn;
  readonly method: string;
  readonly path: string;
  readonly handler: Handler;
  readonly options: RouteOptions;
}

export function builtInRoutes(table: AppTable): BuiltInRoute[] {
  const { openapiPath = '/openapi.json', docsPath = '/docs', title = 'FasterAPI' } = table.options;
  const routes: BuiltInRoute[] = [];
  if (openapiPath !== false) {
    let document: string | undefined;
    routes.push({
      kind: 'openapi',
      method: 'GET',
      path: openapiPath,
      handler: () => reply((document ??= JSON.stringify(openApiDocument(table))), { contentType: 'application/json; charset=utf-8' }),
      options: INTERNAL,
    });
  }
  if (docsPath !== false && openapiPath !== false) {
    const dir = swaggerUiDir();
    const missing = (): unknown =>
      reply('The docs page needs the swagger-ui-dist package: npm install swagger-ui-dist', { status: 501 });
    const base = docsPath.replace(/\/$/, '');
    const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — API docs</title>
<link rel="icon" type="image/png" href="${base}/assets/favicon-32x32.png">
<link rel="stylesheet" href="${base}/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${base}/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: ${JSON.stringify(openapiPath)}, dom_id: '#swagger-ui', deepLinking: true });
</script>
</body>
</html>
`;
    routes.push({
      kind: 'docs',
      method: 'GET',
      path: docsPath,
      handler: () => (dir === null ? missing() : reply(page, { contentType: 'text/html; charset=utf-8' })),
      options: INTERNAL,
    });
    const cache = new Map<string, Buffer>();
    routes.push({
      kind: 'docs-assets',
      method: 'GET',
      path: `${base}/assets/*`,
      handler: (req) => {
        if (dir === null) return missing();
        const name = req.params['*'] ?? '';
        const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
        if (type === undefined) return reply({ detail: 'Not Found' }, { status: 404 });
        let bytes = cache.get(name);
        if (bytes === undefined) cache.set(name, (bytes = readFileSync(join(dir, name))));
        return reply(bytes, { contentType: type, headers: { 'cache-control': 'public, max-age=86400' } });
      },
      options: INTERNAL,
    });
  }
  return routes;
}
