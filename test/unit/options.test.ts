import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, test } from 'node:test';
import { DEFAULTS, resolveOptions, type OptionError, type ResolvedOptions } from '../../src/config/options.ts';

function resolved(input: unknown): ResolvedOptions {
  const result = resolveOptions(input);
  assert.equal(result.ok, true, `expected ok, got ${JSON.stringify(result)}`);
  if (!result.ok) throw new Error('unreachable');
  return result.value;
}

const show = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return typeof value;
  }
};

function failure(input: unknown): OptionError {
  const result = resolveOptions(input);
  assert.equal(result.ok, false, `expected an error for ${show(input)}`);
  if (result.ok) throw new Error('unreachable');
  return result.error;
}

/** The documented defaults (README, `fasterapi --help`), as `DEFAULTS` must hold them. */
const DOCUMENTED_DEFAULTS: typeof DEFAULTS = {
  host: '0.0.0.0',
  port: 8080,
  pinnedWorkers: 0,
  pooledWorkers: 0,
  pooledIsolates: 0,
  listener: 'auto',
  bodyLimit: 1_048_576,
  gracePeriod: 10_000,
  startupTimeout: 30_000,
  keepAliveTimeout: 5_000,
  headersTimeout: 60_000,
  requestTimeout: 300_000,
  sessionIdleTimeout: 300_000,
  maxConcurrentStreams: 100,
  maxHeaderSize: 16_384,
  maxHeaderCount: 100,
  maxUrlLength: 8_192,
  maxSessionMemory: 10,
  exposeErrors: false,
  handlerTimeout: 30_000,
  spillInFlight: 1024,
  spillLoopDelay: 50,
  maxInFlight: 1024,
  poolQueueLimit: 64,
  poolRingSize: 262_144,
  poolPoll: 50,
  poolMemoryLimit: 0,
  logLevel: 'info',
  accessLog: false,
  watch: false,
  handleSignals: true,
  adminPort: null,
  adminHost: '127.0.0.1',
  shutdownDelay: 0,
};

/** What resolving no options gives: the documented defaults with the automatic values filled in. */
const EXPECTED_DEFAULTS: ResolvedOptions = { ...DOCUMENTED_DEFAULTS, pinnedWorkers: os.availableParallelism(), tls: null, logFormat: process.stdout.isTTY === true ? 'pretty' : 'json' };

describe('resolveOptions: defaults', () => {
  test('DEFAULTS holds the documented values', () => {
    assert.deepEqual(DEFAULTS, DOCUMENTED_DEFAULTS);
  });

  test('an empty object resolves to DEFAULTS with the automatic values filled in', () => {
    const options = resolved({});
    assert.deepEqual(options, EXPECTED_DEFAULTS);
    assert.deepEqual(options, { ...DEFAULTS, pinnedWorkers: os.availableParallelism(), tls: null, logFormat: EXPECTED_DEFAULTS.logFormat });
  });

  test('undefined input is the same as {}', () => {
    assert.deepEqual(resolved(undefined), EXPECTED_DEFAULTS);
  });

  test('options set to undefined are ignored (defaults apply)', () => {
    assert.deepEqual(
      resolved({ port: undefined, host: undefined, tls: undefined, logLevel: undefined, pooledIsolates: undefined }),
      EXPECTED_DEFAULTS,
    );
  });

  test('an unknown option set to undefined is ignored too', () => {
    assert.deepEqual(resolved({ bogus: undefined }), EXPECTED_DEFAULTS);
  });

  test('pinnedWorkers 0 means one per CPU; an explicit count is kept', () => {
    assert.equal(resolved({ pinnedWorkers: 0 }).pinnedWorkers, os.availableParallelism());
    assert.equal(resolved({ pinnedWorkers: 3 }).pinnedWorkers, 3);
    assert.equal(resolved({ pinnedWorkers: 1024 }).pinnedWorkers, 1024);
  });

  test('every given value is passed through', () => {
    const input = {
      host: '127.0.0.1',
      port: 0,
      pinnedWorkers: 2,
      pooledWorkers: 8,
      pooledIsolates: 3,
      listener: 'acceptor',
      bodyLimit: 0,
      gracePeriod: 0,
      startupTimeout: 1,
      keepAliveTimeout: 0,
      headersTimeout: 1_000,
      requestTimeout: 2_000,
      sessionIdleTimeout: 0,
      maxConcurrentStreams: 2 ** 31 - 1,
      maxHeaderSize: 1024,
      maxHeaderCount: 1,
      maxUrlLength: 16,
      maxSessionMemory: 64,
      exposeErrors: true,
      handlerTimeout: 0,
      spillInFlight: 0,
      spillLoopDelay: 5,
      maxInFlight: 1,
      poolQueueLimit: 0,
      poolRingSize: 4096,
      poolPoll: 150,
      poolMemoryLimit: 128,
      logLevel: 'silent',
      logFormat: 'pretty',
      accessLog: true,
      watch: true,
      handleSignals: false,
      adminPort: 0,
      adminHost: '::1',
      shutdownDelay: 2 ** 31 - 1,
    } as const;
    assert.deepEqual(resolved(input), { ...input, tls: null });
  });

  test('the admin port may be 0 beside port 0, and any port but the app\'s own', () => {
    assert.equal(resolved({ port: 0, adminPort: 0 }).adminPort, 0);
    assert.equal(resolved({ port: 8080, adminPort: 8081 }).adminPort, 8081);
    assert.equal(resolved({ adminPort: 65535 }).adminPort, 65535);
    assert.match(failure({ adminPort: 8080 }).message, /adminPort \(8080\) cannot be the app's port/);
    assert.equal(failure({ adminPort: 65536 }).option, 'adminPort');
    assert.equal(failure({ shutdownDelay: -1 }).option, 'shutdownDelay');
    assert.equal(failure({ adminHost: '' }).option, 'adminHost');
  });

  test('the input object is not modified', () => {
    const input = { port: 1234, pooledWorkers: 4 };
    resolved(input);
    assert.deepEqual(input, { port: 1234, pooledWorkers: 4 });
  });
});

describe('resolveOptions: names in messages', () => {
  test('messages name options the way the caller spells them', () => {
    const flag = (option: string): string => `--${option}`;
    const result = resolveOptions({ pooledWorkers: 1, pooledIsolates: 2 }, flag);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.error.message, '--pooledIsolates (2) cannot exceed --pooledWorkers (1): each isolate needs at least one task slot');
    const invalid = resolveOptions({ port: -1 }, flag);
    assert.ok(!invalid.ok && invalid.error.message.startsWith('invalid value for --port:'));
  });
});

describe('resolveOptions: the pool', () => {
  test('poolRingSize must be a power of two from 4096', () => {
    for (const poolRingSize of [4095, 5000, 2048, 2 ** 31, 1.5, '64kb']) {
      const error = failure({ poolRingSize });
      assert.equal(error.option, 'poolRingSize');
      assert.match(error.message, /expected a power of two from 4096 to 1073741824/);
    }
    assert.equal(resolved({ poolRingSize: 65_536 }).poolRingSize, 65_536);
  });

  test('pooledIsolates 0 (auto) is ceil(pooledWorkers / 2)', () => {
    const cases: Array<[pooled: number, isolates: number]> = [
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
      [7, 4],
      [8, 4],
      [65536, 32768],
    ];
    for (const [pooledWorkers, isolates] of cases) {
      assert.equal(resolved({ pooledWorkers }).pooledIsolates, isolates, `pooledWorkers ${pooledWorkers}`);
      assert.equal(resolved({ pooledWorkers, pooledIsolates: 0 }).pooledIsolates, isolates);
    }
  });

  test('no pool means no isolates', () => {
    const options = resolved({ pooledWorkers: 0 });
    assert.equal(options.pooledWorkers, 0);
    assert.equal(options.pooledIsolates, 0);
    assert.equal(resolved({ pooledWorkers: 0, pooledIsolates: 0 }).pooledIsolates, 0);
  });

  test('an explicit pooledIsolates up to pooledWorkers is kept', () => {
    assert.equal(resolved({ pooledWorkers: 6, pooledIsolates: 1 }).pooledIsolates, 1);
    assert.equal(resolved({ pooledWorkers: 6, pooledIsolates: 6 }).pooledIsolates, 6);
  });

  test('maxInFlight admits at least one request: 1 is the smallest, 0 an error naming it', () => {
    assert.equal(resolved({ maxInFlight: 1 }).maxInFlight, 1);
    assert.equal(resolved({ maxInFlight: 1_000_000 }).maxInFlight, 1_000_000);
    assert.equal(failure({ maxInFlight: 0 }).option, 'maxInFlight');
    assert.equal(failure({ maxInFlight: 1_000_001 }).option, 'maxInFlight');
    assert.equal(failure({ maxInFlight: 1.5 }).option, 'maxInFlight');
  });

  test('pooledIsolates without pooledWorkers is an error', () => {
    assert.deepEqual(failure({ pooledIsolates: 2 }), {
      option: 'pooledIsolates',
      message: 'pooledIsolates needs pooledWorkers > 0 (pooledWorkers 0 means no pool)',
    });
    assert.equal(failure({ pooledWorkers: 0, pooledIsolates: 1 }).option, 'pooledIsolates');
  });

  test('pooledIsolates above pooledWorkers is an error', () => {
    assert.deepEqual(failure({ pooledWorkers: 4, pooledIsolates: 5 }), {
      option: 'pooledIsolates',
      message: 'pooledIsolates (5) cannot exceed pooledWorkers (4): each isolate needs at least one task slot',
    });
  });
});

describe('resolveOptions: timeouts', () => {
  test('headersTimeout above requestTimeout is an error naming headersTimeout', () => {
    assert.deepEqual(failure({ headersTimeout: 5_001, requestTimeout: 5_000 }), {
      option: 'headersTimeout',
      message: 'headersTimeout (5001) cannot exceed requestTimeout (5000)',
    });
    // Against the default requestTimeout (300000).
    assert.deepEqual(failure({ headersTimeout: 300_001 }), {
      option: 'headersTimeout',
      message: 'headersTimeout (300001) cannot exceed requestTimeout (300000)',
    });
    // Against the default headersTimeout (60000).
    assert.deepEqual(failure({ requestTimeout: 59_999 }), {
      option: 'headersTimeout',
      message: 'headersTimeout (60000) cannot exceed requestTimeout (59999)',
    });
  });

  test('headersTimeout equal to requestTimeout is fine', () => {
    const options = resolved({ headersTimeout: 5_000, requestTimeout: 5_000 });
    assert.equal(options.headersTimeout, 5_000);
    assert.equal(options.requestTimeout, 5_000);
  });

  test('requestTimeout 0 (no limit) allows any headersTimeout', () => {
    const options = resolved({ requestTimeout: 0, headersTimeout: 999_999 });
    assert.equal(options.requestTimeout, 0);
    assert.equal(options.headersTimeout, 999_999);
  });

  test('headersTimeout and startupTimeout must be at least 1', () => {
    assert.deepEqual(failure({ headersTimeout: 0 }), {
      option: 'headersTimeout',
      message: 'invalid value for headersTimeout: expected an integer from 1 to up, got 0',
    });
    assert.equal(failure({ startupTimeout: 0 }).option, 'startupTimeout');
    assert.equal(failure({ maxConcurrentStreams: 0 }).option, 'maxConcurrentStreams');
  });
});

describe('resolveOptions: invalid values name the option', () => {
  test('an unknown option', () => {
    assert.deepEqual(failure({ prot: 8080 }), { option: 'prot', message: 'unknown option "prot"' });
    assert.deepEqual(failure({ workers: 4 }), { option: 'workers', message: 'unknown option "workers"' });
    // null is a value, unlike undefined.
    assert.deepEqual(failure({ bogus: null }), { option: 'bogus', message: 'unknown option "bogus"' });
  });

  test('a non-integer number', () => {
    assert.deepEqual(failure({ port: 80.5 }), {
      option: 'port',
      message: 'invalid value for port: expected an integer from 0 to 65535, got 80.5',
    });
    assert.deepEqual(failure({ bodyLimit: Number.NaN }), {
      option: 'bodyLimit',
      message: 'invalid value for bodyLimit: expected an integer from 0 to up, got NaN',
    });
    assert.deepEqual(failure({ gracePeriod: Number.POSITIVE_INFINITY }), {
      option: 'gracePeriod',
      message: 'invalid value for gracePeriod: expected an integer from 0 to up, got Infinity',
    });
  });

  test('a number given as a string, or another type', () => {
    assert.deepEqual(failure({ port: '8080' }), {
      option: 'port',
      message: 'invalid value for port: expected an integer from 0 to 65535, got "8080"',
    });
    assert.deepEqual(failure({ pinnedWorkers: [2] }), {
      option: 'pinnedWorkers',
      message: 'invalid value for pinnedWorkers: expected an integer from 0 to 1024, got an array',
    });
    assert.deepEqual(failure({ pooledWorkers: { n: 1 } }), {
      option: 'pooledWorkers',
      message: 'invalid value for pooledWorkers: expected an integer from 0 to 65536, got an object',
    });
    assert.deepEqual(failure({ keepAliveTimeout: null }), {
      option: 'keepAliveTimeout',
      message: 'invalid value for keepAliveTimeout: expected an integer from 0 to up, got null',
    });
    assert.equal(failure({ bodyLimit: 10n }).option, 'bodyLimit');
    assert.equal(failure({ bodyLimit: true }).option, 'bodyLimit');
  });

  test('a negative number', () => {
    assert.deepEqual(failure({ port: -1 }), {
      option: 'port',
      message: 'invalid value for port: expected an integer from 0 to 65535, got -1',
    });
    for (const name of [
      'pinnedWorkers',
      'pooledWorkers',
      'pooledIsolates',
      'bodyLimit',
      'gracePeriod',
      'keepAliveTimeout',
      'requestTimeout',
      'sessionIdleTimeout',
    ]) {
      const error = failure({ [name]: -5 });
      assert.equal(error.option, name);
      assert.match(error.message, new RegExp(`^invalid value for ${name}: expected an integer from 0 to .*, got -5$`));
    }
  });

  test('upper bounds', () => {
    assert.deepEqual(failure({ port: 65536 }), {
      option: 'port',
      message: 'invalid value for port: expected an integer from 0 to 65535, got 65536',
    });
    assert.equal(resolved({ port: 65535 }).port, 65535);
    assert.equal(failure({ pinnedWorkers: 1025 }).option, 'pinnedWorkers');
    assert.equal(failure({ pooledWorkers: 65537 }).option, 'pooledWorkers');
    assert.equal(failure({ pooledWorkers: 2000, pooledIsolates: 1025 }).option, 'pooledIsolates');
    assert.equal(failure({ maxConcurrentStreams: 2 ** 31 }).option, 'maxConcurrentStreams');
    assert.equal(failure({ bodyLimit: Number.MAX_SAFE_INTEGER + 1 }).option, 'bodyLimit');
    assert.equal(resolved({ bodyLimit: Number.MAX_SAFE_INTEGER }).bodyLimit, Number.MAX_SAFE_INTEGER);
  });

  test('an invalid listener', () => {
    assert.deepEqual(failure({ listener: 'fast' }), {
      option: 'listener',
      message: 'invalid value for listener: expected one of auto, reuseport, acceptor, got "fast"',
    });
    assert.equal(failure({ listener: 'AUTO' }).option, 'listener');
    assert.equal(failure({ listener: 1 }).option, 'listener');
    for (const listener of ['auto', 'reuseport', 'acceptor']) assert.equal(resolved({ listener }).listener, listener);
  });

  test('an invalid logLevel', () => {
    assert.deepEqual(failure({ logLevel: 'verbose' }), {
      option: 'logLevel',
      message: 'invalid value for logLevel: expected one of debug, info, warn, error, silent, got "verbose"',
    });
    assert.equal(failure({ logLevel: '' }).option, 'logLevel');
    for (const logLevel of ['debug', 'info', 'warn', 'error', 'silent']) {
      assert.equal(resolved({ logLevel }).logLevel, logLevel);
    }
  });

  test('an invalid host or handleSignals', () => {
    assert.deepEqual(failure({ host: '' }), {
      option: 'host',
      message: 'invalid value for host: expected a host name or IP address, got ""',
    });
    assert.equal(failure({ host: 127 }).option, 'host');
    assert.deepEqual(failure({ handleSignals: 'yes' }), {
      option: 'handleSignals',
      message: 'invalid value for handleSignals: expected true or false, got "yes"',
    });
    assert.equal(failure({ handleSignals: 0 }).option, 'handleSignals');
  });

  test('the first invalid option in key order is reported', () => {
    assert.equal(failure({ port: -1, host: '' }).option, 'port');
    assert.equal(failure({ host: '', port: -1 }).option, 'host');
  });

  test('every message is one line', () => {
    const inputs: unknown[] = [
      { port: 'x\ny' },
      { bogus: 1 },
      { logLevel: 'a\nb' },
      { tls: {} },
      { pooledIsolates: 2 },
      { headersTimeout: 10, requestTimeout: 5 },
      'string',
    ];
    for (const input of inputs) assert.doesNotMatch(failure(input).message, /\n/);
  });
});

describe('resolveOptions: tls', () => {
  const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

  test('PEM strings are kept', () => {
    assert.deepEqual(resolved({ tls: { cert: CERT, key: KEY } }).tls, { cert: CERT, key: KEY });
  });

  test('PEM bytes (Uint8Array or Buffer) are decoded as UTF-8 strings', () => {
    const options = resolved({ tls: { cert: new TextEncoder().encode(CERT), key: Buffer.from(KEY) } });
    assert.deepEqual(options.tls, { cert: CERT, key: KEY });
    assert.equal(typeof options.tls?.cert, 'string');
  });

  test('the other options are resolved alongside tls', () => {
    const options = resolved({ tls: { cert: CERT, key: KEY }, port: 8443 });
    assert.equal(options.port, 8443);
    assert.equal(options.host, '0.0.0.0');
  });

  test('a bad tls shape is an error naming tls', () => {
    const expected = {
      option: 'tls',
      message: 'invalid value for tls: expected { cert, key } with PEM strings or bytes',
    };
    const bad: unknown[] = [
      null,
      'cert-and-key',
      42,
      {},
      { cert: CERT },
      { key: KEY },
      { cert: '', key: KEY },
      { cert: CERT, key: '' },
      { cert: new Uint8Array(0), key: KEY },
      { cert: CERT, key: 123 },
      { cert: new ArrayBuffer(8), key: KEY },
      { cert: [CERT], key: KEY },
      { cert: null, key: null },
    ];
    for (const tls of bad) assert.deepEqual(failure({ tls }), expected, show(tls));
  });
});

describe('resolveOptions: the input itself', () => {
  test('a non-object is rejected, naming "options"', () => {
    assert.deepEqual(failure(null), { option: 'options', message: 'options must be an object, got null' });
    assert.deepEqual(failure(8080), { option: 'options', message: 'options must be an object, got 8080' });
    assert.deepEqual(failure('port=80'), { option: 'options', message: 'options must be an object, got "port=80"' });
    assert.deepEqual(failure([]), { option: 'options', message: 'options must be an object, got an array' });
    assert.deepEqual(failure(true), { option: 'options', message: 'options must be an object, got true' });
    assert.equal(failure(() => ({})).option, 'options');
  });

  test('an object with a null prototype is accepted', () => {
    const input = Object.assign(Object.create(null) as object, { port: 1 });
    assert.equal(resolved(input).port, 1);
  });

  test('values inherited from a prototype are never read', () => {
    const options = resolved(Object.create({ port: 'abc', pinnedWorkers: -3, logLevel: 'nope' }));
    assert.equal(options.port, 8080);
    assert.equal(options.logLevel, 'info');
    class WithGetter {
      get port(): number {
        return 99999;
      }
    }
    assert.equal(resolved(new WithGetter()).port, 8080);
  });

  test('names every object has are unknown options, not crashes', () => {
    for (const name of ['toString', 'constructor', 'isPrototypeOf', 'hasOwnProperty', 'valueOf']) {
      assert.deepEqual(failure({ [name]: 1 }), { option: name, message: `unknown option "${name}"` });
    }
    assert.deepEqual(failure(JSON.parse('{"__proto__":1}')), { option: '__proto__', message: 'unknown option "__proto__"' });
  });

});
