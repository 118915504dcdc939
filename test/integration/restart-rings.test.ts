/**
 * A pinned worker that restarts gets fresh rings to every pooled isolate: answers to tasks its
 * predecessor sent must never reach the new worker's requests, even though the new worker's
 * task ids start again from 1, the same ids those old tasks had.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { nextWorkerEvent } from '../helpers/events.ts';
import { startTestServer } from '../helpers/server.ts';

const APP = new URL('../fixtures/apps/runaway.ts', import.meta.url);

function get(port: number, path: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', (error) => resolve({ error: error.message }));
  });
}

test('after a pinned worker restarts, pooled answers still belong to their requests', async () => {
  const server = await startTestServer({ pinnedWorkers: 1, pooledWorkers: 8, pooledIsolates: 1, spillLoopDelay: 60_000 }, APP);
  try {
    // The first worker's tasks 1..4, still running on the pool when it dies.
    const old = Array.from({ length: 4 }, (_, i) => get(server.port, `/pool-slow?ms=1500&id=old-${i}`));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ready = nextWorkerEvent('ready', server.port, (e) => e.kind === 'pinned');
    await get(server.port, '/exit-pinned');
    await ready;
    // The new worker's tasks 1..4, in flight when the old tasks finish on the pool.
    const fresh = await Promise.all(Array.from({ length: 4 }, (_, i) => get(server.port, `/pool-slow?ms=2500&id=new-${i}`)));
    fresh.forEach((answer, i) => assert.deepEqual(answer, { status: 200, body: `slow new-${i}` }));
    for (const answer of await Promise.all(old)) assert.ok('error' in answer, 'the dead worker’s requests were cut with it');
    assert.equal(server.restarts.pinned, 1);
  } finally {
    await server.close();
  }
});
