// Typed validation with zod 4: declare what a route takes and returns; the handler gets typed,
// validated values, and bad requests get 422 with a FastAPI-style `detail` list before it runs.
// The same schemas work on pooled routes. Run: npx fasterapi serve examples/validation/app.ts
//
//   curl -s localhost:8000/items -H 'content-type: application/json' -d '{"name":"lamp","price":12.5}'
//   curl -s localhost:8000/items -H 'content-type: application/json' -d '{"name":"","price":-1}'
//   curl -s 'localhost:8000/items?limit=2&tag=home'
//   open http://localhost:8000/docs
import { App, HttpError, reply } from 'fasterapi';
import { z } from 'zod';

const app = new App({ title: 'Items', version: '1.0.0' });

const NewItem = z.object({
  name: z.string().min(1).max(100),
  price: z.number().positive(),
  tags: z.array(z.string()).max(10).default([]),
});
const Item = NewItem.extend({ id: z.number().int() });
type Item = z.infer<typeof Item>;

const items = new Map<number, Item>();
let nextId = 1;

app.post(
  '/items',
  (req) => {
    // req.body is { name: string; price: number; tags: string[] }: checked, defaulted, typed.
    const item = { id: nextId++, ...req.body };
    items.set(item.id, item);
    return reply(item, { status: 201, headers: { location: `/items/${item.id}` } });
  },
  { schema: { body: NewItem, response: Item }, summary: 'Create an item', tags: ['items'], responses: { 201: 'Created' } },
);

app.get(
  '/items',
  (req) => {
    // Query strings are strings: coerce them in the schema.
    const { limit, tag } = req.query;
    return [...items.values()].filter((item) => tag === undefined || item.tags.includes(tag)).slice(0, limit);
  },
  {
    schema: { query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), tag: z.string().optional() }) },
    summary: 'List items',
    tags: ['items'],
  },
);

app.get(
  '/items/:id',
  (req) => {
    const item = items.get(req.params.id);
    if (item === undefined) throw new HttpError(404, `no item ${req.params.id}`);
    return item;
  },
  { schema: { params: z.object({ id: z.coerce.number().int() }), response: Item }, summary: 'Get an item', tags: ['items'], responses: { 404: 'No such item' } },
);

// CPU-bound and validated: runs on the pooled executor, validation included.
app.post(
  '/quote',
  (req) => {
    let total = 0;
    for (const line of req.body.lines) total += line.quantity * line.unitPrice;
    return { total: Math.round(total * 100) / 100, lines: req.body.lines.length };
  },
  {
    pool: true,
    schema: { body: z.object({ lines: z.array(z.object({ quantity: z.number().int().positive(), unitPrice: z.number().nonnegative() })).min(1) }) },
    summary: 'Price a quote',
    tags: ['quotes'],
  },
);

export default app;
