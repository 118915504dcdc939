/**
 * The form options a route may declare, checked at registration; the shape of a parsed form; and
 * the multipart parser under property tests: whatever the chunking, and whatever the damage.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MULTIPART_TYPE, multipart } from '../helpers/multipart.ts';
import { refused } from '../helpers/refused.ts';
import { appTable } from '../../src/app/app.ts';
import { parseForm } from '../../src/app/form.ts';
import { TempDir } from '../../src/app/uploaded-file.ts';
import { App, ErrorCode, FORM_DEFAULTS, isFasterApiError, isHttpError } from '../../src/index.ts';

describe('route options for forms', () => {
  test('bodyLimit must be a whole number of bytes', () => {
    for (const bad of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
      refused(() => new App().post('/up', () => 'ok', { bodyLimit: bad }), /the bodyLimit of POST \/up must be a whole number of bytes from 0/);
    }
    const app = new App().post('/up', () => 'ok', { bodyLimit: 50 * 1024 * 1024 });
    assert.equal(appTable(app)?.routes[0]?.bodyLimit, 50 * 1024 * 1024);
  });

  test('a form option with a wrong value is refused, naming the option', () => {
    refused(() => new App().post('/f', () => 'ok', { form: { fileSize: -1 } }), /the form option of POST \/f: fileSize must be a whole number from 0/);
    refused(() => new App().post('/f', () => 'ok', { form: { files: 2.5 } }), /files must be a whole number/);
    refused(() => new App().post('/f', () => 'ok', { form: { hash: 'nope' } }), /hash must be a node:crypto hash algorithm/);
    refused(() => new App().post('/f', () => 'ok', { form: { tmpDir: '' } }), /tmpDir must be a folder path/);
    refused(() => new App().post('/f', () => 'ok', { form: { fileFields: [1] as unknown as string[] } }), /fileFields must be a list of field names/);
    refused(() => new App().post('/f', () => 'ok', { form: 'yes' as unknown as true }), /must be an object of form options/);
  });

  test('form: true takes the defaults; given options go over them', () => {
    const app = new App().post('/a', () => 'ok', { form: true }).post('/b', () => 'ok', { form: { files: 1, hash: 'sha256' } }).post('/c', () => 'ok');
    const routes = appTable(app)!.routes;
    assert.equal(routes[0]?.form, FORM_DEFAULTS);
    assert.deepEqual(routes[1]?.form, { ...FORM_DEFAULTS, files: 1, hash: 'sha256' });
    assert.equal(routes[2]?.form, null);
  });
});

describe('parseForm on bytes in memory', () => {
  const parse = (body: string, contentType: string | undefined, limit = 1024) =>
    parseForm({ body: Buffer.from(body), contentType, bodyLimit: limit, temp: new TempDir('/nonexistent') }, FORM_DEFAULTS);

  test('get, getAll, fields and files', async () => {
    const form = await parse('a=1&b=2&a=3', 'application/x-www-form-urlencoded');
    assert.equal(form.get('a'), '1');
    assert.deepEqual(form.getAll('a'), ['1', '3']);
    assert.deepEqual(form.getAll('none'), []);
    assert.equal(form.get('none'), undefined);
    assert.deepEqual({ ...form.fields }, { a: ['1', '3'], b: '2' });
    assert.deepEqual(form.files, []);
    assert.equal(form.file('a'), undefined);
  });

  test('a field named __proto__ is an ordinary field', async () => {
    const form = await parse('__proto__=x&constructor=y', 'application/x-www-form-urlencoded');
    assert.equal(form.get('__proto__'), 'x');
    assert.equal(form.get('constructor'), 'y');
    assert.equal(Object.getPrototypeOf(form.fields), null);
  });

  test('bytes in memory past the body limit are 413, at it they pass', async () => {
    await assert.doesNotReject(parse('a=' + 'x'.repeat(1022), 'application/x-www-form-urlencoded'));
    await assert.rejects(parse('--b\r\n', 'multipart/form-data; boundary=b', 4), (thrown: unknown) => isHttpError(thrown) && thrown.status === 413);
  });

  test('an empty multipart body is malformed', async () => {
    await assert.rejects(parse('', 'multipart/form-data; boundary=b'), (thrown: unknown) => isHttpError(thrown) && thrown.status === 400 && thrown.code === ErrorCode.INVALID_FORM);
  });
});

/** Up to `numRuns` runs, or fewer past 10 s on a slow machine; a counterexample found is still reported. */
const BUDGET = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, interruptAfterTimeLimit: 10_000 });

const fieldName = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '_', '1'), minLength: 1, maxLength: 6 });
const partArb = fc.oneof(
  fc.record({ name: fieldName, value: fc.string({ unit: 'grapheme', maxLength: 40, size: 'medium' }) }),
  fc.record({ name: fieldName, value: fc.uint8Array({ maxLength: 300, size: 'max' }), filename: fc.constantFrom('a.bin', 'résumé.pdf', '') }),
);

/** `body` as a stream in chunks cut at `cuts` (fractions of its length), as a socket hands it over. */
function inChunks(body: Buffer, cuts: readonly number[]): Readable {
  const at = [...new Set(cuts.map((c) => Math.floor(c * body.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, body.length]) {
    if (to > from) chunks.push(body.subarray(from, to));
    from = Math.max(from, to);
  }
  return Readable.from(chunks, { objectMode: false });
}

describe('parseForm, property-based', () => {
  const options = { ...FORM_DEFAULTS, memoryLimit: 64, hash: 'sha256' };

  test('gives back every field and file as sent, however the body is cut into chunks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasterapi-forms-prop-'));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(partArb, { maxLength: 8 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), async (parts, cuts) => {
          const temp = new TempDir(dir);
          try {
            const form = await parseForm({ body: inChunks(multipart(parts), cuts), contentType: MULTIPART_TYPE, bodyLimit: 1 << 20, temp }, { ...options, tmpDir: dir });
            const sentFields = parts.filter((p) => !('filename' in p));
            const sentFiles = parts.filter((p) => 'filename' in p) as Array<{ name: string; value: Uint8Array; filename: string }>;
            for (const name of new Set(sentFields.map((p) => p.name))) {
              assert.deepEqual(form.getAll(name), sentFields.filter((p) => p.name === name).map((p) => p.value));
            }
            assert.equal(form.files.length, sentFiles.length);
            for (const [i, file] of form.files.entries()) {
              const sent = sentFiles[i]!;
              assert.equal(file.fieldName, sent.name);
              assert.equal(file.filename, sent.filename);
              assert.equal(file.size, sent.value.length);
              assert.deepEqual(Buffer.from(await file.bytes()), Buffer.from(sent.value));
              assert.equal(file.hash, createHash('sha256').update(sent.value).digest('hex'));
              assert.equal(file.path !== null, sent.value.length > options.memoryLimit);
            }
          } finally {
            await temp.end();
          }
        }),
        BUDGET(150),
      );
      assert.deepEqual(readdirSync(dir), [], 'every temporary folder was removed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a damaged body settles as a form or a 400 / 413, never as anything else', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(partArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (parts, flips, keep) => {
          const body = multipart(parts);
          for (const { at, byte } of flips) body[Math.floor(at * (body.length - 1))] = byte;
          const cut = body.subarray(0, Math.ceil(keep * body.length));
          try {
            await parseForm({ body: inChunks(cut, [0.3, 0.6]), contentType: MULTIPART_TYPE, bodyLimit: 1 << 20, temp: new TempDir('/nonexistent') }, { ...options, memoryLimit: 1 << 20 });
          } catch (thrown) {
            assert.ok(isHttpError(thrown), `not an HttpError: ${String(thrown)}`);
            assert.ok(thrown.status === 400 || thrown.status === 413, `status ${thrown.status}`);
          }
        },
      ),
      BUDGET(300),
    );
  });
});
