/**
 * `fasterapi serve <app.ts>`: parse the command line, start the server, map failures to exit
 * codes. Usage errors exit with 2, everything else that stops the server from starting with 1.
 */

import { readFileSync } from 'node:fs';
import { resolveOptions } from '../config/options.ts';
import { ErrorCode, isFasterApiError } from '../core/errors.ts';
import { serve } from '../server/serve.ts';
import { flagFor, parseCommand, USAGE } from './args.ts';

export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

function fail(message: string): void {
  process.stderr.write(`fasterapi: ${message}\n`);
}

/** Runs the command; returns an exit code, or `undefined` while the server keeps running. */
export async function main(argv: readonly string[]): Promise<number | undefined> {
  const command = parseCommand(argv);
  if (!command.ok) {
    fail(command.error);
    return EXIT_USAGE;
  }
  if (command.value.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.value.kind === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`fasterapi ${pkg.version} (Node.js ${process.version})\n`);
    return 0;
  }

  const { app, tlsFiles } = command.value;
  let options = command.value.options;
  const checked = resolveOptions(options, flagFor);
  if (!checked.ok) {
    fail(checked.error.message);
    return EXIT_USAGE;
  }
  if (tlsFiles !== null) {
    try {
      options = { ...options, tls: { cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) } };
    } catch (thrown) {
      fail(`cannot read the TLS certificate or key: ${(thrown as Error).message}`);
      return EXIT_FAILURE;
    }
  }

  try {
    await serve(app, options);
    return undefined;
  } catch (thrown) {
    if (isFasterApiError(thrown)) {
      fail(thrown.message);
      return thrown.code === ErrorCode.INVALID_OPTION ? EXIT_USAGE : EXIT_FAILURE;
    }
    throw thrown;
  }
}
