/**
 * Compile-time tests: `npm run typecheck` (part of `npm test`) compiles this file. Each
 * `@ts-expect-error` line must fail to compile; if the types stopped catching the mistake, the
 * directive itself becomes the error and the type check fails. `Equal` checks pin inferred types.
 * Nothing here runs.
 */

import { type } from 'arktype';
import * as v from 'valibot';
import { z } from 'zod';
import { App, reply, sse, type RequestFor } from '../../src/index.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_: T): void {}

const app = new App();

const Item = z.object({ name: z.string(), price: z.number().positive(), tags: z.array(z.string()).default([]) });

// zod: body, params and query are typed from the schemas.
app.post(
  '/items/:shop',
  (req) => {
    expectType<Equal<typeof req.body, { name: string; price: number; tags: string[] }>>(true);
    expectType<Equal<typeof req.params, { shop: string }>>(true);
    expectType<Equal<typeof req.query, { dryRun?: boolean | undefined }>>(true);
    const total: number = req.body.price;
    // @ts-expect-error: `cost` is not a field of the body schema
    void req.body.cost;
    // @ts-expect-error: `price` is a number, not a string
    const wrong: string = req.body.price;
    // @ts-expect-error: no `id` param in the params schema
    void req.params.id;
    return reply({ total, wrong }, { status: 201 });
  },
  {
    schema: {
      params: z.object({ shop: z.string() }),
      query: z.object({ dryRun: z.stringbool().optional() }),
      body: Item,
    },
  },
);

// valibot
app.put(
  '/users/:id',
  (req) => {
    expectType<Equal<typeof req.body, { email: string; age?: number | undefined }>>(true);
    expectType<Equal<typeof req.params, { id: number }>>(true);
    // @ts-expect-error: `mail` is not a field
    return req.body.mail;
  },
  {
    schema: {
      params: v.object({ id: v.pipe(v.string(), v.transform(Number), v.number()) }),
      body: v.object({ email: v.pipe(v.string(), v.email()), age: v.optional(v.number()) }),
    },
  },
);

// arktype
app.post(
  '/points',
  (req) => {
    expectType<Equal<typeof req.body, { x: number; y: number }>>(true);
    // @ts-expect-error: `z` is not a field
    return req.body.z;
  },
  { schema: { body: type({ x: 'number', y: 'number' }) } },
);

// Without schemas: strings, and no body field to read.
app.get('/plain/:id', (req) => {
  expectType<Equal<typeof req.params, Readonly<Record<string, string>>>>(true);
  expectType<Equal<typeof req.body, undefined>>(true);
  return req.params['id'];
});

// Handlers can be written apart from the route with `RequestFor`.
const search = { query: z.object({ q: z.string(), limit: z.coerce.number().int().default(10) }) };
function handleSearch(req: RequestFor<typeof search>): unknown {
  expectType<Equal<typeof req.query, { q: string; limit: number }>>(true);
  // @ts-expect-error: `page` is not a query field
  return req.query.page;
}
app.get('/search', handleSearch, { schema: search });

// sse() sources are typed from the route's schemas too.
app.get(
  '/feed',
  sse(async function* (req) {
    expectType<Equal<typeof req.query.limit, number>>(true);
    yield { data: req.query.q };
  }),
  { schema: search },
);

// With a response schema, the return value is typed too: what the schema accepts, or a reply.
const User = z.object({ id: z.number(), name: z.string() });
app.get('/users/:id', (req) => ({ id: Number(req.params.id), name: 'Ada', extra: 'dropped when sent' }), { schema: { response: User } });
app.get('/users/:id/reply', () => reply({ detail: 'no such user' }, { status: 404 }), { schema: { response: User } });
app.get('/users/:id/async', async () => ({ id: 1, name: 'Ada' }), { schema: { response: User } });
// @ts-expect-error: `name` is missing from the response
app.get('/users/:id/wrong', () => ({ id: 1 }), { schema: { response: User } });
// @ts-expect-error: `id` must be a number
app.get('/users/:id/wrong-type', async () => ({ id: '1', name: 'Ada' }), { schema: { response: User } });

// A schema option that is not a Standard Schema does not compile.
// @ts-expect-error: `body` must be a Standard Schema
app.post('/bad', () => 'x', { schema: { body: { parse: (x: unknown) => x } } });

export default app;

// Forms: the body schema types the form's fields; req.form() gives the Form with its files.
app.post(
  '/avatars',
  async (req) => {
    expectType<Equal<typeof req.body, { user: string; age: number }>>(true);
    const form = await req.form({ fileSize: 1024 });
    const avatar = form.file('avatar');
    if (avatar !== undefined) {
      expectType<Equal<typeof avatar.size, number>>(true);
      expectType<Equal<typeof avatar.path, string | null>>(true);
      await avatar.moveTo('/tmp/kept');
    }
    expectType<Equal<ReturnType<typeof form.getAll>, string[]>>(true);
    // @ts-expect-error: a form limit is a number of bytes, not a string
    await req.form({ fileSize: '1 MiB' });
    return { user: req.body.user };
  },
  { bodyLimit: 20 * 1024 * 1024, form: { files: 1, fileFields: ['avatar'], hash: 'sha256' }, schema: { body: z.object({ user: z.string(), age: z.coerce.number() }) } },
);
// @ts-expect-error: the form option is true or an object of form options
app.post('/bad-form', () => 'ok', { form: 'multipart' });
