import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reply, Response, toOutgoing, type InvalidOutput, type Outgoing } from '../../src/app/response.ts';

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const BINARY = 'application/octet-stream';

function out(returned: unknown, res: Response = new Response()): Outgoing {
  const result = toOutgoing(returned, res);
  assert.equal(result.ok, true, `expected ok, got ${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  if (!result.ok) throw new Error('unreachable');
  return result.value;
}

function invalid(returned: unknown, res: Response = new Response()): InvalidOutput {
  const result = toOutgoing(returned, res);
  assert.equal(result.ok, false, 'expected an error');
  if (result.ok) throw new Error('unreachable');
  assert.equal(typeof result.error.message, 'string');
  return result.error;
}

/** The body as bytes, for comparing binary bodies regardless of view type. */
function bytes(body: Outgoing['body']): number[] {
  assert.ok(body instanceof Uint8Array, `expected a Uint8Array body, got ${typeof body}`);
  return [...body];
}

describe('toOutgoing: edge values', () => {
  test('a SharedArrayBuffer body is sent as bytes', () => {
    const shared = new SharedArrayBuffer(3);
    new Uint8Array(shared).set([7, 8, 9]);
    const o = out(shared);
    assert.equal(o.headers['content-type'], BINARY);
    assert.deepEqual(bytes(o.body), [7, 8, 9]);
  });

  test('a header whose value is undefined is refused, not sent as "undefined"', () => {
    const error = invalid(reply('x', { headers: { 'x-u': undefined as unknown as string } }));
    assert.equal(error.code, 'FA_ERR_INVALID_RESPONSE_HEADER');
  });

  test('an empty array header value sends no header', () => {
    const o = out(reply('x', { headers: { 'set-cookie': [] } }));
    assert.equal('set-cookie' in o.headers, false);
  });
});

describe('toOutgoing: returned values', () => {
  test('a string is 200 text/plain UTF-8', () => {
    assert.deepEqual(out('héllo'), { status: 200, headers: { 'content-type': TEXT }, body: 'héllo' });
    assert.deepEqual(out(''), { status: 200, headers: { 'content-type': TEXT }, body: '' });
  });

  test('a Uint8Array is 200 application/octet-stream, a view of ours over the same bytes (no copy)', () => {
    const memory = new ArrayBuffer(8);
    const data = new Uint8Array(memory, 2, 3);
    data.set([1, 2, 3]);
    const result = out(data);
    assert.equal(result.status, 200);
    assert.deepEqual(result.headers, { 'content-type': BINARY });
    const body = result.body as Uint8Array;
    assert.notEqual(body, data, 'the app cannot change the view the server reads');
    assert.equal(body.buffer, memory);
    assert.equal(body.byteOffset, 2);
    assert.deepEqual([...body], [1, 2, 3]);
  });

  test('a Buffer is binary with the same bytes', () => {
    const result = out(Buffer.from('abc'));
    assert.deepEqual(result.headers, { 'content-type': BINARY });
    assert.deepEqual(bytes(result.body), [0x61, 0x62, 0x63]);
  });

  test('an ArrayBuffer is binary with its bytes', () => {
    const buffer = new Uint8Array([9, 8, 7, 6]).buffer;
    const result = out(buffer);
    assert.deepEqual(result.headers, { 'content-type': BINARY });
    assert.ok(result.body instanceof Uint8Array);
    assert.deepEqual(bytes(result.body), [9, 8, 7, 6]);
  });

  test('other typed-array views and DataView are binary, honouring byteOffset and byteLength', () => {
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).buffer;

    const slice = new Uint8Array(backing, 2, 3);
    assert.deepEqual(bytes(out(slice).body), [2, 3, 4]);

    const dataView = new DataView(backing, 4, 4);
    const fromDataView = out(dataView);
    assert.deepEqual(fromDataView.headers, { 'content-type': BINARY });
    assert.deepEqual(bytes(fromDataView.body), [4, 5, 6, 7]);

    const words = new Uint16Array(backing, 2, 2);
    assert.deepEqual(bytes(out(words).body), [2, 3, 4, 5]);

    const floats = new Float64Array([1]);
    const fromFloats = out(floats);
    assert.deepEqual(fromFloats.headers, { 'content-type': BINARY });
    assert.deepEqual(bytes(fromFloats.body), [...new Uint8Array(floats.buffer)]);
    assert.equal((fromFloats.body as Uint8Array).byteLength, 8);

    assert.deepEqual(bytes(out(new Int8Array([-1, 1])).body), [255, 1]);
    assert.deepEqual(bytes(out(new Uint8ClampedArray([300, -5])).body), [255, 0]);
    assert.deepEqual(bytes(out(new BigUint64Array([1n])).body), [1, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('objects and arrays are JSON', () => {
    assert.deepEqual(out({ id: 1, name: 'x', nested: { ok: true } }), {
      status: 200,
      headers: { 'content-type': JSON_TYPE },
      body: '{"id":1,"name":"x","nested":{"ok":true}}',
    });
    assert.deepEqual(out([1, 'two', null]), { status: 200, headers: { 'content-type': JSON_TYPE }, body: '[1,"two",null]' });
    assert.equal(out([]).body, '[]');
    assert.equal(out({}).body, '{}');
  });

  test('numbers, booleans and null are JSON', () => {
    assert.deepEqual(out(42), { status: 200, headers: { 'content-type': JSON_TYPE }, body: '42' });
    assert.deepEqual(out(0), { status: 200, headers: { 'content-type': JSON_TYPE }, body: '0' });
    assert.deepEqual(out(-1.5), { status: 200, headers: { 'content-type': JSON_TYPE }, body: '-1.5' });
    assert.deepEqual(out(false), { status: 200, headers: { 'content-type': JSON_TYPE }, body: 'false' });
    assert.deepEqual(out(null), { status: 200, headers: { 'content-type': JSON_TYPE }, body: 'null' });
  });

  test('JSON follows toJSON and drops undefined members', () => {
    assert.equal(out(new Date(0)).body, '"1970-01-01T00:00:00.000Z"');
    assert.equal(out({ a: undefined, b: 1, f: () => 1 }).body, '{"b":1}');
    assert.equal(out({ toJSON: () => ({ custom: true }) }).body, '{"custom":true}');
  });

  test('a returned value ignores what was set on res', () => {
    const res = new Response();
    res.status = 418;
    res.contentType = 'text/html';
    res.headers['x-ignored'] = '1';
    res.body = 'from res';
    assert.deepEqual(out('returned', res), { status: 200, headers: { 'content-type': TEXT }, body: 'returned' });
  });
});

describe('toOutgoing: unsendable bodies', () => {
  test('a BigInt body is FA_ERR_HANDLER', () => {
    const error = invalid(10n);
    assert.equal(error.code, 'FA_ERR_HANDLER');
    assert.match(error.message, /^the response body could not be serialised as JSON: TypeError: /);
    assert.equal(invalid({ big: 1n }).code, 'FA_ERR_HANDLER');
  });

  test('a function or symbol body is FA_ERR_HANDLER', () => {
    assert.deepEqual(
      invalid(() => 'hi'),
      { code: 'FA_ERR_HANDLER', message: 'a function cannot be sent as a response body' },
    );
    assert.deepEqual(invalid(Symbol('s')), {
      code: 'FA_ERR_HANDLER',
      message: 'a symbol cannot be sent as a response body',
    });
  });

  test('a circular object is FA_ERR_HANDLER', () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    const error = invalid(circular);
    assert.equal(error.code, 'FA_ERR_HANDLER');
    assert.match(error.message, /could not be serialised as JSON/);
  });

  test('a toJSON that throws is FA_ERR_HANDLER', () => {
    const error = invalid({
      toJSON() {
        throw new Error('no json for you');
      },
    });
    assert.deepEqual(error, {
      code: 'FA_ERR_HANDLER',
      message: 'the response body could not be serialised as JSON: Error: no json for you',
    });
  });

  test('an unsendable body on res is an error too', () => {
    const res = new Response();
    res.body = 5n;
    assert.equal(invalid(undefined, res).code, 'FA_ERR_HANDLER');
  });
});

describe('toOutgoing: the (req, res) style', () => {
  test('an untouched res is 200 with no body and no headers', () => {
    assert.deepEqual(out(undefined), { status: 200, headers: {}, body: null });
  });

  test('status, contentType, headers and body come from res', () => {
    const res = new Response();
    res.status = 201;
    res.contentType = 'application/vnd.api+json';
    res.headers['Location'] = '/items/7';
    res.headers['X-Count'] = 3;
    res.body = { id: 7 };
    assert.deepEqual(out(undefined, res), {
      status: 201,
      headers: { 'content-type': 'application/vnd.api+json', location: '/items/7', 'x-count': '3' },
      body: '{"id":7}',
    });
  });

  test('the body type decides the content type when res.contentType is unset', () => {
    const res = new Response();
    res.body = 'text body';
    assert.deepEqual(out(undefined, res), { status: 200, headers: { 'content-type': TEXT }, body: 'text body' });
    res.body = new Uint8Array([1]);
    assert.deepEqual(out(undefined, res).headers, { 'content-type': BINARY });
    res.body = null;
    assert.deepEqual(out(undefined, res), { status: 200, headers: { 'content-type': JSON_TYPE }, body: 'null' });
  });

  test('res.headers can be replaced wholesale', () => {
    const res = new Response();
    res.headers = { 'X-A': 'a' };
    assert.equal(res.hasHeaders, true);
    assert.deepEqual(out(undefined, res).headers, { 'x-a': 'a' });
  });

  test('hasHeaders is false until headers is read or set', () => {
    const res = new Response();
    assert.equal(res.hasHeaders, false);
    assert.deepEqual(res.headers, {});
    assert.equal(res.hasHeaders, true);
    assert.equal(res.headers, res.headers);
  });

  test('defaults of a new Response', () => {
    const res = new Response();
    assert.equal(res.status, 200);
    assert.equal(res.contentType, undefined);
    assert.equal(res.body, undefined);
  });

  test('a contentType with no body is still sent', () => {
    const res = new Response();
    res.contentType = 'text/html';
    assert.deepEqual(out(undefined, res), { status: 200, headers: { 'content-type': 'text/html' }, body: null });
  });
});

describe('reply()', () => {
  test('builds a branded value with body and init', () => {
    const value = reply({ id: 1 }, { status: 201 });
    assert.equal(value.body && (value.body as { id: number }).id, 1);
    assert.equal(value.status, 201);
    assert.equal((value as unknown as Record<symbol, unknown>)[Symbol.for('fasterapi.reply')], true);
  });

  test('status defaults to 200', () => {
    assert.deepEqual(out(reply('hi')), { status: 200, headers: { 'content-type': TEXT }, body: 'hi' });
  });

  test('status, headers and contentType are applied', () => {
    assert.deepEqual(
      out(reply({ id: 9 }, { status: 201, headers: { Location: '/items/9', 'X-Request-Id': 'abc' } })),
      {
        status: 201,
        headers: { 'content-type': JSON_TYPE, location: '/items/9', 'x-request-id': 'abc' },
        body: '{"id":9}',
      },
    );
    assert.deepEqual(out(reply('<p>hi</p>', { contentType: 'text/html; charset=utf-8' })), {
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: '<p>hi</p>',
    });
  });

  test('reply() ignores res', () => {
    const res = new Response();
    res.status = 500;
    res.headers['x-from-res'] = '1';
    assert.deepEqual(out(reply('x', { status: 202 }), res), { status: 202, headers: { 'content-type': TEXT }, body: 'x' });
  });

  test('reply(undefined) has no body', () => {
    assert.deepEqual(out(reply(undefined, { status: 202 })), { status: 202, headers: {}, body: null });
  });

  test('a branded plain object (as from another realm) is treated as a reply', () => {
    const foreign = { [Symbol.for('fasterapi.reply')]: true, body: 'b', status: 203 };
    assert.deepEqual(out(foreign), { status: 203, headers: { 'content-type': TEXT }, body: 'b' });
  });

  test('an object shaped like a reply without the brand is just JSON', () => {
    assert.deepEqual(out({ body: 'b', status: 404 }), {
      status: 200,
      headers: { 'content-type': JSON_TYPE },
      body: '{"body":"b","status":404}',
    });
  });
});

describe('toOutgoing: headers', () => {
  test('header names are lowercased', () => {
    assert.deepEqual(out(reply('', { headers: { 'X-Custom-Header': 'v', ETAG: '"1"' } })).headers, {
      'content-type': TEXT,
      'x-custom-header': 'v',
      etag: '"1"',
    });
  });

  test('number values become strings', () => {
    assert.deepEqual(out(reply('', { headers: { 'x-n': 42, 'x-zero': 0 } })).headers, {
      'content-type': TEXT,
      'x-n': '42',
      'x-zero': '0',
    });
  });

  test('array values are kept as arrays (set-cookie)', () => {
    const result = out(reply('ok', { headers: { 'Set-Cookie': ['a=1; Path=/', 'b=2; HttpOnly'] } }));
    assert.deepEqual(result.headers, { 'content-type': TEXT, 'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'] });
  });

  test('a content-type header overrides the derived content type', () => {
    assert.deepEqual(out(reply('x', { headers: { 'Content-Type': 'text/csv' } })).headers, { 'content-type': 'text/csv' });
  });

  test('content-length and transfer-encoding set by a handler are dropped', () => {
    const result = out(
      reply('hello', {
        headers: { 'Content-Length': '999', 'transfer-encoding': 'chunked', 'TRANSFER-ENCODING': 'gzip', 'x-kept': 'y' },
      }),
    );
    assert.deepEqual(result.headers, { 'content-type': TEXT, 'x-kept': 'y' });

    const res = new Response();
    res.body = 'abc';
    res.headers['content-length'] = 1;
    assert.deepEqual(out(undefined, res).headers, { 'content-type': TEXT });
  });

  test('the handler headers object is not modified', () => {
    const headers = { 'X-A': '1', 'Content-Length': '5' };
    out(reply('x', { headers }));
    assert.deepEqual(headers, { 'X-A': '1', 'Content-Length': '5' });
  });
});

describe('toOutgoing: 204 and 304', () => {
  for (const status of [204, 304]) {
    test(`${status} has a null body and no content-type, whatever the body`, () => {
      assert.deepEqual(out(reply('ignored', { status })), { status, headers: {}, body: null });
      assert.deepEqual(out(reply({ a: 1 }, { status })), { status, headers: {}, body: null });
      assert.deepEqual(out(reply(new Uint8Array([1]), { status })), { status, headers: {}, body: null });
      assert.deepEqual(out(reply(undefined, { status, contentType: 'text/html' })), { status, headers: {}, body: null });

      const res = new Response();
      res.status = status;
      res.body = 'ignored';
      res.headers['ETag'] = '"v1"';
      assert.deepEqual(out(undefined, res), { status, headers: { etag: '"v1"' }, body: null });
    });
  }

  test('205 and 200 with an empty string keep their body', () => {
    assert.deepEqual(out(reply('', { status: 205 })), { status: 205, headers: { 'content-type': TEXT }, body: '' });
  });
});

describe('toOutgoing: invalid status', () => {
  for (const status of [99, 100, 101, 199, 600, 1000, 0, -200, 1.5, 200.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    test(`status ${status} is FA_ERR_HANDLER`, () => {
      assert.deepEqual(invalid(reply('x', { status })), {
        code: 'FA_ERR_HANDLER',
        message: `invalid response status ${String(status)} (expected 200-599)`,
      });
    });
  }

  test('a non-number status on res is FA_ERR_HANDLER', () => {
    const res = new Response();
    res.status = '200' as unknown as number;
    assert.deepEqual(invalid(undefined, res), {
      code: 'FA_ERR_HANDLER',
      message: "invalid response status '200' (expected 200-599)",
    });
  });

  test('a status that cannot even be printed is described, not thrown', () => {
    const res = new Response();
    res.status = Object.create(null) as number;
    assert.deepEqual(invalid(undefined, res), {
      code: 'FA_ERR_HANDLER',
      message: 'invalid response status [Object: null prototype] {} (expected 200-599)',
    });
  });

  test('the edges 200 and 599 are valid', () => {
    assert.equal(out(reply('x', { status: 200 })).status, 200);
    assert.equal(out(reply('x', { status: 599 })).status, 599);
  });

  test('the status is checked before the body', () => {
    assert.equal(invalid(reply(10n, { status: 42 })).message, 'invalid response status 42 (expected 200-599)');
  });
});

describe('toOutgoing: invalid headers', () => {
  const headerError = (init: Parameters<typeof reply>[1]): InvalidOutput => {
    const error = invalid(reply('x', init));
    assert.equal(error.code, 'FA_ERR_INVALID_RESPONSE_HEADER');
    return error;
  };

  test('CR or LF in a header value', () => {
    const error = headerError({ headers: { 'x-a': 'ok\r\nset-cookie: evil=1' } });
    assert.match(error.message, /^invalid response header "x-a": /);
    headerError({ headers: { 'x-a': 'line\nbreak' } });
    headerError({ headers: { 'x-a': 'carriage\rreturn' } });
    headerError({ headers: { 'x-a': 'nul\u0000byte' } });
  });

  test('CR or LF in one item of an array value', () => {
    const error = headerError({ headers: { 'Set-Cookie': ['a=1', 'b=2\r\nx-evil: 1'] } });
    assert.match(error.message, /^invalid response header "Set-Cookie": /);
  });

  test('a bad header name: space, colon, pseudo-header, empty, non-ASCII', () => {
    assert.match(headerError({ headers: { 'bad name': 'v' } }).message, /^invalid response header "bad name": /);
    assert.match(headerError({ headers: { ':status': '200' } }).message, /^invalid response header ":status": /);
    headerError({ headers: { ':path': '/' } });
    headerError({ headers: { 'x:y': 'v' } });
    headerError({ headers: { '': 'v' } });
    headerError({ headers: { 'x-é': 'v' } });
    headerError({ headers: { 'x\r\ny': 'v' } });
  });

  test('CR or LF in contentType', () => {
    const error = headerError({ contentType: 'text/html\r\nx-evil: 1' });
    assert.match(error.message, /^invalid response header "content-type": /);
    const res = new Response();
    res.contentType = 'text/plain\n';
    res.body = 'x';
    assert.equal(invalid(undefined, res).code, 'FA_ERR_INVALID_RESPONSE_HEADER');
  });

  test('a framing header is validated before it is dropped', () => {
    headerError({ headers: { 'content-length': '1\r\n' } });
  });

  test('invalid headers on res are errors too', () => {
    const res = new Response();
    res.headers['x-a'] = 'a\nb';
    assert.equal(invalid(undefined, res).code, 'FA_ERR_INVALID_RESPONSE_HEADER');
  });

  test('messages are one line', () => {
    const error = headerError({ headers: { 'x-a': 'a\r\nb' } });
    assert.doesNotMatch(error.message, /[\r\n]/);
  });
});
