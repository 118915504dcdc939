/**
 * LineWriter (src/core/line-writer.ts) on a real pipe that its reader leaves full for a while:
 * every line of every thread arrives, whole, in each thread's order — through EAGAIN and its
 * retries, with three threads writing to the one pipe.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

const SCRIPT = new URL('../fixtures/line-writer/writers.ts', import.meta.url).pathname;

test('three threads fill a pipe nobody reads for a while: every line arrives whole and in order', async () => {
  const child = spawn(process.execPath, [SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.pause();
  // Long enough for the writers to meet a full pipe many times over.
  await delay(400);
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const next = [0, 0, 0];
  for (const line of text.split('\n').slice(0, -1)) {
    const match = /^([012]) (\d+) (x+)$/.exec(line);
    assert.ok(match !== null, `a line was cut or mixed with another: ${JSON.stringify(line.slice(0, 80))}`);
    const thread = Number(match[1]);
    assert.equal(Number(match[2]), next[thread], `thread ${thread}: a line is missing or out of order`);
    assert.equal(match[3]?.length, 40 + thread * 30);
    next[thread]!++;
  }
  assert.deepEqual(next, [20_000, 20_000, 20_000]);
  assert.ok(text.endsWith('\n'));
});
