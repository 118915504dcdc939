import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANY_METHOD, Router, type Match } from '../../src/router/router.ts';

/** Registers every route, failing the test on the first registration error. */
function routerWith(routes: ReadonlyArray<readonly [method: string, path: string, value: string]>): Router<string> {
  const router = new Router<string>();
  for (const [method, path, value] of routes) {
    const added = router.add(method, path, value);
    assert.deepEqual(added, { ok: true, value: undefined }, `add(${method}, ${path})`);
  }
  return router;
}

/** Asserts a `found` match and returns its value and params as plain data. */
function found<T>(match: Match<T>): { value: T; params: Record<string, string> } {
  assert.equal(match.kind, 'found', `expected found, got ${JSON.stringify(match)}`);
  if (match.kind !== 'found') throw new Error('unreachable');
  return { value: match.value, params: { ...match.params } };
}

function addError(router: Router<string>, method: string, path: string): string {
  const added = router.add(method, path, `${method} ${path}`);
  assert.equal(added.ok, false, `expected add(${method}, ${JSON.stringify(path)}) to fail`);
  if (added.ok) throw new Error('unreachable');
  assert.equal(typeof added.error, 'string');
  return added.error;
}

describe('Router: static routes', () => {
  test('finds a static route by method and exact path', () => {
    const router = routerWith([
      ['GET', '/hello', 'get-hello'],
      ['POST', '/hello', 'post-hello'],
      ['GET', '/a/b/c', 'abc'],
    ]);
    assert.deepEqual(found(router.find('GET', '/hello')), { value: 'get-hello', params: {} });
    assert.deepEqual(found(router.find('POST', '/hello')), { value: 'post-hello', params: {} });
    assert.deepEqual(found(router.find('GET', '/a/b/c')), { value: 'abc', params: {} });
  });

  test('the root path / is a route of its own', () => {
    const router = routerWith([['GET', '/', 'root']]);
    assert.deepEqual(found(router.find('GET', '/')), { value: 'root', params: {} });
    assert.equal(router.find('GET', '').kind, 'not-found');
    assert.equal(router.find('GET', '//').kind, 'not-found');
  });

  test('a static hit returns the identical, frozen match object every time (no allocation)', () => {
    const router = routerWith([['GET', '/health', 'health']]);
    const first = router.find('GET', '/health');
    const second = router.find('GET', '/health');
    assert.equal(first, second);
    assert.ok(Object.isFrozen(first));
    // HEAD served by GET reuses GET's match too.
    assert.equal(router.find('HEAD', '/health'), first);
    const params = found(first).params;
    assert.deepEqual(params, {});
  });

  test('static params object is empty and has no prototype', () => {
    const router = routerWith([['GET', '/x', 'x']]);
    const match = router.find('GET', '/x');
    assert.equal(match.kind, 'found');
    if (match.kind !== 'found') return;
    assert.equal(Object.getPrototypeOf(match.params), null);
    assert.deepEqual(Object.keys(match.params), []);
  });

  test('paths are matched byte for byte: no case folding, no normalisation, no query stripping', () => {
    const router = routerWith([['GET', '/Users', 'users']]);
    assert.equal(router.find('GET', '/users').kind, 'not-found');
    assert.equal(router.find('GET', '/Users?x=1').kind, 'not-found');
    assert.equal(router.find('GET', '/./Users').kind, 'not-found');
    assert.equal(router.find('GET', '/%55sers').kind, 'not-found');
    assert.equal(found(router.find('GET', '/Users')).value, 'users');
  });

  test('a trailing slash makes a different path', () => {
    const router = routerWith([
      ['GET', '/a', 'no-slash'],
      ['GET', '/b/', 'slash'],
      ['GET', '/p/:id', 'param'],
    ]);
    assert.equal(found(router.find('GET', '/a')).value, 'no-slash');
    assert.equal(router.find('GET', '/a/').kind, 'not-found');
    assert.equal(found(router.find('GET', '/b/')).value, 'slash');
    assert.equal(router.find('GET', '/b').kind, 'not-found');
    assert.equal(found(router.find('GET', '/p/1')).value, 'param');
    assert.equal(router.find('GET', '/p/1/').kind, 'not-found');
  });

  test('/a and /a/ can both be registered and stay distinct', () => {
    const router = routerWith([
      ['GET', '/a', 'without'],
      ['GET', '/a/', 'with'],
    ]);
    assert.equal(found(router.find('GET', '/a')).value, 'without');
    assert.equal(found(router.find('GET', '/a/')).value, 'with');
  });
});

describe('Router: params', () => {
  test('a single param captures one segment', () => {
    const router = routerWith([['GET', '/items/:id', 'item']]);
    assert.deepEqual(found(router.find('GET', '/items/42')), { value: 'item', params: { id: '42' } });
    assert.deepEqual(found(router.find('GET', '/items/abc-def.json')).params, { id: 'abc-def.json' });
  });

  test('a param does not match an empty segment or several segments', () => {
    const router = routerWith([['GET', '/items/:id', 'item']]);
    assert.equal(router.find('GET', '/items/').kind, 'not-found');
    assert.equal(router.find('GET', '/items').kind, 'not-found');
    assert.equal(router.find('GET', '/items/1/2').kind, 'not-found');
  });

  test('several params, with static segments between them', () => {
    const router = routerWith([
      ['GET', '/users/:userId/posts/:postId', 'post'],
      ['GET', '/:a/:b/:c', 'three'],
    ]);
    assert.deepEqual(found(router.find('GET', '/users/7/posts/99')), {
      value: 'post',
      params: { userId: '7', postId: '99' },
    });
    assert.deepEqual(found(router.find('GET', '/x/y/z')), { value: 'three', params: { a: 'x', b: 'y', c: 'z' } });
  });

  test('each lookup gets its own params object', () => {
    const router = routerWith([['GET', '/items/:id', 'item']]);
    const one = router.find('GET', '/items/1');
    const two = router.find('GET', '/items/2');
    assert.notEqual(one, two);
    assert.equal(found(one).params['id'], '1');
    assert.equal(found(two).params['id'], '2');
  });

  test('param names allow letters, digits after the first character, and underscores', () => {
    const router = routerWith([['GET', '/v/:_a1/:B_2', 'v']]);
    assert.deepEqual(found(router.find('GET', '/v/x/y')).params, { _a1: 'x', B_2: 'y' });
  });

  test('a param named __proto__ is an ordinary own key', () => {
    const router = routerWith([['GET', '/p/:__proto__', 'p']]);
    const match = router.find('GET', '/p/polluted');
    assert.equal(match.kind, 'found');
    if (match.kind !== 'found') return;
    assert.equal(Object.getOwnPropertyDescriptor(match.params, '__proto__')?.value, 'polluted');
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  test('params are percent-decoded', () => {
    const router = routerWith([['GET', '/files/:name', 'file']]);
    assert.equal(found(router.find('GET', '/files/hello%20world')).params['name'], 'hello world');
    assert.equal(found(router.find('GET', '/files/a%2Fb')).params['name'], 'a/b');
    assert.equal(found(router.find('GET', '/files/caf%C3%A9')).params['name'], 'café');
    assert.equal(found(router.find('GET', '/files/%E2%9C%93')).params['name'], '✓');
    // '+' is not a space in a path.
    assert.equal(found(router.find('GET', '/files/a+b')).params['name'], 'a+b');
  });

  test('a malformed percent-encoding in a param is a bad request', () => {
    const router = routerWith([
      ['GET', '/files/:name', 'file'],
      ['GET', '/static/*', 'static'],
    ]);
    for (const path of ['/files/%', '/files/%zz', '/files/%E0%A4%A', '/files/%C3', '/files/100%', '/static/a/%G1']) {
      const match = router.find('GET', path);
      assert.equal(match.kind, 'bad-request', path);
      if (match.kind === 'bad-request') assert.equal(match.reason, 'malformed percent-encoding in the path');
    }
  });

  test('static segments are not decoded: an encoded static segment does not match', () => {
    const router = routerWith([['GET', '/a b/:id', 'space']]);
    assert.equal(router.find('GET', '/a%20b/1').kind, 'not-found');
    assert.deepEqual(found(router.find('GET', '/a b/1')).params, { id: '1' });
  });
});

describe('Router: trailing wildcard', () => {
  test('/static/* matches any rest of the path, including none, but not the bare prefix', () => {
    const router = routerWith([['GET', '/static/*', 'static']]);
    assert.deepEqual(found(router.find('GET', '/static/a/b')), { value: 'static', params: { '*': 'a/b' } });
    assert.deepEqual(found(router.find('GET', '/static/a')), { value: 'static', params: { '*': 'a' } });
    assert.deepEqual(found(router.find('GET', '/static/')), { value: 'static', params: { '*': '' } });
    assert.deepEqual(found(router.find('GET', '/static/a/')).params, { '*': 'a/' });
    assert.deepEqual(found(router.find('GET', '/static//x')).params, { '*': '/x' });
    assert.equal(router.find('GET', '/static').kind, 'not-found');
    assert.equal(router.find('GET', '/staticx').kind, 'not-found');
    assert.equal(router.find('GET', '/other/a').kind, 'not-found');
  });

  test('the wildcard value is percent-decoded', () => {
    const router = routerWith([['GET', '/static/*', 'static']]);
    assert.deepEqual(found(router.find('GET', '/static/a%20b/c%2Fd')).params, { '*': 'a b/c/d' });
  });

  test('a root wildcard /* matches every path', () => {
    const router = routerWith([['GET', '/*', 'all']]);
    assert.deepEqual(found(router.find('GET', '/')).params, { '*': '' });
    assert.deepEqual(found(router.find('GET', '/x/y/z')).params, { '*': 'x/y/z' });
  });

  test('params before a wildcard are captured alongside it', () => {
    const router = routerWith([['GET', '/repos/:owner/*', 'tree']]);
    assert.deepEqual(found(router.find('GET', '/repos/nodejs/src/lib/fs.js')), {
      value: 'tree',
      params: { owner: 'nodejs', '*': 'src/lib/fs.js' },
    });
  });
});

describe('Router: priority and backtracking', () => {
  test('static beats param beats wildcard', () => {
    const router = routerWith([
      ['GET', '/users/*', 'wild'],
      ['GET', '/users/:id', 'param'],
      ['GET', '/users/me', 'static'],
    ]);
    assert.deepEqual(found(router.find('GET', '/users/me')), { value: 'static', params: {} });
    assert.deepEqual(found(router.find('GET', '/users/42')), { value: 'param', params: { id: '42' } });
    assert.deepEqual(found(router.find('GET', '/users/42/x')), { value: 'wild', params: { '*': '42/x' } });
    assert.deepEqual(found(router.find('GET', '/users/')), { value: 'wild', params: { '*': '' } });
  });

  test('priority does not depend on registration order', () => {
    const router = routerWith([
      ['GET', '/users/me', 'static'],
      ['GET', '/users/:id', 'param'],
      ['GET', '/users/*', 'wild'],
    ]);
    assert.equal(found(router.find('GET', '/users/me')).value, 'static');
    assert.equal(found(router.find('GET', '/users/you')).value, 'param');
    assert.equal(found(router.find('GET', '/users/you/x')).value, 'wild');
  });

  test('a static segment inside a param route beats a param at the same level', () => {
    const router = routerWith([
      ['GET', '/a/:x/c', 'param-then-c'],
      ['GET', '/a/b/:y', 'b-then-param'],
    ]);
    assert.deepEqual(found(router.find('GET', '/a/b/c')), { value: 'b-then-param', params: { y: 'c' } });
    assert.deepEqual(found(router.find('GET', '/a/z/c')), { value: 'param-then-c', params: { x: 'z' } });
  });

  test('backtracks out of a static branch that dead-ends, and unwinds its params', () => {
    const router = routerWith([
      ['GET', '/users/me/:section/edit', 'me-edit'],
      ['GET', '/users/:id/posts', 'posts'],
    ]);
    assert.deepEqual(found(router.find('GET', '/users/me/posts')), { value: 'posts', params: { id: 'me' } });
    assert.deepEqual(found(router.find('GET', '/users/me/profile/edit')), {
      value: 'me-edit',
      params: { section: 'profile' },
    });
  });

  test('backtracks from a param branch to a wildcard at a shallower level', () => {
    const router = routerWith([
      ['GET', '/docs/:page/raw', 'raw'],
      ['GET', '/docs/*', 'docs'],
    ]);
    assert.deepEqual(found(router.find('GET', '/docs/intro/raw')), { value: 'raw', params: { page: 'intro' } });
    assert.deepEqual(found(router.find('GET', '/docs/intro/other')), { value: 'docs', params: { '*': 'intro/other' } });
    assert.deepEqual(found(router.find('GET', '/docs/intro')), { value: 'docs', params: { '*': 'intro' } });
  });

  test('a static route without the method does not hide a param route that has it', () => {
    const router = routerWith([
      ['POST', '/users/me', 'static-post'],
      ['GET', '/users/:id', 'param-get'],
    ]);
    assert.deepEqual(found(router.find('GET', '/users/me')), { value: 'param-get', params: { id: 'me' } });
    assert.deepEqual(found(router.find('POST', '/users/me')), { value: 'static-post', params: {} });
    const del = router.find('DELETE', '/users/me');
    assert.equal(del.kind, 'method-not-allowed');
    if (del.kind === 'method-not-allowed') assert.deepEqual(del.allow.split(', ').sort(), ['GET', 'HEAD', 'POST']);
  });

  test('a param route without the method does not hide a wildcard that has it', () => {
    const router = routerWith([
      ['GET', '/f/:id', 'param-get'],
      ['POST', '/f/*', 'wild-post'],
    ]);
    assert.deepEqual(found(router.find('POST', '/f/1')), { value: 'wild-post', params: { '*': '1' } });
    assert.deepEqual(found(router.find('GET', '/f/1')), { value: 'param-get', params: { id: '1' } });
  });

  test('a static trie branch without the method does not hide a param branch', () => {
    const router = routerWith([
      ['POST', '/a/b/:x', 'static-branch'],
      ['GET', '/a/:y/:x', 'param-branch'],
    ]);
    assert.deepEqual(found(router.find('GET', '/a/b/c')), { value: 'param-branch', params: { y: 'b', x: 'c' } });
    assert.deepEqual(found(router.find('POST', '/a/b/c')), { value: 'static-branch', params: { x: 'c' } });
  });
});

describe('Router: 404 and 405', () => {
  test('no route for the path is not-found, and the same frozen object each time', () => {
    const router = routerWith([['GET', '/a', 'a']]);
    const miss = router.find('GET', '/b');
    assert.deepEqual(miss, { kind: 'not-found' });
    assert.equal(router.find('POST', '/zzz'), miss);
    assert.ok(Object.isFrozen(miss));
  });

  test('an empty router finds nothing', () => {
    const router = new Router<string>();
    assert.deepEqual(router.find('GET', '/'), { kind: 'not-found' });
  });

  test('a path served only for other methods is method-not-allowed with Allow', () => {
    const router = routerWith([
      ['GET', '/items', 'list'],
      ['POST', '/items', 'create'],
    ]);
    assert.deepEqual(router.find('DELETE', '/items'), { kind: 'method-not-allowed', allow: 'GET, POST, HEAD' });
  });

  test('HEAD is listed when GET exists, and only once when HEAD is also registered', () => {
    const withGet = routerWith([['GET', '/g', 'g']]);
    assert.deepEqual(withGet.find('POST', '/g'), { kind: 'method-not-allowed', allow: 'GET, HEAD' });

    const withHead = routerWith([
      ['HEAD', '/h', 'h'],
      ['GET', '/h', 'g'],
    ]);
    assert.deepEqual(withHead.find('PUT', '/h'), { kind: 'method-not-allowed', allow: 'HEAD, GET' });

    const noGet = routerWith([['POST', '/p', 'p']]);
    assert.deepEqual(noGet.find('GET', '/p'), { kind: 'method-not-allowed', allow: 'POST' });
    assert.deepEqual(noGet.find('HEAD', '/p'), { kind: 'method-not-allowed', allow: 'POST' });
  });

  test('405 for param routes and wildcard routes', () => {
    const router = routerWith([
      ['GET', '/items/:id', 'get'],
      ['PUT', '/items/:id', 'put'],
      ['POST', '/upload/*', 'upload'],
    ]);
    assert.deepEqual(router.find('DELETE', '/items/3'), { kind: 'method-not-allowed', allow: 'GET, PUT, HEAD' });
    assert.deepEqual(router.find('GET', '/upload/a/b'), { kind: 'method-not-allowed', allow: 'POST' });
    assert.deepEqual(router.find('GET', '/upload/'), { kind: 'method-not-allowed', allow: 'POST' });
    // The bare prefix is not matched by the wildcard, so it is a 404, not a 405.
    assert.deepEqual(router.find('GET', '/upload'), { kind: 'not-found' });
    // Neither is an empty param segment.
    assert.deepEqual(router.find('DELETE', '/items/'), { kind: 'not-found' });
  });

  test('Allow merges the methods of every route that matches the path', () => {
    const router = routerWith([
      ['POST', '/users/me', 'static'],
      ['GET', '/users/:id', 'param'],
      ['PATCH', '/users/*', 'wild'],
    ]);
    const match = router.find('DELETE', '/users/me');
    assert.equal(match.kind, 'method-not-allowed');
    if (match.kind !== 'method-not-allowed') return;
    assert.deepEqual(match.allow.split(', ').sort(), ['GET', 'HEAD', 'PATCH', 'POST']);
    // No method is listed twice.
    assert.equal(new Set(match.allow.split(', ')).size, match.allow.split(', ').length);
  });

  test('a 405 with a malformed escape is still a 405 (the route must serve the method first)', () => {
    const router = routerWith([['GET', '/items/:id', 'get']]);
    assert.deepEqual(router.find('POST', '/items/%zz'), { kind: 'method-not-allowed', allow: 'GET, HEAD' });
    assert.equal(router.find('GET', '/items/%zz').kind, 'bad-request');
  });
});

describe('Router: HEAD and ANY_METHOD', () => {
  test('ANY_METHOD is "*"', () => {
    assert.equal(ANY_METHOD, '*');
  });

  test('HEAD is served by the GET route (static and param)', () => {
    const router = routerWith([
      ['GET', '/s', 'static-get'],
      ['GET', '/p/:id', 'param-get'],
      ['GET', '/w/*', 'wild-get'],
    ]);
    assert.equal(found(router.find('HEAD', '/s')).value, 'static-get');
    assert.deepEqual(found(router.find('HEAD', '/p/1')), { value: 'param-get', params: { id: '1' } });
    assert.deepEqual(found(router.find('HEAD', '/w/x')), { value: 'wild-get', params: { '*': 'x' } });
  });

  test('GET is not served by a HEAD route', () => {
    const router = routerWith([['HEAD', '/h', 'head']]);
    assert.deepEqual(router.find('GET', '/h'), { kind: 'method-not-allowed', allow: 'HEAD' });
  });

  test('an explicit HEAD route wins over GET', () => {
    const router = routerWith([
      ['GET', '/s', 'static-get'],
      ['HEAD', '/s', 'static-head'],
      ['GET', '/p/:id', 'param-get'],
      ['HEAD', '/p/:id', 'param-head'],
    ]);
    assert.equal(found(router.find('HEAD', '/s')).value, 'static-head');
    assert.equal(found(router.find('GET', '/s')).value, 'static-get');
    assert.equal(found(router.find('HEAD', '/p/1')).value, 'param-head');
    assert.equal(found(router.find('GET', '/p/1')).value, 'param-get');
  });

  test('ANY_METHOD matches any method, after the specific methods and after HEAD→GET', () => {
    const router = routerWith([
      [ANY_METHOD, '/s', 'static-any'],
      ['GET', '/s', 'static-get'],
      ['POST', '/p/:id', 'param-post'],
      [ANY_METHOD, '/p/:id', 'param-any'],
    ]);
    assert.equal(found(router.find('GET', '/s')).value, 'static-get');
    assert.equal(found(router.find('HEAD', '/s')).value, 'static-get');
    assert.equal(found(router.find('DELETE', '/s')).value, 'static-any');
    assert.equal(found(router.find('PURGE', '/s')).value, 'static-any');
    assert.equal(found(router.find('POST', '/p/1')).value, 'param-post');
    assert.deepEqual(found(router.find('PATCH', '/p/1')), { value: 'param-any', params: { id: '1' } });
    assert.equal(found(router.find('HEAD', '/p/1')).value, 'param-any');
  });

  test('an ANY route alone serves every method (never a 405)', () => {
    const router = routerWith([
      [ANY_METHOD, '/any', 'any'],
      [ANY_METHOD, '/w/*', 'wild-any'],
    ]);
    for (const method of ['GET', 'HEAD', 'POST', 'OPTIONS', 'x-custom']) {
      assert.equal(found(router.find(method, '/any')).value, 'any', method);
      assert.equal(found(router.find(method, '/w/a')).value, 'wild-any', method);
    }
    assert.equal(router.find('GET', '/other').kind, 'not-found');
  });

  test('methods are case-sensitive (no normalisation)', () => {
    const router = routerWith([['GET', '/x', 'x']]);
    assert.deepEqual(router.find('get', '/x'), { kind: 'method-not-allowed', allow: 'GET, HEAD' });
  });
});

describe('Router: registration errors', () => {
  test('the same method and path twice is an error that names the route', () => {
    const router = routerWith([['GET', '/a', 'a']]);
    assert.equal(addError(router, 'GET', '/a'), 'route GET /a is registered twice');
    // The first registration stays.
    assert.equal(found(router.find('GET', '/a')).value, 'a');
  });

  test('duplicate param and wildcard routes', () => {
    const router = routerWith([
      ['GET', '/items/:id', 'first'],
      ['GET', '/w/*', 'w'],
      [ANY_METHOD, '/any', 'any'],
    ]);
    assert.equal(addError(router, 'GET', '/items/:id'), 'route GET /items/:id is registered twice');
    assert.equal(addError(router, 'GET', '/w/*'), 'route GET /w/* is registered twice');
    assert.equal(addError(router, ANY_METHOD, '/any'), 'route ALL /any is registered twice');
    assert.equal(found(router.find('GET', '/items/1')).value, 'first');
  });

  test('the same path with a different method is not a duplicate', () => {
    const router = new Router<string>();
    assert.equal(router.add('GET', '/a', 'g').ok, true);
    assert.equal(router.add('POST', '/a', 'p').ok, true);
    assert.equal(router.add(ANY_METHOD, '/a', 'any').ok, true);
    assert.equal(router.add('HEAD', '/a', 'h').ok, true);
  });

  test('a path must start with "/"', () => {
    const router = new Router<string>();
    assert.equal(addError(router, 'GET', 'a'), 'route path must be a string starting with "/", got "a"');
    assert.equal(addError(router, 'GET', ''), 'route path must be a string starting with "/", got ""');
    assert.equal(addError(router, 'GET', ':id'), 'route path must be a string starting with "/", got ":id"');
    assert.equal(
      addError(router, 'GET', 42 as unknown as string),
      'route path must be a string starting with "/", got 42',
    );
  });

  test('a path must not contain "?" or "#"', () => {
    const router = new Router<string>();
    assert.equal(addError(router, 'GET', '/a?b=1'), 'route path must not contain "?" or "#": /a?b=1');
    assert.equal(addError(router, 'GET', '/a#frag'), 'route path must not contain "?" or "#": /a#frag');
    assert.equal(addError(router, 'GET', '/:id?'), 'route path must not contain "?" or "#": /:id?');
  });

  test('"*" may only be the last segment', () => {
    const router = new Router<string>();
    assert.equal(addError(router, 'GET', '/a/*/b'), '"*" may only be the last segment of a route path: /a/*/b');
    assert.equal(addError(router, 'GET', '/*/'), '"*" may only be the last segment of a route path: /*/');
  });

  test('a "*" inside a segment is just a static character', () => {
    const router = routerWith([['GET', '/a*', 'star']]);
    assert.equal(found(router.find('GET', '/a*')).value, 'star');
    assert.equal(router.find('GET', '/abc').kind, 'not-found');
  });

  test('invalid param names', () => {
    const router = new Router<string>();
    assert.equal(addError(router, 'GET', '/a/:'), 'invalid param name ":" in route path /a/:');
    assert.equal(addError(router, 'GET', '/a/:1x'), 'invalid param name ":1x" in route path /a/:1x');
    assert.equal(addError(router, 'GET', '/a/:x-y'), 'invalid param name ":x-y" in route path /a/:x-y');
    assert.equal(addError(router, 'GET', '/a/:x.json'), 'invalid param name ":x.json" in route path /a/:x.json');
    assert.equal(addError(router, 'GET', '/a/::x'), 'invalid param name "::x" in route path /a/::x');
  });

  test('a param name used twice', () => {
    const router = new Router<string>();
    assert.equal(addError(router, 'GET', '/a/:id/b/:id'), 'param "id" appears twice in route path /a/:id/b/:id');
  });

  test('the same path shape with different param names is an error', () => {
    const router = routerWith([['GET', '/items/:id', 'get']]);
    assert.equal(
      addError(router, 'POST', '/items/:itemId'),
      'route POST /items/:itemId names its params differently from an earlier route on the same path shape (id)',
    );
    assert.equal(
      addError(router, ANY_METHOD, '/items/:other'),
      'route ALL /items/:other names its params differently from an earlier route on the same path shape (id)',
    );
    // The failed registrations left the original route alone.
    assert.deepEqual(found(router.find('GET', '/items/5')), { value: 'get', params: { id: '5' } });
    assert.deepEqual(router.find('POST', '/items/5'), { kind: 'method-not-allowed', allow: 'GET, HEAD' });
    // The same names on the same shape are fine.
    assert.equal(router.add('POST', '/items/:id', 'post').ok, true);
    assert.equal(found(router.find('POST', '/items/5')).value, 'post');
  });

  test('different param names on a wildcard shape are an error too', () => {
    const router = routerWith([['GET', '/r/:owner/*', 'get']]);
    assert.equal(
      addError(router, 'POST', '/r/:user/*'),
      'route POST /r/:user/* names its params differently from an earlier route on the same path shape (owner, *)',
    );
  });

  test('a param route and a wildcard on the same prefix are different shapes', () => {
    const router = new Router<string>();
    assert.equal(router.add('GET', '/x/:id', 'p').ok, true);
    assert.equal(router.add('GET', '/x/*', 'w').ok, true);
    assert.equal(router.add('GET', '/x/:id/*', 'pw').ok, true);
    assert.deepEqual(found(router.find('GET', '/x/1/2')), { value: 'pw', params: { id: '1', '*': '2' } });
  });
});

describe('Router: randomized agreement with a reference matcher', () => {
  // A tiny deterministic PRNG (mulberry32), so failures are reproducible.
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  test('static-only routers agree with a Map on found / not-found / method-not-allowed', () => {
    const random = prng(0xfa57);
    const words = ['a', 'b', 'users', 'me', 'x1', ''];
    const methods = ['GET', 'POST', 'PUT', 'DELETE'];
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    const randomPath = (): string => {
      const depth = 1 + Math.floor(random() * 3);
      return '/' + Array.from({ length: depth }, () => pick(words)).join('/');
    };

    for (let round = 0; round < 50; round++) {
      const router = new Router<string>();
      const reference = new Map<string, Map<string, string>>();
      for (let i = 0; i < 15; i++) {
        const method = pick(methods);
        const path = randomPath();
        const value = `${method} ${path}`;
        const added = router.add(method, path, value);
        const byMethod = reference.get(path) ?? new Map<string, string>();
        reference.set(path, byMethod);
        if (byMethod.has(method)) {
          assert.equal(added.ok, false);
        } else {
          assert.equal(added.ok, true);
          byMethod.set(method, value);
        }
      }
      for (let i = 0; i < 40; i++) {
        const method = pick([...methods, 'HEAD']);
        const path = randomPath();
        const byMethod = reference.get(path);
        const expected = byMethod?.get(method) ?? (method === 'HEAD' ? byMethod?.get('GET') : undefined);
        const match = router.find(method, path);
        if (expected !== undefined) {
          assert.deepEqual(found(match).value, expected, `${method} ${path}`);
        } else if (byMethod === undefined || byMethod.size === 0) {
          assert.equal(match.kind, 'not-found', `${method} ${path}`);
        } else {
          assert.equal(match.kind, 'method-not-allowed', `${method} ${path}`);
          if (match.kind !== 'method-not-allowed') continue;
          const allow = [...byMethod.keys()];
          if (allow.includes('GET')) allow.push('HEAD');
          assert.deepEqual(match.allow.split(', ').sort(), allow.sort(), `${method} ${path}`);
        }
      }
    }
  });

  test('single-param routes capture exactly the segment at the param position', () => {
    const random = prng(1234);
    const router = routerWith([['GET', '/a/:p/b', 'r']]);
    const alphabet = 'abcXYZ019-._~!$&\'()+,;=@';
    for (let i = 0; i < 200; i++) {
      const length = 1 + Math.floor(random() * 8);
      let segment = '';
      for (let j = 0; j < length; j++) segment += alphabet[Math.floor(random() * alphabet.length)];
      assert.deepEqual(found(router.find('GET', `/a/${segment}/b`)), { value: 'r', params: { p: segment } }, segment);
      const encoded = encodeURIComponent(segment);
      assert.deepEqual(found(router.find('GET', `/a/${encoded}/b`)).params, { p: segment }, encoded);
    }
  });
});
