/**
 * Which multipart parser `req.form()` is built on: busboy (streaming: each part is handed over
 * as it arrives, so a file can go to disk while it is received) or the web platform's
 * `Request.formData()` (undici inside Node.js, which buffers the whole body and every file in
 * memory). Each parser runs in a child process of its own, so its peak RSS is its own.
 *
 * Two bodies: one 10 MiB file, and a form of 100 small fields. 200 parses of each; the time is
 * the total wall time, the RSS the process's peak (`process.resourceUsage().maxRSS`).
 *
 * Run: ./node_modules/.bin/node bench/forms.ts
 */

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import busboy from 'busboy';

const ITERATIONS = 200;
const BOUNDARY = '----fasterapi-bench-boundary';

function multipart(parts: ReadonlyArray<{ name: string; filename?: string; data: Uint8Array | string }>): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    const type = part.filename === undefined ? '' : 'content-type: application/octet-stream\r\n';
    chunks.push(Buffer.from(`--${BOUNDARY}\r\ncontent-disposition: ${disposition}\r\n${type}\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

const BODIES = {
  file: () => multipart([{ name: 'file', filename: 'big.bin', data: randomBytes(10 * 1024 * 1024) }]),
  fields: () => multipart(Array.from({ length: 100 }, (_, i) => ({ name: `field${i}`, data: `value number ${i}` }))),
};

/** Parses `body` with busboy, counting the bytes of each part as they stream by (a file is not kept). */
function withBusboy(body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const parser = busboy({ headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, limits: { fileSize: Infinity } });
    parser.on('file', (_name, stream) => stream.on('data', (chunk: Buffer) => (seen += chunk.length)));
    parser.on('field', (_name, value: string) => (seen += value.length));
    parser.on('close', () => resolve(seen));
    parser.on('error', reject);
    // In 64 KiB chunks, as a socket hands them over.
    Readable.from(chunked(body)).pipe(parser);
  });
}

function* chunked(body: Buffer): Generator<Buffer> {
  for (let at = 0; at < body.length; at += 65_536) yield body.subarray(at, at + 65_536);
}

async function withFormData(body: Buffer): Promise<number> {
  const request = new Request('http://localhost/', {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: Readable.toWeb(Readable.from(chunked(body))) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  let seen = 0;
  for (const [, value] of await request.formData()) seen += typeof value === 'string' ? value.length : value.size;
  return seen;
}

async function child(parser: 'busboy' | 'formData', kind: keyof typeof BODIES): Promise<void> {
  const body = BODIES[kind]();
  const parse = parser === 'busboy' ? withBusboy : withFormData;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) await parse(body);
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

const [, , parserArg, kindArg] = process.argv;
if (parserArg !== undefined && kindArg !== undefined) {
  await child(parserArg as 'busboy' | 'formData', kindArg as keyof typeof BODIES);
} else {
  console.log(`${ITERATIONS} parses each, Node ${process.version}`);
  console.log('body            parser    total ms   ms/parse   peak RSS MiB');
  for (const kind of Object.keys(BODIES) as Array<keyof typeof BODIES>) {
    for (const parser of ['busboy', 'formData'] as const) {
      const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, parser, kind], { encoding: 'utf8' });
      const { ms, maxRssMiB } = JSON.parse(out) as { ms: number; maxRssMiB: number };
      const label = kind === 'file' ? 'one 10 MiB file' : '100 fields';
      console.log(`${label.padEnd(16)}${parser.padEnd(10)}${ms.toFixed(0).padStart(8)}   ${(ms / ITERATIONS).toFixed(2).padStart(8)}   ${maxRssMiB.toFixed(0).padStart(12)}`);
    }
  }
}
