/**
 * The user-code boundary (src/app/boundary.ts), end to end: every odd value JavaScript lets user
 * code throw or reject with, from every place user code runs — handlers, serialisation, headers,
 * onError hooks, validators, response schemas, onRequest and onResponse hooks, streamed bodies,
 * lifespan hooks — inline and on the pool, over HTTP/1.1 and h2c. Each answers 500 with an error
 * id that the log names, the connection goes on serving, and no isolate is ever replaced.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ErrorCode, isFasterApiError, type Server } from '../../src/index.ts';
import { HANDLER_SITES, HOOK_SITES } from '../fixtures/apps/odd-throws.ts';
import { ODD_KINDS } from '../fixtures/odd-values.ts';
import { CliProcess } from '../helpers/cli.ts';
import { nextWorkerEvent } from '../helpers/events.ts';
import { createClient, type Client } from '../helpers/clients.ts';
import { startTestServer } from '../helpers/server.ts';
import { GENERATED_ID } from '../helpers/ids.ts';

const ODD_APP = new URL('../fixtures/apps/odd-throws.ts', import.meta.url);
const ODD_LIFESPAN = new URL('../fixtures/apps/odd-lifespan.ts', import.meta.url);

/** Every (path) where user code fails with an odd value, and must answer 500. */
const FAILING_PATHS = ODD_KINDS.flatMap((kind) => [
  ...HANDLER_SITES.flatMap((site) => [`/inline/${site}/${kind}`, `/pool/${site}/${kind}`]),
  ...HOOK_SITES.map((site) => `/hook/${site}/${kind}`),
]);

function errorIdOf(body: string): string | undefined {
  const parsed = JSON.parse(body) as { detail?: unknown; errorId?: unknown };
  assert.equal(parsed.detail, 'Internal Server Error');
  return typeof parsed.errorId === 'string' ? parsed.errorId : undefined;
}

describe('odd values from user code', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1, handlerTimeout: 1_000 }, ODD_APP);
  });
  after(() => server.close());

  test('a handler that returns a promise whose then() was replaced is a timeout, inline and pooled', async () => {
    const client = createClient('h2c', server.port);
    try {
      for (const path of ['/inline/own-then', '/pool/own-then']) {
        const res = await client.request(path);
        assert.equal(res.status, 504, path);
      }
    } finally {
      await client.close();
    }
    assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
  });

  test('the matrix covers every kind at every site, inline and pooled', () => {
    assert.ok(ODD_KINDS.length >= 20, `${ODD_KINDS.length} kinds`);
    assert.equal(FAILING_PATHS.length, ODD_KINDS.length * (HANDLER_SITES.length * 2 + HOOK_SITES.length));
  });

  for (const kind of ['h1', 'h2c'] as const) {
    test(`over ${kind}: each answers 500 with its own error id, and the same connection goes on serving`, async () => {
      const client: Client = createClient(kind, server.port);
      try {
        const failures: string[] = [];
        const ids = new Set<string>();
        for (const path of FAILING_PATHS) {
          const res = await client.request(path);
          const id = res.status === 500 ? errorIdOf(res.text()) : undefined;
          if (res.status !== 500 || id === undefined || !GENERATED_ID.test(id)) failures.push(`${path}: ${res.status} ${res.text().slice(0, 120)}`);
          else ids.add(id);
        }
        assert.deepEqual(failures, []);
        assert.equal(ids.size, FAILING_PATHS.length, 'every fault has an id of its own');
        assert.equal((await client.request('/ok')).text(), 'still serving');
      } finally {
        await client.close();
      }
      assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
    });
  }

  test('a handler that returns a Proxy whose every access throws answers 500, sync or async', async () => {
    const client = createClient('h1', server.port);
    try {
      for (const kind of ['revoked-proxy', 'trap-proxy', 'thenless-proxy']) {
        for (const path of [`/inline/returns/${kind}`, `/inline/returns-async/${kind}`, `/pool/returns/${kind}`, `/pool/returns-async/${kind}`]) {
          const res = await client.request(path);
          assert.equal(res.status, 500, path);
          assert.match(errorIdOf(res.text()) ?? '', GENERATED_ID, path);
        }
      }
    } finally {
      await client.close();
    }
    assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
  });

  test('a streamed body that fails is cut, not passed off as whole, and the worker lives on', async () => {
    for (const kind of ODD_KINDS) {
      for (const when of ['before', 'after', 'iterator', 'chunk', 'flip']) {
        const outcome = await new Promise<string>((resolve) => {
          const req = http.get({ host: '127.0.0.1', port: server.port, path: `/stream/${when}/${kind}`, agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(`complete ${res.statusCode} ${JSON.stringify(body)}`));
            res.on('error', () => resolve(`cut after ${JSON.stringify(body)}`));
            res.on('aborted', () => resolve(`cut after ${JSON.stringify(body)}`));
          });
          req.on('error', (error) => resolve(`error ${error.message}`));
        });
        // Cut: the client sees the body end early (or, when nothing had left yet, a hang-up).
        // A body that stops being a stream before it is sent can still be answered 500.
        const expected =
          when === 'after'
            ? /^(cut after "(first chunk\\n)?"|error socket hang up)$/
            : when === 'flip'
              ? /^(cut after ""|error socket hang up|complete 500 .*errorId.*)$/
              : /^(cut after ""|error socket hang up)$/;
        assert.match(outcome, expected, `${when}/${kind}: ${outcome}`);
      }
    }
    const h2 = createClient('h2c', server.port);
    try {
      await assert.rejects(h2.request('/stream/after/revoked-proxy'));
      assert.equal((await h2.request('/ok')).text(), 'still serving');
    } finally {
      await h2.close();
    }
    assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
  });
});

describe('an odd value thrown outside any request', () => {
  test('takes only its isolate down, pinned or pooled; the supervisor describes it and replaces the isolate', async () => {
    const server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, ODD_APP);
    try {
      const client = createClient('h1', server.port);
      try {
        for (const [place, kind] of [['pool', 'undefined'], ['inline', 'null']] as const) {
          const exited = nextWorkerEvent('exit', server.port, (e) => e.kind === (place === 'pool' ? 'pooled' : 'pinned'));
          const ready = nextWorkerEvent('ready', server.port, (e) => e.kind === (place === 'pool' ? 'pooled' : 'pinned'));
          assert.equal((await client.request(`/${place}/outside/${kind}`)).text(), 'scheduled');
          await exited;
          await ready;
        }
      } finally {
        await client.close();
      }
      assert.deepEqual(server.restarts, { pinned: 1, pooled: 1 });
      const again = createClient('h1', server.port);
      assert.equal((await again.request('/ok')).text(), 'still serving');
      assert.equal((await again.request('/pool/handler-throw/null')).status, 500);
      await again.close();
    } finally {
      await server.close();
    }
  });
});

describe('the log names each error id with a description of what was thrown', () => {
  test('through the CLI: the id in the 500 is the id in the log line', async () => {
    const cli = new CliProcess(['serve', 'test/fixtures/apps/odd-throws.ts', '--host', '127.0.0.1', '--port', '0', '--pinned', '1', '--pooled', '1']);
    try {
      const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 127\.0\.0\.1:(\d+) /);
      await cli.waitForOutput(/Ready: /);
      const client = createClient('h1', Number(port));
      const expected: Array<[string, RegExp]> = [
        ['/inline/handler-throw/undefined', /the handler threw\nundefined was thrown: undefined/],
        ['/pool/handler-reject/symbol', /the handler threw\na symbol was thrown: Symbol\(odd\)/],
        ['/inline/handler-throw/revoked-proxy', /the handler threw\na Proxy was thrown: <Revoked Proxy>/],
        ['/pool/handler-throw/error-all-getters', /an error whose stack and message cannot be read/],
        ['/inline/handler-throw/cross-realm-error', /RangeError: from another realm\n\s+at /],
        ['/hook/on-request-reject/undefined', /an onRequest hook threw or rejected\nundefined was thrown/],
        ['/hook/on-response-throw/stack-getter', /an onResponse hook threw or rejected\nError: stack getter \(no stack\)/],
        ['/pool/on-error/null-prototype', /an onError hook threw or rejected\na non-error object was thrown: \[Object: null prototype\] \{ message: 'no prototype' \}/],
        ['/inline/serialise/bigint', /could not be serialised as JSON: bigint was thrown: 7n/],
      ];
      try {
        for (const [path, description] of expected) {
          const res = await client.request(path);
          assert.equal(res.status, 500, path);
          const id = errorIdOf(res.text());
          assert.ok(id !== undefined && GENERATED_ID.test(id), path);
          const [line] = await cli.waitForOutput(new RegExp(`\\[error id ${id}\\]: [^]*?(?=\\n✗|$)`), 'stderr');
          assert.match(line, description, `${path}: ${line}`);
        }
      } finally {
        await client.close();
      }
      assert.doesNotMatch(cli.stderr, /↻|crashed|exited with code/);
    } finally {
      cli.kill('SIGTERM');
      await cli.finished;
    }
  });
});

describe('lifespan hooks that throw odd values', () => {
  const KINDS = ['undefined', 'symbol', 'null-prototype', 'revoked-proxy', 'error-all-getters'];
  after(() => {
    delete process.env['FASTERAPI_TEST_ODD_KIND'];
    delete process.env['FASTERAPI_TEST_ODD_STARTUP_IN'];
  });

  for (const where of ['pinned', 'pooled']) {
    test(`an onStartup hook in a ${where} isolate stops the start with a clear error`, async () => {
      process.env['FASTERAPI_TEST_ODD_STARTUP_IN'] = where;
      for (const kind of KINDS) {
        process.env['FASTERAPI_TEST_ODD_KIND'] = kind;
        await assert.rejects(startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, ODD_LIFESPAN), (thrown: unknown) => {
          assert.ok(isFasterApiError(thrown), `${kind}: ${String(thrown)}`);
          assert.equal(thrown.code, ErrorCode.STARTUP_HOOK);
          assert.match(thrown.message, /an onStartup hook of .*odd-lifespan\.ts failed: \S/, kind);
          return true;
        });
      }
    });
  }

  test('an onStartup hook that never settles is named in the error, not left as a bare exit code', async () => {
    process.env['FASTERAPI_TEST_STARTUP_NEVER'] = 'pinned';
    try {
      await assert.rejects(startTestServer({ pinnedWorkers: 1 }, ODD_LIFESPAN), (thrown: unknown) => {
        assert.ok(isFasterApiError(thrown));
        assert.equal(thrown.code, ErrorCode.WORKER_START);
        assert.match(thrown.message, /exited with code 13 while starting: the app module, or one of its onStartup hooks, awaited a promise that can never settle/);
        return true;
      });
    } finally {
      delete process.env['FASTERAPI_TEST_STARTUP_NEVER'];
    }
  });

  test('onShutdown hooks that reject with odd values are logged, and the server still closes', async () => {
    process.env['FASTERAPI_TEST_ODD_STARTUP_IN'] = 'nowhere';
    for (const kind of KINDS) {
      process.env['FASTERAPI_TEST_ODD_KIND'] = kind;
      const server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 1 }, ODD_LIFESPAN);
      const client = createClient('h1', server.port);
      assert.equal((await client.request('/cpu')).text(), 'served on the pool');
      await client.close();
      await server.close();
      assert.deepEqual(server.restarts, { pinned: 0, pooled: 0 });
    }
  });
});
