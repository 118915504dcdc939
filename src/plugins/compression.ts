/**
 * Response compression as a plugin: brotli or gzip through `node:zlib`, chosen from the request's
 * `Accept-Encoding` (RFC 9110 §12.5.3) by its q-values, brotli first on a tie.
 *
 *   app.use(compression({ threshold: 1024 }));
 *
 * Whole bodies are compressed on the libuv thread pool (zlib's async API), so a large body does
 * not block the event loop. Streamed bodies are compressed chunk by chunk, each flushed as it is
 * written, so a client sees every chunk when the handler yields it, and a slow client still
 * holds the stream back (zlib's own buffers are bounded). Left alone: bodies under the
 * threshold, types that do not compress (images, archives, `text/event-stream`), responses that
 * already have a `Content-Encoding` or say `Cache-Control: no-transform`, and ranges (206).
 */

import { once } from 'node:events';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { preferredEncoding } from '../app/accept-encoding.ts';
import type { Plugin, ResponseDraft } from '../app/hooks.ts';
import { disposeBody, type BodyStream } from '../app/response.ts';
import { addVary } from './vary.ts';

export type Encoding = 'br' | 'gzip';

export interface CompressionOptions {
  /** Smallest whole body worth compressing, in bytes; streamed bodies are always compressed. @default 1024 */
  readonly threshold?: number;
  /** Encodings offered, most preferred first. @default ['br', 'gzip'] */
  readonly encodings?: readonly Encoding[];
  /** Brotli quality, 0–11; above 5 is slow for responses made per request. @default 4 */
  readonly brotliQuality?: number;
  /** Gzip level, 1–9. @default 6 */
  readonly gzipLevel?: number;
  /** Which content types to compress. @default text, JSON, JavaScript, XML, SVG, except event streams */
  readonly filter?: (contentType: string) => boolean;
}

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

const COMPRESSIBLE = /^(?:text\/(?!event-stream)|application\/(?:json|javascript|ecmascript|xml|x-www-form-urlencoded|wasm|manifest\+json|[\w.+-]+\+(?:json|xml))|image\/svg\+xml)/i;

export function compression(options: CompressionOptions = {}): Plugin {
  const threshold = options.threshold ?? 1024;
  if (!Number.isInteger(threshold) || threshold < 0) throw new TypeError(`compression(): threshold must be a whole number of bytes, got ${String(threshold)}`);
  const encodings = options.encodings ?? ['br', 'gzip'];
  if (!Array.isArray(encodings) || encodings.length === 0 || !encodings.every((name) => name === 'br' || name === 'gzip')) {
    throw new TypeError("compression(): encodings must be a non-empty list of 'br' and 'gzip'");
  }
  const brotliQuality = options.brotliQuality ?? 4;
  if (!Number.isInteger(brotliQuality) || brotliQuality < 0 || brotliQuality > 11) throw new TypeError('compression(): brotliQuality must be 0–11');
  const gzipLevel = options.gzipLevel ?? 6;
  if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) throw new TypeError('compression(): gzipLevel must be 1–9');
  const filter = options.filter ?? ((type: string) => COMPRESSIBLE.test(type));

  const brotliOptions: zlib.BrotliOptions = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: brotliQuality } };
  const gzipOptions: zlib.ZlibOptions = { level: gzipLevel };

  return {
    name: 'compression',
    async onResponse(req, res) {
      const body = res.body;
      if (body === null || res.status === 204 || res.status === 304 || res.headers['content-encoding'] !== undefined) return;
      // A part of a file (206) is named by byte offsets into its identity form: compressing it
      // would make the Content-Range lie.
      if (res.status === 206 || res.headers['content-range'] !== undefined) return;
      const type = res.headers['content-type'];
      if (typeof type !== 'string' || !filter(type)) return;
      if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(String(res.headers['cache-control'] ?? ''))) return;
      // The response depends on Accept-Encoding from here on, compressed or not.
      addVary(res.headers, 'Accept-Encoding');
      const streamed = typeof body !== 'string' && !(body instanceof Uint8Array);
      if (!streamed && byteLength(body) < threshold) return;
      const encoding = negotiate(req.header('accept-encoding'), encodings);
      if (encoding === null) return;
      res.headers['content-encoding'] = encoding;
      // A strong validator names these exact bytes; the compressed ones are only equivalent.
      const etag = res.headers['etag'];
      if (typeof etag === 'string' && !etag.startsWith('W/')) res.headers['etag'] = `W/${etag}`;
      if (streamed) {
        res.body = compressStream(body, () => (encoding === 'br' ? zlib.createBrotliCompress(brotliOptions) : zlib.createGzip(gzipOptions)));
      } else {
        res.body = encoding === 'br' ? await brotli(body, brotliOptions) : await gzip(body, gzipOptions);
      }
    },
  };
}

function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

/** The supported encoding the client prefers, or null for identity (see `preferredEncoding`). */
export function negotiate(header: string | undefined, offered: readonly Encoding[]): Encoding | null {
  return preferredEncoding(header, offered);
}

/**
 * Compresses a streamed body as it is pulled: each chunk goes into zlib and is flushed, and the
 * next chunk is asked for only when zlib has room. zlib is made on the first pull, so a body that
 * is never sent (HEAD, a client gone) costs none. `destroy()` (see `disposeBody` and `pipeBody`)
 * stops zlib and releases the source at once, even while the source waits for its next chunk.
 */
function compressStream(body: BodyStream, makeZip: () => zlib.BrotliCompress | zlib.Gzip): BodyStream & { destroy(): void } {
  let zip: zlib.BrotliCompress | zlib.Gzip | null = null;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    zip?.destroy();
    disposeBody(body);
  };
  return {
    async *[Symbol.asyncIterator]() {
      if (stopped) return;
      const z = (zip = makeZip());
      const source = body[Symbol.asyncIterator]();
      const feed = async (): Promise<void> => {
        try {
          for (;;) {
            const next = await source.next();
            if (stopped) return;
            if (next.done === true) break;
            if (!z.write(next.value)) await once(z, 'drain');
            await new Promise<void>((resolve) => z.flush(() => resolve()));
          }
          z.end();
        } catch (thrown) {
          z.destroy(thrown as Error);
        }
      };
      void feed();
      try {
        for await (const chunk of z) yield chunk as Buffer;
      } finally {
        stop();
      }
    },
    destroy: stop,
  };
}
