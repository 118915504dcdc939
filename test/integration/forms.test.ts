/**
 * Forms and uploads over HTTP/1.1 and h2c, inline and pooled: urlencoded and multipart forms,
 * each limit at its value and one past it, the per-route body limit, temporary files deleted
 * when the request ends (answered, failed, or abandoned by its client) and kept after moveTo,
 * malformed forms, validation, the OpenAPI document, and curl's own multipart bodies.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Server } from '../../src/index.ts';
import { createClient, overEachClient, type Client, type SimpleResponse } from '../helpers/clients.ts';
import { MULTIPART_TYPE, multipart, type Part } from '../helpers/multipart.ts';
import { rawConnect } from '../helpers/raw.ts';
import { startTestServer } from '../helpers/server.ts';
import { SMALL, SMALL_BODY_LIMIT } from '../fixtures/apps/forms.ts';

const FORMS_APP = new URL('../fixtures/apps/forms.ts', import.meta.url);
const run = promisify(execFile);

interface Described {
  fields: Record<string, string | string[]>;
  repeated: string[];
  first: string | null;
  files: Array<{ fieldName: string; filename: string; type: string; size: number; hash: string | null; read: string; streamed: number; onDisk: boolean }>;
  ran: 'pinned' | 'pooled';
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

let server: Server;
const scratch: string[] = [];
before(async () => {
  server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 2 }, FORMS_APP);
});
after(async () => {
  await server.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A folder of the test's own, removed after the run. */
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fasterapi-forms-test-'));
  scratch.push(dir);
  return dir;
}

/** Waits until `dir` is empty: the server deletes temporary files after the response has left. */
async function emptied(dir: string): Promise<void> {
  for (let i = 0; i < 500 && readdirSync(dir).length > 0; i++) await delay(10);
  assert.deepEqual(readdirSync(dir), [], `${dir} still holds temporary files`);
}

/** Waits until the server has written a temporary file under `dir`. */
async function holdsTempFile(dir: string): Promise<void> {
  const files = (): string[] => readdirSync(dir).flatMap((sub) => readdirSync(join(dir, sub)));
  for (let i = 0; i < 500 && files().length === 0; i++) await delay(10);
  assert.equal(files().length, 1, 'the server wrote the temporary file');
}

function post(client: Client, path: string, body: string | Uint8Array, headers: Record<string, string> = {}, chunked = false): Promise<SimpleResponse> {
  return client.request(path, { method: 'POST', body, headers: { 'content-type': MULTIPART_TYPE, ...headers }, chunked });
}

function detail(res: SimpleResponse): string {
  return (res.json() as { detail: string }).detail;
}

const fields = (n: number, size = 1): Part[] => Array.from({ length: n }, (_, i) => ({ name: `f${i}`, value: 'v'.repeat(size) }));
const files = (n: number, size = 8): Part[] => Array.from({ length: n }, (_, i) => ({ name: 'file', filename: `f${i}.bin`, value: randomBytes(size) }));

overEachClient(['h1', 'h2c'], () => server.port, (client) => {
  for (const where of ['inline', 'pooled'] as const) {
    const ran = where === 'inline' ? 'pinned' : 'pooled';
    describe(where, () => {
      test('a urlencoded form: repeated names become a list, unicode and + are decoded', async () => {
        const body = `tag=a&tag=b&name=${encodeURIComponent('Zoë ✓ 日本')}&plus=a+b&empty=`;
        const res = await client().request(`/${where}/small`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' } });
        assert.equal(res.status, 200, res.text());
        const got = res.json() as Described;
        assert.deepEqual(got.fields, { tag: ['a', 'b'], name: 'Zoë ✓ 日本', plus: 'a b', empty: '' });
        assert.deepEqual(got.repeated, ['a', 'b']);
        assert.equal(got.first, 'a');
        assert.equal(got.ran, ran);
      });

      test('a multipart form with several files and fields: bytes, hashes, sizes and names as sent', async () => {
        const small = randomBytes(SMALL.memoryLimit);
        const large = randomBytes(SMALL.fileSize);
        const body = multipart([
          { name: 'title', value: 'Grüße' },
          { name: 'file', filename: 'résumé.txt', type: 'text/plain', value: small },
          { name: 'tag', value: 'x' },
          { name: 'other', filename: 'large.bin', value: large },
        ]);
        const res = await post(client(), `/${where}/small`, body);
        assert.equal(res.status, 200, res.text());
        const got = res.json() as Described;
        assert.deepEqual(got.fields, { title: 'Grüße', tag: 'x' });
        assert.deepEqual(got.files, [
          { fieldName: 'file', filename: 'résumé.txt', type: 'text/plain', size: small.length, hash: sha256(small), read: sha256(small), streamed: small.length, onDisk: false },
          { fieldName: 'other', filename: 'large.bin', type: 'application/octet-stream', size: large.length, hash: sha256(large), read: sha256(large), streamed: large.length, onDisk: true },
        ]);
      });

      test(`a file of exactly fileSize (${SMALL.fileSize}) passes, one byte more is 413`, async () => {
        const at = await post(client(), `/${where}/small`, multipart([{ name: 'file', filename: 'a', value: randomBytes(SMALL.fileSize) }]));
        assert.equal(at.status, 200, at.text());
        const past = await post(client(), `/${where}/small`, multipart([{ name: 'file', filename: 'a', value: randomBytes(SMALL.fileSize + 1) }]));
        assert.equal(past.status, 413);
        assert.match(detail(past), new RegExp(`fileSize limit of ${SMALL.fileSize} bytes`));
      });

      test(`exactly files (${SMALL.files}) files pass, one more is 400`, async () => {
        const at = await post(client(), `/${where}/small`, multipart(files(SMALL.files)));
        assert.equal(at.status, 200, at.text());
        assert.equal((at.json() as Described).files.length, SMALL.files);
        const past = await post(client(), `/${where}/small`, multipart(files(SMALL.files + 1)));
        assert.equal(past.status, 400);
        assert.match(detail(past), new RegExp(`files limit of ${SMALL.files}$`));
      });

      test(`exactly fields (${SMALL.fields}) fields pass, one more is 400, multipart and urlencoded`, async () => {
        const at = await post(client(), `/${where}/small`, multipart(fields(SMALL.fields)));
        assert.equal(at.status, 200, at.text());
        assert.equal(Object.keys((at.json() as Described).fields).length, SMALL.fields);
        const past = await post(client(), `/${where}/small`, multipart(fields(SMALL.fields + 1)));
        assert.equal(past.status, 400);
        assert.match(detail(past), new RegExp(`fields limit of ${SMALL.fields}$`));
        const urlencoded = (n: number): Promise<SimpleResponse> =>
          client().request(`/${where}/small`, { method: 'POST', body: Array.from({ length: n }, (_, i) => `f${i}=v`).join('&'), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        assert.equal((await urlencoded(SMALL.fields)).status, 200);
        assert.equal((await urlencoded(SMALL.fields + 1)).status, 400);
      });

      test(`exactly parts (${SMALL.parts}) parts pass, one more is 400`, async () => {
        const at = await post(client(), `/${where}/small`, multipart([...files(SMALL.files), ...fields(SMALL.parts - SMALL.files)]));
        assert.equal(at.status, 200, at.text());
        const past = await post(client(), `/${where}/small`, multipart([...files(SMALL.files), ...fields(SMALL.parts - SMALL.files + 1)]));
        assert.equal(past.status, 400);
        assert.match(detail(past), new RegExp(`parts limit of ${SMALL.parts}$`));
      });

      test(`a field of exactly fieldSize (${SMALL.fieldSize} bytes) passes, one byte more is 413, multipart and urlencoded`, async () => {
        // 'é' is two bytes of UTF-8: the limit counts bytes, not characters.
        const value = (bytes: number): string => 'é'.repeat(Math.floor(bytes / 2)) + 'e'.repeat(bytes % 2);
        const at = await post(client(), `/${where}/small`, multipart([{ name: 'f', value: value(SMALL.fieldSize) }]));
        assert.equal(at.status, 200, at.text());
        const past = await post(client(), `/${where}/small`, multipart([{ name: 'f', value: value(SMALL.fieldSize + 1) }]));
        assert.equal(past.status, 413);
        assert.match(detail(past), new RegExp(`fieldSize limit of ${SMALL.fieldSize} bytes`));
        const urlencoded = (bytes: number): Promise<SimpleResponse> =>
          client().request(`/${where}/small`, { method: 'POST', body: `f=${encodeURIComponent(value(bytes))}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        assert.equal((await urlencoded(SMALL.fieldSize)).status, 200);
        assert.equal((await urlencoded(SMALL.fieldSize + 1)).status, 413);
      });

      test(`a field name of exactly fieldNameSize (${SMALL.fieldNameSize} bytes) passes, one byte more is 413`, async () => {
        const at = await post(client(), `/${where}/small`, multipart([{ name: 'n'.repeat(SMALL.fieldNameSize), value: 'v' }]));
        assert.equal(at.status, 200, at.text());
        const past = await post(client(), `/${where}/small`, multipart([{ name: 'n'.repeat(SMALL.fieldNameSize + 1), value: 'v' }]));
        assert.equal(past.status, 413);
        assert.match(detail(past), new RegExp(`fieldNameSize limit of ${SMALL.fieldNameSize} bytes`));
      });

      for (const chunked of [false, true]) {
        test(`the route's bodyLimit (${SMALL_BODY_LIMIT}) takes a body of exactly its size, one byte more is 413 (${chunked ? 'no content-length' : 'content-length'})`, async () => {
          // One field filling the body (the route's fieldSize is its bodyLimit).
          const exact = (size: number): string => `g=${'v'.repeat(size - 2)}`;
          const res = await client().request(`/${where}/wide`, { method: 'POST', body: exact(SMALL_BODY_LIMIT), headers: { 'content-type': 'application/x-www-form-urlencoded' }, chunked });
          assert.equal(res.status, 200, res.text());
          const past = await client().request(`/${where}/wide`, { method: 'POST', body: exact(SMALL_BODY_LIMIT + 1), headers: { 'content-type': 'application/x-www-form-urlencoded' }, chunked });
          assert.equal(past.status, 413);
          assert.equal(detail(past), `Request body is larger than the limit of ${SMALL_BODY_LIMIT} bytes`);
        });
      }

      test('a 5 MiB upload passes on a route with a 50 MiB bodyLimit, while the server-wide 1 MiB still holds elsewhere', async () => {
        const file = randomBytes(5 * 1024 * 1024);
        const res = await post(client(), `/${where}/upload`, multipart([{ name: 'file', filename: 'big.bin', value: file }]));
        assert.equal(res.status, 200, res.text());
        const got = res.json() as Described;
        assert.equal(got.files[0]?.hash, sha256(file));
        assert.equal(got.files[0]?.read, sha256(file));
        assert.equal(got.files[0]?.onDisk, true);
        const json = await client().request(`/${where}/json`, { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1) });
        assert.equal(json.status, 413);
      });

      test('temporary files are deleted once the response is sent, and a moved file is kept', async () => {
        const dir = freshDir();
        const large = randomBytes(SMALL.fileSize);
        const res = await post(client(), `/${where}/small`, multipart([{ name: 'a', filename: 'a', value: large }, { name: 'b', filename: 'b', value: large }]), { 'x-tmp-dir': dir });
        assert.equal(res.status, 200, res.text());
        assert.deepEqual((res.json() as Described).files.map((f) => f.onDisk), [true, true]);
        await emptied(dir);

        const keep = join(freshDir(), 'kept.bin');
        const moved = await post(client(), `/${where}/small`, multipart([{ name: 'a', filename: 'a', value: large }, { name: 'b', filename: 'b', value: large }]), { 'x-tmp-dir': dir, 'x-move-to': keep });
        assert.equal(moved.status, 200, moved.text());
        await emptied(dir);
        assert.deepEqual(readFileSync(keep), large);
      });

      test('temporary files are deleted when the handler throws', async () => {
        const dir = freshDir();
        const res = await post(client(), `/${where}/throws`, multipart([{ name: 'a', filename: 'a', value: randomBytes(100) }]), { 'x-tmp-dir': dir });
        assert.equal(res.status, 500);
        await emptied(dir);
      });

      test('temporary files are deleted when the form fails past a limit', async () => {
        const dir = freshDir();
        const res = await post(client(), `/${where}/small`, multipart([...files(1, SMALL.fileSize), { name: 'big', filename: 'x', value: randomBytes(SMALL.fileSize + 1) }]), { 'x-tmp-dir': dir });
        assert.equal(res.status, 413);
        await emptied(dir);
      });

      test('a form that fails has deleted its files by the time the handler sees the error', async () => {
        const dir = freshDir();
        const res = await post(client(), `/${where}/catches`, multipart([{ name: 'a', filename: 'a', value: randomBytes(50) }, { name: 'b', filename: 'b', value: randomBytes(101) }]), { 'x-tmp-dir': dir });
        assert.equal(res.status, 200, res.text());
        assert.deepEqual(res.json(), { failed: 413, left: [] });
      });

      test('temporary files are deleted when the handler times out', async () => {
        const dir = freshDir();
        const res = await post(client(), `/${where}/stalls`, multipart([{ name: 'a', filename: 'a', value: randomBytes(50) }]), { 'x-tmp-dir': dir });
        assert.equal(res.status, 504);
        await emptied(dir);
      });

      test('a malformed multipart body is 400: no boundary, or cut short', async () => {
        const noBoundary = await client().request(`/${where}/small`, { method: 'POST', body: multipart(fields(1)), headers: { 'content-type': 'multipart/form-data' } });
        assert.equal(noBoundary.status, 400);
        assert.equal(detail(noBoundary), 'Malformed multipart form: the content-type has no boundary');
        const cut = await post(client(), `/${where}/small`, multipart(fields(1), { end: false }));
        assert.equal(cut.status, 400);
        assert.equal(detail(cut), 'Malformed multipart form: unexpected end of form');
        const garbage = await post(client(), `/${where}/small`, `--${MULTIPART_TYPE.split('=')[1]}\r\nno header end`);
        assert.equal(garbage.status, 400);
        assert.match(detail(garbage), /^Malformed multipart form: /);
      });

      test('a body that is not a form is 415', async () => {
        const res = await client().request(`/${where}/small`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 415);
        assert.match(detail(res), /^Expected a form \(multipart\/form-data or application\/x-www-form-urlencoded\), got 'application\/json'$/);
        const none = await client().request(`/${where}/validated`, { method: 'POST', body: 'name=x' });
        assert.equal(none.status, 415);
      });

      test('schema.body validates the form fields: 422 with the detail list, or the coerced values', async () => {
        const bad = await client().request(`/${where}/validated`, { method: 'POST', body: 'name=&age=old', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        assert.equal(bad.status, 422);
        const issues = (bad.json() as { detail: Array<{ loc: string[]; type: string }> }).detail;
        assert.deepEqual(issues.map((i) => i.loc).sort(), [['body', 'age'], ['body', 'name']]);
        assert.ok(issues.every((i) => i.type === 'value_error'));
        const good = await post(client(), `/${where}/validated`, multipart([{ name: 'name', value: 'Ada' }, { name: 'age', value: '36' }, { name: 'tag', value: 'a' }, { name: 'tag', value: 'b' }]));
        assert.equal(good.status, 200, good.text());
        assert.deepEqual(good.json(), { body: { name: 'Ada', age: 36, tag: ['a', 'b'] }, ran });
      });

      test('a file in a field the route does not list is 400', async () => {
        const res = await post(client(), `/${where}/upload`, multipart([{ name: 'avatar', filename: 'a.png', value: 'x' }]));
        assert.equal(res.status, 400);
        assert.match(detail(res), /field 'avatar', which takes none \(file fields: file, more\)/);
      });
    });
  }

  test('each response belongs to its request: concurrent uploads of different files', async () => {
    const sent = Array.from({ length: 8 }, (_, i) => randomBytes(100_000 + i * 37_000));
    const results = await Promise.all(
      sent.map((file, i) => post(client(), `/${i % 2 === 0 ? 'inline' : 'pooled'}/upload`, multipart([{ name: 'file', filename: `f${i}`, value: file }, { name: 'i', value: String(i) }]))),
    );
    results.forEach((res, i) => {
      assert.equal(res.status, 200, res.text());
      const got = res.json() as Described;
      assert.equal(got.fields['i'], String(i));
      assert.equal(got.files[0]?.filename, `f${i}`);
      assert.equal(got.files[0]?.hash, sha256(sent[i]!));
      assert.equal(got.files[0]?.size, sent[i]!.length);
    });
  });
});

describe('a client that leaves mid-upload leaves no temporary file', () => {
  /** The first half of a form whose file goes to disk, and the whole form's size. */
  const half = (): { head: Buffer; rest: number } => {
    const body = multipart([{ name: 'file', filename: 'a', value: randomBytes(SMALL.fileSize) }]);
    return { head: body.subarray(0, body.length / 2), rest: body.length };
  };

  test('over HTTP/1.1', async () => {
    const dir = freshDir();
    const { head, rest } = half();
    const conn = await rawConnect(server.port);
    conn.socket.write(`POST /inline/small HTTP/1.1\r\nhost: x\r\ncontent-type: ${MULTIPART_TYPE}\r\ncontent-length: ${rest}\r\nx-tmp-dir: ${dir}\r\n\r\n`);
    conn.socket.write(head);
    await holdsTempFile(dir);
    conn.socket.destroy();
    await emptied(dir);
  });

  test('over h2c', async () => {
    const dir = freshDir();
    const { head, rest } = half();
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': '/inline/small', 'content-type': MULTIPART_TYPE, 'content-length': rest, 'x-tmp-dir': dir });
    stream.on('error', () => {});
    stream.write(head);
    await holdsTempFile(dir);
    session.destroy();
    await emptied(dir);
  });

  test('the server serves on after them', async () => {
    const client = createClient('h1', server.port);
    try {
      const res = await post(client, '/inline/small', multipart(fields(1)));
      assert.equal(res.status, 200);
    } finally {
      await client.close();
    }
  });
});

describe('curl -F', () => {
  for (const [flag, version] of [['--http1.1', '1.1'], ['--http2-prior-knowledge', '2']] as const) {
    test(`uploads a file and a field over ${flag}, inline and pooled`, async () => {
      const dir = freshDir();
      const path = join(dir, 'upload.bin');
      const file = randomBytes(300_000);
      writeFileSync(path, file);
      for (const where of ['inline', 'pooled']) {
        const { stdout } = await run('curl', ['-sS', '--max-time', '10', flag, '-w', '\n%{http_version} %{http_code}', '-F', `file=@${path};type=image/png`, '-F', 'name=x', `http://127.0.0.1:${server.port}/${where}/upload`]);
        const [body, status] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
        assert.equal(status, `${version} 200`, body);
        const got = JSON.parse(body) as Described;
        assert.deepEqual(got.fields, { name: 'x' });
        assert.deepEqual(
          got.files.map((f) => [f.fieldName, f.filename, f.type, f.size, f.hash]),
          [['file', 'upload.bin', 'image/png', file.length, sha256(file)]],
        );
      }
    });
  }
});

describe('the OpenAPI document', () => {
  test('describes form routes with both form content types, and file fields as binary', async () => {
    const client = createClient('h1', server.port);
    try {
      const doc = (await client.request('/openapi.json')).json() as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> } }>> };
      const validator = new Validator();
      const result = await validator.validate(doc as unknown as Record<string, unknown>);
      assert.deepEqual(result.errors, undefined);
      assert.equal(result.valid, true);
      const validated = doc.paths['/inline/validated']?.['post']?.requestBody?.content;
      assert.deepEqual(Object.keys(validated ?? {}).sort(), ['application/x-www-form-urlencoded', 'multipart/form-data']);
      assert.deepEqual(Object.keys(validated?.['multipart/form-data']?.schema.properties ?? {}), ['name', 'age', 'tag']);
      const upload = doc.paths['/pooled/upload']?.['post']?.requestBody?.content;
      assert.deepEqual(Object.keys(upload ?? {}), ['multipart/form-data']);
      assert.deepEqual(upload?.['multipart/form-data']?.schema.properties?.['file'], { type: 'string', format: 'binary', contentMediaType: 'application/octet-stream' });
      assert.equal(doc.paths['/inline/json']?.['post']?.requestBody, undefined);
    } finally {
      await client.close();
    }
  });
});
