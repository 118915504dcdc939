import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flagFor, parseCommand, USAGE, type Command } from '../../src/cli/args.ts';

function parsed(argv: readonly string[]): Command {
  const result = parseCommand(argv);
  assert.equal(result.ok, true, `expected ok for ${JSON.stringify(argv)}, got ${JSON.stringify(result)}`);
  if (!result.ok) throw new Error('unreachable');
  return result.value;
}

function serve(argv: readonly string[]): Extract<Command, { kind: 'serve' }> {
  const command = parsed(argv);
  assert.equal(command.kind, 'serve');
  if (command.kind !== 'serve') throw new Error('unreachable');
  return command;
}

/** The error for `argv`, which must be one line. */
function usageError(argv: readonly string[]): string {
  const result = parseCommand(argv);
  assert.equal(result.ok, false, `expected an error for ${JSON.stringify(argv)}, got ${JSON.stringify(result)}`);
  if (result.ok) throw new Error('unreachable');
  assert.equal(typeof result.error, 'string');
  assert.ok(result.error.length > 0);
  assert.doesNotMatch(result.error, /[\r\n]/, `multi-line error for ${JSON.stringify(argv)}`);
  return result.error;
}

describe('parseCommand: serve', () => {
  test('serve <app> with no flags', () => {
    assert.deepEqual(parsed(['serve', 'app.ts']), { kind: 'serve', app: 'app.ts', options: {}, tlsFiles: null });
  });

  test('every flag, in the separate-value form', () => {
    const command = serve([
      'serve',
      'examples/hello/app.ts',
      '--host',
      '127.0.0.1',
      '--port',
      '3000',
      '--pinned',
      '4',
      '--pooled',
      '16',
      '--pooled-isolates',
      '2',
      '--listener',
      'acceptor',
      '--body-limit',
      '2048',
      '--grace-period',
      '1500',
      '--startup-timeout',
      '20000',
      '--keep-alive-timeout',
      '4000',
      '--headers-timeout',
      '30000',
      '--request-timeout',
      '120000',
      '--session-idle-timeout',
      '60000',
      '--max-concurrent-streams',
      '250',
      '--log-level',
      'debug',
      '--admin-port',
      '9090',
      '--admin-host',
      '0.0.0.0',
      '--shutdown-delay',
      '5s',
      '--tls-cert',
      'certs/cert.pem',
      '--tls-key',
      'certs/key.pem',
    ]);
    assert.deepEqual(command, {
      kind: 'serve',
      app: 'examples/hello/app.ts',
      options: {
        host: '127.0.0.1',
        port: 3000,
        pinnedWorkers: 4,
        pooledWorkers: 16,
        pooledIsolates: 2,
        listener: 'acceptor',
        bodyLimit: 2048,
        gracePeriod: 1500,
        startupTimeout: 20000,
        keepAliveTimeout: 4000,
        headersTimeout: 30000,
        requestTimeout: 120000,
        sessionIdleTimeout: 60000,
        maxConcurrentStreams: 250,
        logLevel: 'debug',
        adminPort: 9090,
        adminHost: '0.0.0.0',
        shutdownDelay: 5000,
      },
      tlsFiles: { cert: 'certs/cert.pem', key: 'certs/key.pem' },
    });
  });

  test('the --flag=value form', () => {
    const command = serve([
      'serve',
      'app.ts',
      '--host=::1',
      '--port=0',
      '--pinned=1',
      '--pooled=3',
      '--pooled-isolates=3',
      '--listener=reuseport',
      '--body-limit=10mb',
      '--grace-period=2s',
      '--startup-timeout=1m',
      '--keep-alive-timeout=500ms',
      '--headers-timeout=9s',
      '--request-timeout=0',
      '--session-idle-timeout=30s',
      '--max-concurrent-streams=1',
      '--log-level=warn',
      '--tls-cert=a.pem',
      '--tls-key=b.pem',
    ]);
    assert.deepEqual(command.options, {
      host: '::1',
      port: 0,
      pinnedWorkers: 1,
      pooledWorkers: 3,
      pooledIsolates: 3,
      listener: 'reuseport',
      bodyLimit: 10 * 1024 * 1024,
      gracePeriod: 2000,
      startupTimeout: 60_000,
      keepAliveTimeout: 500,
      headersTimeout: 9000,
      requestTimeout: 0,
      sessionIdleTimeout: 30_000,
      maxConcurrentStreams: 1,
      logLevel: 'warn',
    });
    assert.deepEqual(command.tlsFiles, { cert: 'a.pem', key: 'b.pem' });
  });

  test('-p is --port, with a separate or attached value', () => {
    assert.deepEqual(serve(['serve', 'app.ts', '-p', '9000']).options, { port: 9000 });
    assert.deepEqual(serve(['serve', 'app.ts', '-p9001']).options, { port: 9001 });
  });

  test('flags may come before, between and after the positionals', () => {
    const command = serve(['--port', '1', 'serve', '--host', 'h', 'app.ts', '--pinned', '2']);
    assert.equal(command.app, 'app.ts');
    assert.deepEqual(command.options, { port: 1, host: 'h', pinnedWorkers: 2 });
  });

  test('a later flag overrides an earlier one', () => {
    assert.deepEqual(serve(['serve', 'app.ts', '--port', '1', '-p', '2', '--port=3']).options, { port: 3 });
  });

  test('text flags are passed through for option validation to judge', () => {
    // The CLI does not validate listener / log-level values; resolveOptions does.
    assert.deepEqual(serve(['serve', 'app.ts', '--listener', 'bogus', '--log-level', 'LOUD']).options, {
      listener: 'bogus',
      logLevel: 'LOUD',
    });
  });

  test('after --, everything is positional', () => {
    assert.equal(serve(['serve', '--', '--app.ts']).app, '--app.ts');
  });
});

describe('parseCommand: numbers and units', () => {
  const option = (flag: string, value: string): unknown => {
    const options = serve(['serve', 'app.ts', `--${flag}`, value]).options as Record<string, unknown>;
    const values = Object.values(options);
    assert.equal(values.length, 1);
    return values[0];
  };

  test('sizes: bytes, b, k/kb, m/mb, g/gb, case-insensitive', () => {
    assert.equal(option('body-limit', '1048576'), 1_048_576);
    assert.equal(option('body-limit', '100b'), 100);
    assert.equal(option('body-limit', '512kb'), 512 * 1024);
    assert.equal(option('body-limit', '512k'), 512 * 1024);
    assert.equal(option('body-limit', '10mb'), 10 * 1024 * 1024);
    assert.equal(option('body-limit', '10m'), 10 * 1024 * 1024);
    assert.equal(option('body-limit', '2gb'), 2 * 1024 ** 3);
    assert.equal(option('body-limit', '2g'), 2 * 1024 ** 3);
    assert.equal(option('body-limit', '4MB'), 4 * 1024 * 1024);
    assert.equal(option('body-limit', '0'), 0);
  });

  test('times: ms, plain numbers, s, m', () => {
    assert.equal(option('grace-period', '500ms'), 500);
    assert.equal(option('grace-period', '500'), 500);
    assert.equal(option('grace-period', '10s'), 10_000);
    assert.equal(option('startup-timeout', '2m'), 120_000);
    assert.equal(option('keep-alive-timeout', '5S'), 5_000);
    assert.equal(option('headers-timeout', '0ms'), 0);
  });

  test('surrounding spaces in a number are ignored', () => {
    assert.equal(option('port', ' 80 '), 80);
  });

  test('invalid numbers name the flag and say what was expected', () => {
    assert.equal(
      usageError(['serve', 'app.ts', '--port', 'eighty']),
      'invalid value for --port: "eighty" (expected a whole number)',
    );
    assert.equal(usageError(['serve', 'app.ts', '--port', '1.5']), 'invalid value for --port: "1.5" (expected a whole number)');
    assert.equal(usageError(['serve', 'app.ts', '-p', '-1']), 'invalid value for --port: "-1" (expected a whole number)');
    assert.equal(usageError(['serve', 'app.ts', '--port', '10s']), 'invalid value for --port: "10s" (expected a whole number)');
    assert.equal(usageError(['serve', 'app.ts', '--pinned', '0x10']), 'invalid value for --pinned: "0x10" (expected a whole number)');
    assert.equal(usageError(['serve', 'app.ts', '--pooled', '1e3']), 'invalid value for --pooled: "1e3" (expected a whole number)');
    assert.equal(
      usageError(['serve', 'app.ts', '--max-concurrent-streams=lots']),
      'invalid value for --max-concurrent-streams: "lots" (expected a whole number)',
    );
    assert.equal(
      usageError(['serve', 'app.ts', '--body-limit', '1.5mb']),
      'invalid value for --body-limit: "1.5mb" (expected a size such as 1048576, 512kb or 10mb)',
    );
    assert.equal(
      usageError(['serve', 'app.ts', '--body-limit', '10tb']),
      'invalid value for --body-limit: "10tb" (expected a size such as 1048576, 512kb or 10mb)',
    );
    assert.equal(
      usageError(['serve', 'app.ts', '--body-limit', '10s']),
      'invalid value for --body-limit: "10s" (expected a size such as 1048576, 512kb or 10mb)',
    );
    assert.equal(
      usageError(['serve', 'app.ts', '--grace-period', '10h']),
      'invalid value for --grace-period: "10h" (expected a time such as 5000, 500ms or 10s)',
    );
    assert.equal(
      usageError(['serve', 'app.ts', '--request-timeout', '10kb']),
      'invalid value for --request-timeout: "10kb" (expected a time such as 5000, 500ms or 10s)',
    );
    assert.equal(
      usageError(['serve', 'app.ts', '--session-idle-timeout', 's']),
      'invalid value for --session-idle-timeout: "s" (expected a time such as 5000, 500ms or 10s)',
    );
  });

  test('a value with a newline is quoted, so the message stays one line', () => {
    assert.equal(
      usageError(['serve', 'app.ts', '--port', '80\n81']),
      'invalid value for --port: "80\\n81" (expected a whole number)',
    );
  });
});

describe('parseCommand: help and version', () => {
  test('-h and --help', () => {
    assert.deepEqual(parsed(['-h']), { kind: 'help' });
    assert.deepEqual(parsed(['--help']), { kind: 'help' });
    assert.deepEqual(parsed(['serve', 'app.ts', '--help']), { kind: 'help' });
    // Help needs no command and wins over a missing app.
    assert.deepEqual(parsed(['serve', '-h']), { kind: 'help' });
    assert.deepEqual(parsed(['nonsense', '-h']), { kind: 'help' });
  });

  test('-v and --version', () => {
    assert.deepEqual(parsed(['-v']), { kind: 'version' });
    assert.deepEqual(parsed(['--version']), { kind: 'version' });
    assert.deepEqual(parsed(['serve', 'app.ts', '-v']), { kind: 'version' });
  });

  test('help wins over version', () => {
    assert.deepEqual(parsed(['-v', '-h']), { kind: 'help' });
    assert.deepEqual(parsed(['--version', '--help']), { kind: 'help' });
  });

  test('--help and --version take no value', () => {
    assert.equal(usageError(['--help=yes']), '--help takes no value');
    assert.equal(usageError(['--version=1']), '--version takes no value');
  });

  test('an invalid flag is reported even with --help', () => {
    assert.equal(usageError(['serve', 'app.ts', '--bogus', '-h']), 'unknown option --bogus (see fasterapi --help)');
  });

  test('USAGE mentions every flag the parser accepts', () => {
    for (const flag of [
      '--host',
      '--port, -p',
      '--pinned',
      '--pooled',
      '--pooled-isolates',
      '--tls-cert',
      '--tls-key',
      '--listener',
      '--body-limit',
      '--grace-period',
      '--startup-timeout',
      '--keep-alive-timeout',
      '--headers-timeout',
      '--request-timeout',
      '--session-idle-timeout',
      '--max-concurrent-streams',
      '--log-level',
      '--admin-port',
      '--admin-host',
      '--shutdown-delay',
      '--help, -h',
      '--version, -v',
    ]) {
      assert.ok(USAGE.includes(`  ${flag} `), `USAGE lacks ${flag}`);
    }
  });
});

describe('parseCommand: usage errors', () => {
  test('an unknown option is named, long or short, with or without a value', () => {
    assert.equal(usageError(['serve', 'app.ts', '--prot', '80']), 'unknown option --prot (see fasterapi --help)');
    assert.equal(usageError(['serve', 'app.ts', '--workers=4']), 'unknown option --workers (see fasterapi --help)');
    assert.equal(usageError(['serve', 'app.ts', '-x']), 'unknown option -x (see fasterapi --help)');
    assert.equal(usageError(['serve', 'app.ts', '--PORT', '1']), 'unknown option --PORT (see fasterapi --help)');
  });

  test('names every object has are unknown options, not crashes', () => {
    for (const flag of ['--toString=5', '--__proto__=1', '--constructor=x', '--toString', '--hasOwnProperty']) {
      const name = flag.split('=')[0];
      assert.equal(usageError(['serve', 'app.ts', flag]), `unknown option ${name} (see fasterapi --help)`);
    }
  });

  test('an unknown option with a line break in it is still reported on one line', () => {
    assert.equal(usageError(['serve', 'app.ts', '--foo\nbar']), 'unknown option "--foo\\nbar" (see fasterapi --help)');
  });

  test('a flag without a value', () => {
    assert.equal(usageError(['serve', 'app.ts', '--port']), 'option --port needs a value');
    assert.equal(usageError(['serve', 'app.ts', '-p']), 'option --port needs a value');
    assert.equal(usageError(['serve', 'app.ts', '--host=']), 'option --host needs a value');
    assert.equal(usageError(['serve', 'app.ts', '--log-level', '']), 'option --log-level needs a value');
    assert.equal(usageError(['serve', 'app.ts', '--tls-cert']), 'option --tls-cert needs a value');
    assert.equal(usageError(['serve', 'app.ts', '--tls-key=']), 'option --tls-key needs a value');
  });

  test('a flag whose value is taken from the next flag is reported as an invalid value', () => {
    assert.equal(
      usageError(['serve', 'app.ts', '--port', '--host', 'x']),
      'invalid value for --port: "--host" (expected a whole number)',
    );
  });

  test('a missing command', () => {
    const expected = 'missing command: use `fasterapi serve <app.ts>` (see fasterapi --help)';
    assert.equal(usageError([]), expected);
    assert.equal(usageError(['--port', '80']), expected);
  });

  test('an unknown command', () => {
    assert.equal(usageError(['start', 'app.ts']), 'unknown command "start": the command is `fasterapi serve <app.ts>`');
    assert.equal(usageError(['app.ts']), 'unknown command "app.ts": the command is `fasterapi serve <app.ts>`');
    assert.equal(usageError(['Serve', 'app.ts']), 'unknown command "Serve": the command is `fasterapi serve <app.ts>`');
    assert.equal(usageError(['a\nb']), 'unknown command "a\\nb": the command is `fasterapi serve <app.ts>`');
  });

  test('a missing app module', () => {
    assert.equal(usageError(['serve']), 'missing app module: `fasterapi serve <app.ts>`');
    assert.equal(usageError(['serve', '--port', '80']), 'missing app module: `fasterapi serve <app.ts>`');
  });

  test('an extra positional argument', () => {
    assert.equal(usageError(['serve', 'app.ts', 'other.ts']), 'unexpected argument "other.ts"');
    assert.equal(usageError(['serve', 'app.ts', 'b', 'c']), 'unexpected argument "b"');
    assert.equal(usageError(['serve', 'app.ts', '8080']), 'unexpected argument "8080"');
  });

  test('--tls-cert and --tls-key need each other', () => {
    assert.equal(usageError(['serve', 'app.ts', '--tls-cert', 'c.pem']), 'option --tls-cert needs --tls-key');
    assert.equal(usageError(['serve', 'app.ts', '--tls-key', 'k.pem']), 'option --tls-key needs --tls-cert');
  });

  test('the first problem is reported', () => {
    assert.equal(usageError(['serve', 'app.ts', '--port', 'x', '--bogus']), 'invalid value for --port: "x" (expected a whole number)');
    assert.equal(usageError(['serve', 'app.ts', '--bogus', '--port', 'x']), 'unknown option --bogus (see fasterapi --help)');
    // Flag problems come before positional ones.
    assert.equal(usageError(['--port', 'x']), 'invalid value for --port: "x" (expected a whole number)');
  });

  test('every error is a single line', () => {
    const bad: string[][] = [
      [],
      ['serve'],
      ['what'],
      ['serve', 'a', 'b'],
      ['serve', 'a', '--nope'],
      ['serve', 'a', '--port'],
      ['serve', 'a', '--port', 'x'],
      ['serve', 'a', '--body-limit', 'x'],
      ['serve', 'a', '--grace-period', 'x'],
      ['serve', 'a', '--tls-cert', 'c'],
      ['serve', 'a', '--tls-key', 'k'],
      ['--help=1'],
      ['serve', 'a', '--port', 'a\r\nb'],
      ['x\ny'],
      ['serve', 'a', 'x\ny'],
    ];
    for (const argv of bad) usageError(argv);
  });
});

describe('flagFor', () => {
  test('maps every option to its CLI flag', () => {
    const expected: Record<string, string> = {
      host: '--host',
      port: '--port',
      pinnedWorkers: '--pinned',
      pooledWorkers: '--pooled',
      pooledIsolates: '--pooled-isolates',
      listener: '--listener',
      bodyLimit: '--body-limit',
      gracePeriod: '--grace-period',
      startupTimeout: '--startup-timeout',
      keepAliveTimeout: '--keep-alive-timeout',
      headersTimeout: '--headers-timeout',
      requestTimeout: '--request-timeout',
      sessionIdleTimeout: '--session-idle-timeout',
      maxConcurrentStreams: '--max-concurrent-streams',
      logLevel: '--log-level',
      tls: '--tls-cert/--tls-key',
    };
    for (const [option, flag] of Object.entries(expected)) assert.equal(flagFor(option), flag, option);
  });

  test('an option without a flag is returned unchanged', () => {
    assert.equal(flagFor('handleSignals'), 'handleSignals');
    assert.equal(flagFor('options'), 'options');
    assert.equal(flagFor('somethingElse'), 'somethingElse');
  });

  test('flagFor agrees with parseCommand: each flag sets the option it names', () => {
    const values: Record<string, string> = { host: 'h', listener: 'auto', logLevel: 'info' };
    for (const option of [
      'host',
      'port',
      'pinnedWorkers',
      'pooledWorkers',
      'pooledIsolates',
      'listener',
      'bodyLimit',
      'gracePeriod',
      'startupTimeout',
      'keepAliveTimeout',
      'headersTimeout',
      'requestTimeout',
      'sessionIdleTimeout',
      'maxConcurrentStreams',
      'logLevel',
    ]) {
      const value = values[option] ?? '7';
      const command = serve(['serve', 'app.ts', `${flagFor(option)}=${value}`]);
      assert.deepEqual(Object.keys(command.options), [option]);
      assert.equal(String((command.options as Record<string, unknown>)[option]), value);
    }
  });
});
