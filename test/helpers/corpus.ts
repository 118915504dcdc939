/**
 * The malformed-request corpus: raw HTTP/1.1 byte strings and raw HTTP/2 frame sequences, each
 * something a correct server must refuse (4xx, RST_STREAM, GOAWAY or a closed connection),
 * never crash on, and never hang on.
 */

import {
  continuation,
  data,
  Flag,
  frame,
  FrameType,
  GET,
  headerBlock,
  headers,
  hpackInteger,
  ping,
  PREFACE,
  priority,
  rstStream,
  settings,
  windowUpdate,
} from './h2frames.ts';

export interface H1Case {
  readonly name: string;
  readonly bytes: Buffer;
  /**
   * Set for the few inputs that are irregular but unambiguous, which Node's parser accepts as
   * RFC 9112 allows: why it is safe to serve them.
   */
  readonly tolerated?: string;
}

const b = (text: string): Buffer => Buffer.from(text, 'latin1');
const request = (head: string, body = ''): Buffer => b(`${head}\r\n\r\n${body}`);

/** Every byte that may not appear in a header name (RFC 9110 §5.6.2 tchar). */
const SEPARATORS = ['(', ')', '<', '>', '@', ',', ';', '\\', '"', '/', '[', ']', '?', '=', '{', '}', ' ', '\t', '\x01', '\x7f', '\x80', 'é'];

export function http1Corpus(): H1Case[] {
  const cases: H1Case[] = [];
  const add = (name: string, bytes: Buffer | string, tolerated?: string): void => {
    cases.push({ name, bytes: typeof bytes === 'string' ? b(bytes) : bytes, ...(tolerated === undefined ? {} : { tolerated }) });
  };

  // Request lines.
  add('no target, no version', 'GET\r\n\r\n');
  add('HTTP/0.9 style', 'GET /\r\n\r\n');
  add('extra token after the version', 'GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n');
  add(
    'two spaces before the target',
    'GET  / HTTP/1.1\r\nHost: x\r\n\r\n',
    'RFC 9112 §3 lets a server parse whitespace leniently when the result is unambiguous, as it is here',
  );
  add('leading space', ' GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  add('tab as separator', 'GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n');
  add('invalid method characters', 'G@T / HTTP/1.1\r\nHost: x\r\n\r\n');
  add('lowercase method', 'get / HTTP/1.1\r\nHost: x\r\n\r\n');
  add('unknown method', 'FROB / HTTP/1.1\r\nHost: x\r\n\r\n');
  add('a 1000-byte method', `${'A'.repeat(1000)} / HTTP/1.1\r\nHost: x\r\n\r\n`);
  add('unknown version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n');
  add('version letters', 'GET / HTTP/1.x\r\nHost: x\r\n\r\n');
  add('wrong protocol name', 'GET / HTTQ/1.1\r\nHost: x\r\n\r\n');
  add('NUL in the target', 'GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n');
  add('DEL in the target', 'GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n');
  add('space inside the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n');
  add('CR inside the target', 'GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n');
  add('bare CR line ending', 'GET / HTTP/1.1\rHost: x\r\r');
  add('a broken absolute-form target', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n');
  add('CONNECT without a tunnel', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
  add('a mangled HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n');
  add('the HTTP/2 preface cut short', 'PRI * HTTP/2.0\r\n\r\nSM\r\n');
  add('PRI as an HTTP/1.1 method', 'PRI / HTTP/1.1\r\nHost: x\r\n\r\n');
  add('request line only, then silence', 'GET / HTTP/1.1\r\nHost: x\r\n');
  add('a request line longer than the head limit', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);

  // Header names, for GET and for POST with a body.
  for (const method of ['GET', 'POST']) {
    const body = method === 'POST' ? 'Content-Length: 2\r\n' : '';
    const tail = method === 'POST' ? 'hi' : '';
    for (const sep of SEPARATORS) {
      add(`${method}: header name with ${JSON.stringify(sep)}`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X${sep}Y: z`, tail));
    }
    add(`${method}: empty header name`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}: value`, tail));
    add(`${method}: header line without a colon`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}NoColonHere`, tail));
    add(`${method}: pseudo-header in HTTP/1.1`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}:authority: x`, tail));
    add(`${method}: space before the colon`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X-Thing : y`, tail));
    // Header values.
    add(`${method}: CR inside a value`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X: a\rb`, tail));
    add(`${method}: NUL inside a value`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X: a\x00b`, tail));
    add(`${method}: LF splitting a value`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X: a\nb`, tail));
    add(`${method}: obsolete line folding`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X: a\r\n b`, tail));
    add(`${method}: a 20 KB header line`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}X-Big: ${'v'.repeat(20_000)}`, tail));
    add(`${method}: 200 headers`, request(`${method} /hello HTTP/1.1\r\nHost: x\r\n${body}${Array.from({ length: 200 }, (_, i) => `X-H${i}: v`).join('\r\n')}`, tail));
  }

  // Host.
  add('HTTP/1.1 without Host', 'GET /hello HTTP/1.1\r\n\r\n');
  add('Host with a space inside', 'GET /hello HTTP/1.1\r\nHost: a b\r\n\r\n');

  // Framing: Content-Length and Transfer-Encoding.
  const post = (lines: string, body: string): Buffer => request(`POST /bytes HTTP/1.1\r\nHost: x\r\n${lines}`, body);
  add('Content-Length and Transfer-Encoding together', post('Content-Length: 5\r\nTransfer-Encoding: chunked', '0\r\n\r\n'));
  add('Transfer-Encoding and Content-Length together', post('Transfer-Encoding: chunked\r\nContent-Length: 5', '0\r\n\r\n'));
  add('two different Content-Lengths', post('Content-Length: 5\r\nContent-Length: 6', 'hello!'));
  add('a Content-Length list', post('Content-Length: 5, 6', 'hello!'));
  for (const value of ['+5', '-5', '0x5', '5a', '5.0', '1e3', '99999999999999999999999', '', ' ']) {
    add(`Content-Length: ${JSON.stringify(value)}`, post(`Content-Length: ${value}`, 'hello'));
  }
  for (const value of ['chunked, identity', 'identity', 'xchunked', 'gzip', 'chunked, chunked', 'chunk']) {
    add(`Transfer-Encoding: ${value}`, post(`Transfer-Encoding: ${value}`, '0\r\n\r\n'));
  }
  add('two Transfer-Encoding headers, chunked first', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity', '0\r\n\r\n'));
  add('Transfer-Encoding with a vertical tab', post('Transfer-Encoding:\x0bchunked', '0\r\n\r\n'));
  add('Transfer-Encoding with a space before the colon', post('Transfer-Encoding : chunked', '0\r\n\r\n'));
  add(
    'chunked in HTTP/1.0',
    request('POST /bytes HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked', '0\r\n\r\n'),
    'RFC 9112 §6.1: process it, then close the connection, which an HTTP/1.0 connection does',
  );

  // Chunked bodies.
  const chunked = (body: string): Buffer => post('Transfer-Encoding: chunked', body);
  add('chunk size not hex', chunked('zz\r\nhello\r\n0\r\n\r\n'));
  add('negative chunk size', chunked('-1\r\nx\r\n0\r\n\r\n'));
  add('chunk size that overflows', chunked('ffffffffffffffffffff\r\nx\r\n0\r\n\r\n'));
  add('chunk size with a space inside', chunked('1 0\r\nx\r\n0\r\n\r\n'));
  add('NUL in a chunk extension', chunked('5;ext=\x00\r\nhello\r\n0\r\n\r\n'));
  add('chunk data longer than its size', chunked('2\r\nhello\r\n0\r\n\r\n'));
  add('chunk without its CRLF', chunked('5\r\nhello0\r\n\r\n'));
  add('LF-only chunk lines', chunked('5\nhello\n0\n\n'));
  add('bad trailer field', chunked('5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n'));
  add('last chunk, then the connection closes', chunked('5\r\nhello\r\n'));

  // Paths that are not UTF-8, not well escaped, or climb.
  for (const path of ['/\xff\xfe', '/items/%ff', '/items/%', '/items/%zz', '/items/%c0%af', '/files/a%2f..%2fsecret', '/..', '/files/%2e%2e/%2e%2e/x']) {
    add(`path ${JSON.stringify(path)}`, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  }

  // Body past the limit, declared and not.
  add('Content-Length past the body limit', post(`Content-Length: ${10 * 1024 * 1024}`, 'x'.repeat(1000)));
  return cases;
}

export interface H2Case {
  readonly name: string;
  /** What follows the preface and an empty SETTINGS frame. */
  readonly frames: readonly Buffer[];
  /** Send the raw bytes as they are, without the preface and SETTINGS. */
  readonly raw?: boolean;
  /**
   * For a request to `/headers` carrying one invalid field: nghttp2 drops such a field and serves
   * the request without it, so this is the text that must not come back in the echoed headers.
   */
  readonly dropped?: string;
  /** Streams in the sequence that carry a valid request, whose 2xx is expected. */
  readonly served?: readonly number[];
}

export function http2Corpus(): H2Case[] {
  const cases: H2Case[] = [];
  const add = (name: string, frames: Buffer[], raw = false, served?: number[]): void => {
    cases.push({ name, frames, ...(raw ? { raw } : {}), ...(served === undefined ? {} : { served }) });
  };
  const ok = headerBlock(GET('/hello'));
  const withFields = (fields: Array<[string, string]>): Buffer => headerBlock(fields);

  // Prefaces.
  add('preface cut short, then close', [PREFACE.subarray(0, 20)], true);
  add('preface with a wrong byte', [Buffer.concat([PREFACE.subarray(0, 18), Buffer.from('XM\r\n\r\n')])], true);
  add('preface followed by garbage instead of SETTINGS', [PREFACE, Buffer.from('this is not a frame at all, just text......')], true);
  add('HEADERS before SETTINGS', [PREFACE, headers(1, ok)], true);

  // Frame sizes.
  add('SETTINGS of 5 bytes', [frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))]);
  add('SETTINGS of 7 bytes', [frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(7))]);
  add('SETTINGS ACK with a payload', [frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6))]);
  add('SETTINGS on a stream', [frame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0))]);
  add('PING of 7 bytes', [frame(FrameType.PING, 0, 0, Buffer.alloc(7))]);
  add('PING of 9 bytes', [frame(FrameType.PING, 0, 0, Buffer.alloc(9))]);
  add('PING on a stream', [frame(FrameType.PING, 0, 1, Buffer.alloc(8))]);
  add('WINDOW_UPDATE of 3 bytes', [frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))]);
  add('RST_STREAM of 3 bytes', [headers(1, ok, Flag.END_HEADERS), frame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(3))]);
  add('PRIORITY of 4 bytes', [frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4))]);
  add('GOAWAY of 4 bytes', [frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(4))]);
  add('DATA larger than the maximum frame size', [headers(1, ok, Flag.END_HEADERS), data(1, Buffer.alloc(20_000))]);
  add('HEADERS larger than the maximum frame size', [headers(1, Buffer.concat([ok, withFields([['x-pad', 'p'.repeat(17_000)]])]))]);
  add('a frame header claiming more bytes than follow, then close', [frame(FrameType.DATA, 0, 1, Buffer.alloc(10), 100)]);

  // HPACK.
  add('indexed field 0', [headers(1, Buffer.from([0x80]))]);
  add('indexed field past the tables', [headers(1, Buffer.concat([hpackInteger(300, 7, 0x80)]))]);
  add('literal with a name index past the tables', [headers(1, Buffer.concat([hpackInteger(300, 4, 0x00), Buffer.from([0x01, 0x61])]))]);
  add('dynamic table size update too large', [headers(1, Buffer.concat([hpackInteger(1_000_000, 5, 0x20), ok]))]);
  add('dynamic table size update after a field', [headers(1, Buffer.concat([ok, hpackInteger(100, 5, 0x20)]))]);
  add('truncated integer', [headers(1, Buffer.from([0x7f]))]);
  add('integer that overflows', [headers(1, Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))]);
  add('string longer than the block', [headers(1, Buffer.from([0x00, 0x7f, 0x10, 0x61]))]);
  add('invalid Huffman code', [headers(1, Buffer.from([0x00, 0x81, 0xff, 0x81, 0xff]))]);
  add('Huffman EOS inside a string', [headers(1, Buffer.from([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00]))]);

  // Streams in the wrong state.
  add('DATA on an idle stream', [data(1, Buffer.from('hi'))]);
  add('HEADERS on an even (server) stream', [headers(2, ok)]);
  add('HEADERS on stream 0', [headers(0, ok)]);
  add('stream ids going down', [headers(5, ok), headers(3, ok)], false, [5]);
  add('RST_STREAM on an idle stream', [rstStream(7)]);
  add('RST_STREAM on stream 0', [rstStream(0)]);
  add('WINDOW_UPDATE of 0 on the connection', [windowUpdate(0, 0)]);
  add('WINDOW_UPDATE of 0 on a stream', [headers(1, ok, Flag.END_HEADERS), windowUpdate(1, 0)]);
  add('connection window overflow', [windowUpdate(0, 0x7fffffff), windowUpdate(0, 0x7fffffff)]);
  add('stream window overflow', [headers(1, ok, Flag.END_HEADERS), windowUpdate(1, 0x7fffffff), windowUpdate(1, 0x7fffffff)]);
  add('CONTINUATION without HEADERS', [continuation(1, ok)]);
  add('DATA in the middle of a header block', [headers(1, ok, 0), data(1, Buffer.from('x'))]);
  add('another stream in the middle of a header block', [headers(1, ok, 0), headers(3, ok)]);
  add('CONTINUATION on another stream', [headers(1, ok, 0), continuation(3, ok)]);
  add('DATA after END_STREAM', [headers(1, ok), data(1, Buffer.from('late'))], false, [1]);
  add('HEADERS after END_STREAM', [headers(1, ok), headers(1, ok)], false, [1]);
  add('PUSH_PROMISE from a client', [frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), ok]))]);
  add('PRIORITY depending on itself', [priority(1, 1)]);
  add('HEADERS depending on itself', [
    frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY, 1, Buffer.concat([Buffer.from([0, 0, 0, 1, 15]), ok])),
  ]);
  add('padding longer than the frame', [frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED, 1, Buffer.concat([Buffer.from([200]), ok]))]);
  add('DATA padding longer than the frame', [headers(1, ok, Flag.END_HEADERS), frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, Buffer.from([50, 1, 2]))]);

  // SETTINGS values.
  add('ENABLE_PUSH = 2', [settings([[0x2, 2]])]);
  add('INITIAL_WINDOW_SIZE = 2^31', [settings([[0x4, 0x80000000]])]);
  add('MAX_FRAME_SIZE below 16384', [settings([[0x5, 100]])]);
  add('MAX_FRAME_SIZE above 2^24 - 1', [settings([[0x5, 0x1000000]])]);

  // Requests that are well framed but not valid HTTP.
  const invalid = (name: string, fields: Array<[string, string]>): void => add(name, [headers(1, withFields(fields))]);
  invalid('no :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', 'x']]);
  invalid('no :method', [[':scheme', 'http'], [':path', '/hello'], [':authority', 'x']]);
  invalid('no :scheme', [[':method', 'GET'], [':path', '/hello'], [':authority', 'x']]);
  invalid('empty :path', [[':method', 'GET'], [':scheme', 'http'], [':path', ''], [':authority', 'x']]);
  invalid(':path without a leading slash', [[':method', 'GET'], [':scheme', 'http'], [':path', 'hello'], [':authority', 'x']]);
  invalid('duplicate :path', [...GET('/hello'), [':path', '/other']]);
  invalid('unknown pseudo-header', [...GET('/hello'), [':protocol-x', 'y']]);
  invalid('pseudo-header after a regular field', [[':method', 'GET'], ['x-a', 'b'], [':path', '/hello'], [':scheme', 'http']]);
  invalid('uppercase field name', [...GET('/hello'), ['X-Upper', 'y']]);
  invalid('connection-specific field', [...GET('/hello'), ['connection', 'keep-alive']]);
  invalid('TE other than trailers', [...GET('/hello'), ['te', 'gzip']]);
  const droppedField = (name: string, field: [string, string], dropped: string): void => {
    cases.push({ name, frames: [headers(1, withFields([...GET('/headers'), field]))], dropped });
  };
  droppedField('field name with a space', ['x y', 'z'], 'x y');
  droppedField('field value with CR LF', ['x-a', 'b\r\nx-injected: y'], 'injected');
  droppedField('field value with NUL', ['x-a', 'b\x00c'], 'x-a');
  droppedField('field value with leading whitespace', ['x-a', ' lead'], 'lead');
  invalid('method with a space', [[':method', 'G ET'], [':scheme', 'http'], [':path', '/hello'], [':authority', 'x']]);
  invalid('path climbing above the root', [...GET('/../../etc/passwd')]);
  invalid('path with an encoded slash', [...GET('/files/a%2f..%2fsecret')]);
  invalid('content-length that disagrees with the DATA', [...GET('/hello'), ['content-length', '10']]);

  // Floods in miniature (the real floods are separate tests).
  add('200 PINGs at once', Array.from({ length: 200 }, () => ping()));
  add('100 SETTINGS at once', Array.from({ length: 100 }, () => settings()));
  add('1000 CONTINUATION frames', [headers(1, headerBlock([[':method', 'GET']]), 0), ...Array.from({ length: 1000 }, () => continuation(1, headerBlock([['x-c', 'c'.repeat(50)]]), 0))]);
  return cases;
}
