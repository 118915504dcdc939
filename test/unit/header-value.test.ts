import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerValue, Request } from '../../src/app/request.ts';

const headers = { cookie: ['a=1', 'b=2'], accept: ['text/html', 'application/json'], host: 'x', 'x-empty': [] };

test('headerValue joins repeated cookies with "; " and other fields with ", ", by any case of name', () => {
  assert.equal(headerValue(headers, 'Cookie'), 'a=1; b=2');
  assert.equal(headerValue(headers, 'ACCEPT'), 'text/html, application/json');
  assert.equal(headerValue(headers, 'host'), 'x');
  assert.equal(headerValue(headers, 'x-empty'), '');
  assert.equal(headerValue(headers, 'x-missing'), undefined);
});

test('Request.header reads headers as headerValue does (so the hooks, which use headerValue, see the same)', () => {
  const req = new Request('GET', '/', '', {}, headers, new Uint8Array(0), 0, { kind: 'pinned', index: 0, threadId: 0 });
  for (const name of ['cookie', 'Accept', 'host', 'x-missing']) assert.equal(req.header(name), headerValue(headers, name));
});
