/**
 * Content types of static files, by extension: the common web types, compact on purpose (a
 * full registry is megabytes for types a web app never serves). Text types say UTF-8; an
 * extension not listed is sent as `application/octet-stream`, which a browser downloads rather
 * than renders, and `x-content-type-options: nosniff` stops it from guessing otherwise.
 */

const UTF8 = '; charset=utf-8';

const TYPES: ReadonlyMap<string, string> = new Map([
  ['html', `text/html${UTF8}`],
  ['htm', `text/html${UTF8}`],
  ['css', `text/css${UTF8}`],
  ['js', `text/javascript${UTF8}`],
  ['mjs', `text/javascript${UTF8}`],
  ['cjs', `text/javascript${UTF8}`],
  ['json', `application/json${UTF8}`],
  ['map', `application/json${UTF8}`],
  ['webmanifest', `application/manifest+json${UTF8}`],
  ['txt', `text/plain${UTF8}`],
  ['md', `text/markdown${UTF8}`],
  ['csv', `text/csv${UTF8}`],
  ['xml', `application/xml${UTF8}`],
  ['svg', `image/svg+xml${UTF8}`],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['jpeg', 'image/jpeg'],
  ['gif', 'image/gif'],
  ['webp', 'image/webp'],
  ['avif', 'image/avif'],
  ['ico', 'image/x-icon'],
  ['bmp', 'image/bmp'],
  ['woff', 'font/woff'],
  ['woff2', 'font/woff2'],
  ['ttf', 'font/ttf'],
  ['otf', 'font/otf'],
  ['pdf', 'application/pdf'],
  ['wasm', 'application/wasm'],
  ['zip', 'application/zip'],
  ['gz', 'application/gzip'],
  ['mp4', 'video/mp4'],
  ['webm', 'video/webm'],
  ['mp3', 'audio/mpeg'],
  ['ogg', 'audio/ogg'],
  ['wav', 'audio/wav'],
]);

export const BINARY_TYPE = 'application/octet-stream';

/** The content type of a file named `name` (a base name or a path), by its extension, any case. */
export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  const slash = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  if (dot <= slash + 1) return BINARY_TYPE; // no extension, or a dotfile's name only
  return TYPES.get(name.slice(dot + 1).toLowerCase()) ?? BINARY_TYPE;
}
