/** The form options a route may declare, checked at registration, and the shape of a parsed form. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
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
