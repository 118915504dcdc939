// The OpenAPI 3.1 document and the interactive docs page, from routes and their schemas. Both
// are on by default (/openapi.json and /docs); here they are moved, and the document says more.
// valibot has no built-in JSON Schema export, so the app passes its converter.
// Run: npx fasterapi serve examples/openapi/app.ts, then open http://localhost:8000/reference
import { toJsonSchema } from '@valibot/to-json-schema';
import { type } from 'arktype';
import { App } from 'fasterapi';
import * as v from 'valibot';
import { z } from 'zod';

const app = new App({
  title: 'Bookshop',
  version: '2.1.0',
  description: 'Books and authors. Every route here is described by its schemas.',
  openapiPath: '/api/openapi.json', // `false` turns the document (and the page) off
  docsPath: '/reference', //           `false` turns only the page off
  toJsonSchema: (schema) => toJsonSchema(schema as Parameters<typeof toJsonSchema>[0]),
});

// zod
app.get('/books/:isbn', (req) => ({ isbn: req.params.isbn, title: 'Dune', year: 1965 }), {
  schema: {
    params: z.object({ isbn: z.string().regex(/^\d{13}$/).describe('ISBN-13') }),
    response: z.object({ isbn: z.string(), title: z.string(), year: z.number().int() }),
  },
  summary: 'Find a book by ISBN',
  description: 'Looks the book up in the catalogue. **Markdown** works here.',
  tags: ['books'],
  responses: { 200: 'The book', 404: 'No book with that ISBN' },
  operationId: 'getBook',
});

// valibot
app.post('/authors', (req) => ({ id: 1, ...req.body }), {
  schema: { body: v.object({ name: v.pipe(v.string(), v.minLength(1)), born: v.optional(v.pipe(v.number(), v.integer())) }) },
  summary: 'Add an author',
  tags: ['authors'],
  responses: { 200: 'The new author' },
});

// arktype
app.get('/search', (req) => ({ query: req.query.q, page: req.query.page }), {
  schema: { query: type({ q: 'string > 0', 'page?': 'string.integer.parse' }) },
  summary: 'Search books and authors',
  tags: ['books', 'authors'],
});

app.get('/books/legacy', () => [], { summary: 'Old listing', tags: ['books'], deprecated: true });
app.get('/internal/metrics', () => ({ up: true }), { hidden: true }); // left out of the document

export default app;
