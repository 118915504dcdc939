/**
 * The validation benchmark's routes: the same item, accepted with and without schemas, inline and
 * pooled. `/raw-*` parse the JSON body themselves and check nothing; `/zod-*`, `/valibot-*` and
 * `/arktype-*` declare a body schema and get the validated value.
 */

import { type } from 'arktype';
import * as v from 'valibot';
import { z } from 'zod';
import { App, type Request } from '../src/index.ts';

export const ITEM = { name: 'Desk lamp', price: 39.5, tags: ['home', 'light'], stock: 12 };

export const schemas = {
  zod: z.object({
    name: z.string().min(1).max(100),
    price: z.number().positive(),
    tags: z.array(z.string()).max(10),
    stock: z.number().int().nonnegative(),
  }),
  valibot: v.object({
    name: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
    price: v.pipe(v.number(), v.minValue(0)),
    tags: v.pipe(v.array(v.string()), v.maxLength(10)),
    stock: v.pipe(v.number(), v.integer(), v.minValue(0)),
  }),
  arktype: type({ name: '0 < string <= 100', price: 'number > 0', tags: 'string[] <= 10', stock: 'number.integer >= 0' }),
};

const app = new App({ openapiPath: false });
for (const [suffix, pool] of [['inline', false], ['pooled', true]] as const) {
  app.post(`/raw-${suffix}`, async (req: Request) => {
    const item = await req.json<typeof ITEM>();
    return { name: item.name };
  }, { pool });
  for (const [name, schema] of Object.entries(schemas)) {
    app.post(`/${name}-${suffix}`, (req) => ({ name: (req.body as typeof ITEM).name }), { pool, schema: { body: schema } });
  }
}
export default app;
