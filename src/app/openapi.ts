/**
 * The OpenAPI 3.1 document of an app, generated from its routes, their schemas (as JSON Schema,
 * see schema.ts) and what each route says about itself (summary, tags, responses).
 */

import type { AppTable, Route } from './table.ts';
import type { StandardSchemaV1 } from './schema.ts';

type JsonSchema = Record<string, unknown>;

const METHODS_FOR_ALL = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** `/items/:id` → `/items/{id}`; a trailing `*` becomes `{wildcard}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}').replace(/\/\*$/, '/{wildcard}');
}

function toJsonSchema(table: AppTable, schema: StandardSchemaV1, io: 'input' | 'output'): JsonSchema {
  let result: JsonSchema | undefined;
  try {
    const standard = schema['~standard'].jsonSchema;
    result = standard !== undefined ? standard[io]({ target: 'draft-2020-12' }) : (table.options.toJsonSchema?.(schema) as JsonSchema | undefined);
  } catch {
    result = undefined; // a schema that has no JSON Schema form (a transform, a custom check)
  }
  if (result === undefined) return {};
  const { $schema: _, ...rest } = result;
  return rest;
}

function parameters(table: AppTable, route: Route): unknown[] {
  const list: unknown[] = [];
  const names = [...route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string);
  if (route.path.endsWith('/*')) names.push('wildcard');
  const paramsSchema = route.schema?.params === undefined ? undefined : toJsonSchema(table, route.schema.params, 'input');
  const paramProperties = (paramsSchema?.['properties'] ?? {}) as Record<string, JsonSchema>;
  for (const name of names) {
    const key = name === 'wildcard' ? '*' : name;
    list.push({
      name,
      in: 'path',
      required: true,
      schema: paramProperties[key] ?? { type: 'string' },
      ...(name === 'wildcard' ? { description: 'The rest of the path' } : {}),
    });
  }
  for (const [part, where] of [['query', 'query'], ['headers', 'header']] as const) {
    const schema = route.schema?.[part];
    if (schema === undefined) continue;
    const json = toJsonSchema(table, schema, 'input');
    const required = new Set((json['required'] ?? []) as string[]);
    for (const [name, property] of Object.entries((json['properties'] ?? {}) as Record<string, JsonSchema>)) {
      list.push({ name, in: where, required: required.has(name), schema: property });
    }
  }
  return list;
}

function operation(table: AppTable, route: Route, method: string, operationIds: OperationIds): Record<string, unknown> {
  const { docs, schema } = route;
  const responses: Record<string, unknown> = {};
  const described = docs.responses ?? {};
  const success = Object.keys(described).map(Number).find((status) => status >= 200 && status < 300) ?? 200;
  responses[String(success)] = {
    description: described[success] ?? 'Successful Response',
    ...(route.streamType !== null
      ? { content: { [route.streamType]: {} } }
      : schema?.response === undefined
        ? {}
        : { content: { 'application/json': { schema: toJsonSchema(table, schema.response, 'output') } } }),
  };
  for (const [status, description] of Object.entries(described)) {
    if (Number(status) !== success) responses[status] = { description };
  }
  if (schema?.params !== undefined || schema?.query !== undefined || schema?.headers !== undefined || schema?.body !== undefined) {
    responses['422'] ??= {
      description: 'Validation Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } },
    };
  }
  return {
    operationId: operationIds.claim(
      docs.operationId === undefined ? `${method}${route.path.replace(/[^A-Za-z0-9]+/g, '_').replace(/_$/, '')}` : docs.operationId,
    ),
    ...(docs.summary === undefined ? {} : { summary: docs.summary }),
    ...(docs.description === undefined ? {} : { description: docs.description }),
    ...(docs.tags === undefined ? {} : { tags: [...docs.tags] }),
    ...(docs.deprecated === true ? { deprecated: true } : {}),
    parameters: parameters(table, route),
    ...(route.form !== null
      ? { requestBody: formBody(table, route) }
      : schema?.body === undefined
        ? {}
        : { requestBody: { required: true, content: { 'application/json': { schema: toJsonSchema(table, schema.body, 'input') } } } }),
    responses,
  };
}

/** A binary file field, as OpenAPI 3.1 describes one (with 3.0's `format` for older tools). */
const FILE_FIELD: JsonSchema = { type: 'string', format: 'binary', contentMediaType: 'application/octet-stream' };

/**
 * The request body of a route that takes a form: its fields (the body schema, if any) and its
 * file fields (`form.fileFields`). A form with file fields is documented as multipart only,
 * since a urlencoded form cannot carry files.
 */
function formBody(table: AppTable, route: Route): Record<string, unknown> {
  const body = route.schema?.body;
  const fields: JsonSchema = body === undefined ? { type: 'object' } : toJsonSchema(table, body, 'input');
  const fileFields = route.form?.fileFields ?? [];
  const content: Record<string, unknown> = {};
  if (fileFields.length === 0) {
    content['multipart/form-data'] = { schema: fields };
    content['application/x-www-form-urlencoded'] = { schema: fields };
  } else {
    const properties = { ...((fields['properties'] ?? {}) as Record<string, JsonSchema>) };
    for (const name of fileFields) properties[name] = FILE_FIELD;
    content['multipart/form-data'] = { schema: { ...fields, type: 'object', properties } };
  }
  return { required: true, content };
}

/**
 * OpenAPI wants every operationId unique. Generated ones can collide (`/a/:b` and `/a/b`), and so
 * can a declared one on an `all()` route (one operation per method): later ones get `_2`, `_3`…
 */
class OperationIds {
  readonly #taken = new Set<string>();
  claim(wanted: string): string {
    let id = wanted;
    for (let n = 2; this.#taken.has(id); n++) id = `${wanted}_${n}`;
    this.#taken.add(id);
    return id;
  }
}

export function openApiDocument(table: AppTable): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new OperationIds();
  for (const route of table.routes) {
    if (route.builtIn !== null || route.docs.hidden === true) continue;
    const item = (paths[openApiPath(route.path)] ??= {});
    const methods = route.method === '*' ? METHODS_FOR_ALL.filter((m) => item[m] === undefined) : [route.method.toLowerCase()];
    for (const method of methods) item[method] = operation(table, route, method, operationIds);
  }
  const { title = 'FasterAPI', version = '0.1.0', description } = table.options;
  return {
    openapi: '3.1.0',
    info: { title, version, ...(description === undefined ? {} : { description }) },
    paths,
    components: {
      schemas: {
        ValidationError: {
          type: 'object',
          required: ['loc', 'msg', 'type'],
          properties: {
            loc: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } },
            msg: { type: 'string' },
            type: { type: 'string' },
          },
        },
        HTTPValidationError: {
          type: 'object',
          properties: { detail: { type: 'array', items: { $ref: '#/components/schemas/ValidationError' } } },
        },
      },
    },
  };
}
