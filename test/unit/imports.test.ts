/**
 * The house's dependency rules, checked on the source: every import points down the layers
 * (docs/architecture.md, "Layout and dependency direction") or stays in its own folder, and no
 * module imports itself through others. Type-only imports count: a cycle of types is still a
 * cycle a reader has to untangle.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Each folder of src/, lowest first: a module may import from its own folder and those before it. */
const LAYERS = ['core', 'config', 'router', 'app', 'plugins', 'protocol', 'executor', 'lifecycle', 'server', 'cli'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** The src/ modules a file imports or re-exports from, statically or with `import()`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms),
    ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1] as string);
  return specifiers.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s));
}

const files = sources(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const name = (file: string): string => relative(SRC, file);
const layerOf = (file: string): number => {
  const folder = name(file).split('/')[0] as string;
  return folder.endsWith('.ts') ? LAYERS.length : LAYERS.indexOf(folder);
};

test('the import scanner sees the source tree', () => {
  assert.ok(files.length > 40, `${files.length} files under src/`);
  for (const folder of LAYERS) assert.ok(files.some((f) => name(f).startsWith(`${folder}/`)), `src/${folder}/ has modules`);
  for (const file of files) assert.ok(layerOf(file) !== -1, `${name(file)} is in a known layer`);
  // A module known to import across layers is seen doing so.
  assert.ok(graph.get(join(SRC, 'server/pinned-worker.ts'))?.includes(join(SRC, 'lifecycle/admit.ts')));
});

test('every import resolves to a module in src/', () => {
  for (const [file, imports] of graph) for (const target of imports) assert.ok(graph.has(target), `${name(file)} imports ${name(target)}, which does not exist`);
});

test('imports point down the layers: protocol and executor never import the lifecycle or the server', () => {
  const upward: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) if (layerOf(target) > layerOf(file)) upward.push(`${name(file)} → ${name(target)}`);
  }
  assert.deepEqual(upward, []);
});

test('no import cycles', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') cycles.push([...path.slice(path.indexOf(target)), target].map(name).join(' → '));
      else if (!state.has(target)) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});
