/** The `fasterapi` command: banner, serving, signals, and every bad input with its exit code. */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { createClient } from '../helpers/clients.ts';
import { CliProcess, runCli } from '../helpers/cli.ts';

const BANNER_APP = 'test/fixtures/apps/banner.ts';
const SLOW_APP = 'test/fixtures/apps/slow.ts';

describe('fasterapi serve', () => {
  const running: CliProcess[] = [];
  after(() => {
    for (const cli of running) cli.kill('SIGKILL');
  });
  const start = (args: string[]): CliProcess => {
    const cli = new CliProcess(['serve', ...args]);
    running.push(cli);
    return cli;
  };

  test('prints the startup banner, serves, and exits 0 on SIGTERM', async () => {
    const cli = start([BANNER_APP, '--port', '0', '--pinned', '2', '--pooled', '2', '--pooled-isolates', '1']);
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    await cli.waitForOutput(/Ready: /);
    const lines = cli.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 7), [
      '✓ Registered handler: GET:/ (ID: 0)',
      '✓ Registered handler: GET:/test (ID: 1)',
      `Starting HTTP/2 server on 0.0.0.0:${port} (h2c + HTTP/1.1)`,
      'Event loop workers: 2',
      'Pinned isolates: 2',
      'Pooled workers: 2',
      'Pooled isolates: 1',
    ]);

    for (const kind of ['h1', 'h2c'] as const) {
      const client = createClient(kind, Number(port));
      assert.equal((await client.request('/test')).text(), 'Hello from /test');
      await client.close();
    }

    cli.kill('SIGTERM');
    const done = await cli.finished;
    assert.equal(done.code, 0);
    assert.match(done.stdout, /Server closed/);
  });

  test('serves the example app, which imports the package by name', async () => {
    const cli = start(['examples/hello/app.ts', '--port', '0', '--pinned', '1']);
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const client = createClient('h2c', Number(port));
    assert.equal((await client.request('/')).text(), 'Hello from /');
    await client.close();
    cli.kill('SIGINT');
    assert.equal((await cli.finished).code, 0);
  });

  test('a throwing handler is logged with its stack under the error id the client got', async () => {
    const cli = start(['test/fixtures/app.ts', '--port', '0', '--pinned', '1']);
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const client = createClient('h1', Number(port));
    const res = await client.request('/throw');
    await client.close();
    const { errorId } = res.json() as { errorId: string };
    // Handler errors go to stderr, under the id the client was given.
    await cli.waitForOutput(new RegExp(`GET:/throw \\(GET /throw\\) \\[error id ${errorId}\\]`), 'stderr');
    assert.match(cli.stderr, /Error: boom: a bug in a handler\n\s+at /);
    cli.kill('SIGTERM');
    assert.equal((await cli.finished).code, 0);
  });

  test('SIGTERM turns /readyz 503 before any connection closes, serves through --shutdown-delay, then exits 0', async () => {
    const cli = start([BANNER_APP, '--port', '0', '--pinned', '2', '--admin-port', '0', '--shutdown-delay', '1s']);
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const [, admin] = await cli.waitForOutput(/Admin: (http:\/\/127\.0\.0\.1:\d+) \(\/metrics, \/healthz, \/readyz\)/);
    const ready = async (): Promise<number> => (await fetch(`${admin}/readyz`)).status;
    assert.equal(await ready(), 200);
    // A keep-alive HTTP/1.1 connection and an HTTP/2 session, open before the signal.
    const h1 = createClient('h1', Number(port));
    const h2 = createClient('h2c', Number(port));
    assert.equal((await h1.request('/test')).status, 200);
    assert.equal((await h2.request('/test')).status, 200);
    cli.kill('SIGTERM');
    const began = Date.now();
    while ((await ready()) !== 503) assert.ok(Date.now() - began < 500, '/readyz did not turn 503 after SIGTERM');
    // Not ready, and still serving on the connections that were open.
    assert.equal((await h1.request('/test')).text(), 'Hello from /test');
    assert.equal((await h2.request('/test')).text(), 'Hello from /test');
    const done = await cli.finished;
    assert.equal(done.code, 0);
    assert.ok(Date.now() - began >= 1_000, 'the server drained before the shutdown delay was over');
    assert.match(done.stdout, /Not ready: serving for 1000 ms more \(the shutdown delay\), then draining/);
    await h1.close();
    await h2.close();
  });

  test('SIGTERM lets an in-flight request finish before exiting 0', async () => {
    const cli = start([SLOW_APP, '--port', '0', '--pinned', '1']);
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const client = createClient('h2c', Number(port));
    const slow = client.request('/slow?ms=800&id=sigterm');
    await cli.waitForOutput(/slow request started: sigterm/);
    cli.kill('SIGTERM');
    const res = await slow;
    assert.equal(res.status, 200);
    assert.equal(res.text(), 'slow done');
    await client.close();
    const done = await cli.finished;
    assert.equal(done.code, 0);
  });

  test('a second signal exits at once', async () => {
    const cli = start([SLOW_APP, '--port', '0', '--pinned', '1']);
    const [, port] = await cli.waitForOutput(/Starting HTTP\/2 server on 0\.0\.0\.0:(\d+) /);
    const client = createClient('h1', Number(port));
    const slow = client.request('/slow?ms=30000&id=twice').catch((error: Error) => error);
    await cli.waitForOutput(/slow request started: twice/);
    cli.kill('SIGTERM');
    await cli.waitForOutput(/shutting down gracefully/);
    cli.kill('SIGTERM');
    const done = await cli.finished;
    assert.equal(done.code, 143);
    assert.ok((await slow) instanceof Error, 'the slow request was cut, not answered');
    await client.close();
  });
});

describe('bad input', () => {
  /** Exactly one line on stderr that starts with "fasterapi:" and matches `pattern`. */
  const assertOneLine = (stderr: string, pattern: RegExp): void => {
    const lines = stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
    assert.match(lines[0] as string, /^fasterapi: /);
    assert.match(lines[0] as string, pattern);
  };

  const usageErrors: Array<[string[], RegExp]> = [
    [['serve', BANNER_APP, '--bogus'], /unknown option --bogus/],
    [['serve', BANNER_APP, '--port', 'eighty'], /--port: "eighty"/],
    [['serve', BANNER_APP, '--port', '70000'], /--port.*65535/],
    [['serve', BANNER_APP, '--pinned=-1'], /--pinned/],
    [['serve', BANNER_APP, '--listener', 'carrier-pigeon'], /--listener.*auto, reuseport, acceptor/],
    [['serve', BANNER_APP, '--log-level', 'loud'], /--log-level/],
    [['serve', BANNER_APP, '--pooled-isolates', '3', '--pooled', '2'], /--pooled-isolates \(3\) cannot exceed --pooled \(2\)/],
    [['serve', BANNER_APP, '--body-limit', 'lots'], /--body-limit/],
    [['serve', BANNER_APP, '--max-in-flight', '0'], /--max-in-flight.*from 1 to 1000000, got 0/],
    [['serve', BANNER_APP, '--tls-cert', 'cert.pem'], /--tls-cert needs --tls-key/],
    [['serve', BANNER_APP, '--admin-port', '65536'], /--admin-port.*65535/],
    [['serve', BANNER_APP, '--port', '8081', '--admin-port', '8081'], /--admin-port \(8081\) cannot be the app's --port/],
    [['serve', BANNER_APP, '--shutdown-delay', 'soon'], /--shutdown-delay: "soon"/],
    [['serve', BANNER_APP, '--port'], /--port needs a value/],
    [['serve'], /missing app module/],
    [['launch', BANNER_APP], /unknown command "launch"/],
    [[], /missing command/],
  ];
  for (const [args, pattern] of usageErrors) {
    test(`exit 2: fasterapi ${args.join(' ')}`, async () => {
      const done = await runCli(args);
      assert.equal(done.code, 2);
      assertOneLine(done.stderr, pattern);
    });
  }

  test('exit 1: the app file does not exist', async () => {
    const done = await runCli(['serve', 'no/such/app.ts', '--port', '0']);
    assert.equal(done.code, 1);
    assertOneLine(done.stderr, /app module not found: .*no\/such\/app\.ts/);
  });

  test('exit 1: the app has no default-exported App', async () => {
    const done = await runCli(['serve', 'test/fixtures/apps/no-default.ts', '--port', '0', '--pinned', '1']);
    assert.equal(done.code, 1);
    assertOneLine(done.stderr, /no default export that is an App/);
  });

  test('exit 1: the app throws while loading, with its stack', async () => {
    const done = await runCli(['serve', 'test/fixtures/apps/throws-on-import.ts', '--port', '0', '--pinned', '1']);
    assert.equal(done.code, 1);
    assert.match(done.stderr, /^fasterapi: importing .*throws-on-import\.ts failed: Error: database URL is not set/);
    assert.match(done.stderr, /throws-on-import\.ts:\d+/);
  });

  test('exit 1: the port is in use', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const done = await runCli(['serve', BANNER_APP, '--port', String(port), '--pinned', '1']);
      assert.equal(done.code, 1);
      assertOneLine(done.stderr, new RegExp(`port ${port} on 0\\.0\\.0\\.0 is already in use`));
    } finally {
      holder.close();
    }
  });

  test('exit 1: the TLS files cannot be read', async () => {
    const done = await runCli(['serve', BANNER_APP, '--tls-cert', 'missing-cert.pem', '--tls-key', 'missing-key.pem']);
    assert.equal(done.code, 1);
    assertOneLine(done.stderr, /cannot read the TLS certificate or key: .*missing-cert\.pem/);
  });

  test('exit 1: Node.js older than 22.18, naming the version found', async () => {
    // The real command under a Node.js that reports itself as 22.17.1.
    const fake = 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"22.17.1"})';
    const done = await runCli(['serve', BANNER_APP], { nodeArgs: ['--import', fake] });
    assert.equal(done.code, 1);
    assertOneLine(done.stderr, /Node\.js >= 22\.18\.0 is required \(found v22\.17\.1\)/);
  });

  test('exit 1 on a real old Node.js, where the system has one', async (t) => {
    let version = '';
    try {
      version = execFileSync('node', ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin' } }).trim();
    } catch {
      t.skip('no system node on /usr/local/bin:/usr/bin:/bin');
      return;
    }
    const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
    if (major > 22 || (major === 22 && minor >= 18)) {
      t.skip(`the system node is ${version}, not older than 22.18`);
      return;
    }
    const node = execFileSync('sh', ['-c', 'PATH=/usr/local/bin:/usr/bin:/bin command -v node'], { encoding: 'utf8' }).trim();
    const done = await runCli(['serve', BANNER_APP], { node });
    assert.equal(done.code, 1);
    assertOneLine(done.stderr, new RegExp(`found ${version.replaceAll('.', '\\.')}`));
  });

  test('--help prints usage and exits 0', async () => {
    const done = await runCli(['--help']);
    assert.equal(done.code, 0);
    assert.match(done.stdout, /Usage: fasterapi serve <app\.ts> \[options\]/);
  });
});
