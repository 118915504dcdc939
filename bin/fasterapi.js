#!/usr/bin/env node
// The `fasterapi` command. Plain JavaScript, so it can tell a user on an old Node.js why it
// cannot run, before loading any TypeScript. In a source checkout it runs the sources under
// Node's type stripping; in an installed package it runs the compiled `dist/`.
import { existsSync } from 'node:fs';

const MINIMUM = [22, 18, 0];
const found = process.versions.node.split('.').map(Number);
const tooOld = found[0] !== MINIMUM[0] ? found[0] < MINIMUM[0] : found[1] < MINIMUM[1];
if (tooOld) {
  process.stderr.write(
    `fasterapi: Node.js >= ${MINIMUM.join('.')} is required (found v${process.versions.node}). ` +
      'Install a current Node.js LTS, e.g. from https://nodejs.org.\n',
  );
  process.exit(1);
}

const source = new URL('../src/cli/main.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
