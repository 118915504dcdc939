/**
 * Route schemas through the Standard Schema interface (https://standardschema.dev), so any
 * library that implements it works — zod 4 (the documented default), valibot, arktype — without
 * FasterAPI depending on one. The types below are the interface's own shape, written out here as
 * the spec intends.
 *
 * A schema's JSON Schema, for OpenAPI, comes from the Standard JSON Schema extension
 * (`~standard.jsonSchema`, which zod 4 and arktype implement) or from `App`'s `toJsonSchema`
 * option (for valibot: `toJsonSchema` from @valibot/to-json-schema).
 */

import { inspectSafely } from '../core/describe.ts';

/** The Standard Schema interface, version 1. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

export declare namespace StandardSchemaV1 {
  interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
    /** The Standard JSON Schema extension, where the library implements it. */
    readonly jsonSchema?: {
      readonly input: (options: { readonly target: string }) => Record<string, unknown>;
      readonly output: (options: { readonly target: string }) => Record<string, unknown>;
    };
  }
  type Result<Output> = SuccessResult<Output> | FailureResult;
  interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }
  interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  interface PathSegment {
    readonly key: PropertyKey;
  }
  interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
}

/** What a validated value becomes: the schema's output type. */
export type InferOutput<S> = S extends StandardSchemaV1<unknown, infer Output> ? Output : never;
/** What a schema accepts: its input type. */
export type InferInput<S> = S extends StandardSchemaV1<infer Input, unknown> ? Input : never;

/** The parts of a request a route can declare schemas for, and its response. */
export interface RouteSchema {
  /** Path params (strings: use coercing schemas, e.g. `z.coerce.number()`). */
  readonly params?: StandardSchemaV1;
  /** Query params (strings, or arrays of strings for repeated keys). */
  readonly query?: StandardSchemaV1;
  /** Request headers, with lowercase names. */
  readonly headers?: StandardSchemaV1;
  /**
   * The body, parsed as JSON; on a route with the `form` option, the form's fields (a string per
   * name, a list of strings for a name sent more than once), files aside (`await req.form()`).
   */
  readonly body?: StandardSchemaV1;
  /** The successful response, validated before it is sent and documented in OpenAPI. */
  readonly response?: StandardSchemaV1;
}

/** One problem with a request, in FastAPI's shape: where, what, and which kind of problem. */
export interface ValidationIssue {
  /** Where: `['body', 'items', 0, 'price']`, `['query', 'page']`, `['path', 'id']`. */
  readonly loc: ReadonlyArray<string | number>;
  readonly msg: string;
  readonly type: 'value_error' | 'json_invalid';
}

const LOCATION = { params: 'path', query: 'query', headers: 'header', body: 'body' } as const;

/** A part that passed its schema (with the schema's output), or the problems found in it. */

export type Checked = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly issues: ValidationIssue[] };

/**
 * Validates `value` against `schema`: the validated value, or the issues found at `part`.
 * Synchronous when the library answers synchronously (zod, valibot and arktype do, for schemas
 * without async checks), so a validated route costs no promise.
 */
export function validatePart(schema: StandardSchemaV1, value: unknown, part: keyof typeof LOCATION): Checked | Promise<Checked> {
  const result = schema['~standard'].validate(value);
  // A promise of the library's own may carry a `then` of its own: it is adopted by a promise of
  // ours rather than called, so what comes back is always a real Checked or a real rejection.
  return result instanceof Promise ? new Promise<StandardSchemaV1.Result<unknown>>((resolve) => resolve(result)).then((settled) => checked(settled, part)) : checked(result, part);
}

/**
 * What a validator reported, as plain data: a 422's `detail` is serialised as JSON and may cross
 * to another isolate, so every message is a string and every location a string or a number,
 * whatever the library (or a hand-written schema) gave. A failure without issues still fails.
 * May throw (a getter on the result): callers call it inside a `try`.
 */
function checked(result: StandardSchemaV1.Result<unknown>, part: keyof typeof LOCATION): Checked {
  const reported: unknown = result.issues;
  if (reported === undefined) return { ok: true, value: (result as StandardSchemaV1.SuccessResult<unknown>).value };
  if (!Array.isArray(reported)) throw new TypeError(`a ${part} validator reported issues that are not a list: ${inspectSafely(reported)}`);
  const issues: ValidationIssue[] = [];
  for (const issue of reported as readonly StandardSchemaV1.Issue[]) {
    const path: unknown = issue.path;
    const message: unknown = issue.message;
    issues.push({
      loc: [LOCATION[part], ...(Array.isArray(path) ? (path as readonly unknown[]).map(pathKey) : [])],
      msg: typeof message === 'string' ? message : inspectSafely(message),
      type: 'value_error',
    });
  }
  if (issues.length === 0) issues.push({ loc: [LOCATION[part]], msg: 'the validator reported a failure without saying why', type: 'value_error' });
  return { ok: false, issues };
}

function pathKey(segment: unknown): string | number {
  const key = typeof segment === 'object' && segment !== null ? (segment as { key?: unknown }).key : segment;
  return typeof key === 'number' ? key : typeof key === 'string' ? key : inspectSafely(key);
}

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  const props = (value as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  return typeof props === 'object' && props !== null && typeof props.validate === 'function';
}
