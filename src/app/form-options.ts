/**
 * A form's limits and where its files go: the options of `req.form()` and of a route's `form`,
 * their defaults, and the check that refuses a bad value with a message naming the option.
 */

import { getHashes } from 'node:crypto';
import { tmpdir } from 'node:os';

/** How much of a form is accepted. Past a size limit: 413; past a count: 400 (both `FA_ERR_FORM_LIMIT`). */
export interface FormLimits {
  /** The largest file, in bytes; a file of exactly this size passes. @default 10 MiB */
  readonly fileSize?: number;
  /** How many files a multipart form may carry. @default 10 */
  readonly files?: number;
  /** How many fields (not files) a form may carry. @default 100 */
  readonly fields?: number;
  /** The largest field value, in bytes of UTF-8 once decoded. @default 64 KiB */
  readonly fieldSize?: number;
  /** The longest field or file field name, in bytes of UTF-8. @default 200 */
  readonly fieldNameSize?: number;
  /** How many parts (fields and files together) a form may carry. @default 110 */
  readonly parts?: number;
}

/** What `req.form(options)` and a route's `form` option take. */
export interface FormOptions extends FormLimits {
  /**
   * A file up to this many bytes stays in memory; a larger one is written to a temporary file as
   * it arrives. 0 writes every non-empty file to disk. @default 64 KiB
   */
  readonly memoryLimit?: number;
  /** Where temporary files go (in a folder of the request's own, `fasterapi-uploads-XXXXXX`). @default os.tmpdir() */
  readonly tmpDir?: string;
  /** A `node:crypto` hash algorithm (`'sha256'`) each file is hashed with as it arrives, into `file.hash`; null for none. @default null */
  readonly hash?: string | null;
}

/** A route's `form` option: the form's defaults for `req.form()`, and what the OpenAPI document says. */
export interface RouteFormOptions extends FormOptions {
  /**
   * The fields that carry files. They are documented as binary in the OpenAPI document, and a
   * file sent under any other name is refused with 400. Unset: any field may carry a file, and
   * the document names none.
   */
  readonly fileFields?: readonly string[];
}

/** Every option with its value. */
export type ResolvedFormOptions = { readonly [K in keyof FormOptions]-?: Exclude<FormOptions[K], undefined> } & {
  readonly fileFields: readonly string[] | null;
};

const KIB = 1024;

export const FORM_DEFAULTS: ResolvedFormOptions = Object.freeze({
  fileSize: 10 * KIB * KIB,
  files: 10,
  fields: 100,
  fieldSize: 64 * KIB,
  fieldNameSize: 200,
  parts: 110,
  memoryLimit: 64 * KIB,
  tmpDir: tmpdir(),
  hash: null,
  fileFields: null,
});

const COUNTS = ['fileSize', 'files', 'fields', 'fieldSize', 'fieldNameSize', 'parts', 'memoryLimit'] as const;

/**
 * `given` over `base`, checked: the resolved options, or a message naming the option that is
 * wrong and what it takes. Sizes and counts are whole numbers from 0 to 2^53 − 1.
 */
export function resolveFormOptions(given: RouteFormOptions | undefined, base: ResolvedFormOptions): ResolvedFormOptions | string {
  if (given === undefined) return base;
  if (typeof given !== 'object' || given === null) return 'must be an object of form options';
  const resolved: Record<string, unknown> = { ...base };
  for (const name of COUNTS) {
    const value = given[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) return `${name} must be a whole number from 0 (got ${String(value)})`;
    resolved[name] = value;
  }
  if (given.tmpDir !== undefined) {
    if (typeof given.tmpDir !== 'string' || given.tmpDir === '') return 'tmpDir must be a folder path';
    resolved['tmpDir'] = given.tmpDir;
  }
  if (given.hash !== undefined) {
    if (given.hash !== null && (typeof given.hash !== 'string' || !getHashes().includes(given.hash))) {
      return `hash must be a node:crypto hash algorithm such as 'sha256', or null (got ${String(given.hash)})`;
    }
    resolved['hash'] = given.hash;
  }
  if (given.fileFields !== undefined) {
    if (!Array.isArray(given.fileFields) || !given.fileFields.every((f) => typeof f === 'string')) return 'fileFields must be a list of field names';
    resolved['fileFields'] = [...given.fileFields];
  }
  return resolved as ResolvedFormOptions;
}
