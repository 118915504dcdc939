/**
 * Long-lived streams hold nothing per chunk: a response that streams for days (an event stream)
 * must not grow the heap with every chunk or heartbeat. Measured with the real `pipeBody` into a
 * real Writable, and the real `sse()` event stream, after forced garbage collections.
 */

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { isReply, type Reply } from '../../src/app/response.ts';
import { sse } from '../../src/app/sse.ts';
import { pipeBody } from '../../src/protocol/body.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const CHUNKS = 300_000;
const MiB = 1024 * 1024;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A sink that sometimes makes the writer wait for 'drain', like a socket does. */
function sink(): Writable {
  let n = 0;
  return new Writable({
    highWaterMark: 1024,
    write(_chunk, _encoding, callback) {
      if (++n % 64 === 0) setImmediate(callback);
      else callback();
    },
  });
}

/**
 * The heap (after collection) while the stream is still running, early on and near its end:
 * what a response holds per chunk shows only while it lives.
 */
function sampledSource<T>(count: number, make: (i: number) => T): { source: AsyncGenerator<T>; growth: () => number } {
  let early = 0;
  let late = 0;
  async function* source(): AsyncGenerator<T> {
    for (let i = 0; i < count; i++) {
      if (i === Math.floor(count / 10)) early = heapUsed();
      if (i === count - 1) late = heapUsed();
      yield make(i);
    }
  }
  return { source: source(), growth: () => late - early };
}

test('pipeBody: the heap does not grow with the number of chunks', async (t) => {
  const chunk = Buffer.alloc(32, 1);
  const { source, growth } = sampledSource(CHUNKS, () => chunk);
  const out = sink();
  await pipeBody(source, out, false);
  t.diagnostic(`${CHUNKS} chunks: the heap grew by ${(growth() / MiB).toFixed(2)} MiB from 10% to 100% of the stream`);
  assert.ok(out.writableEnded);
  // ~256 bytes kept per chunk would be 66 MiB here.
  assert.ok(growth() < 8 * MiB, `the heap grew by ${(growth() / MiB).toFixed(1)} MiB`);
});

test('sse(): the heap does not grow with the number of events or heartbeats', async (t) => {
  const { source, growth } = sampledSource(CHUNKS, (i) => ({ data: i }));
  const reply = (await sse(() => source, { heartbeat: 1 })({} as never)) as Reply;
  assert.ok(isReply(reply));
  const out = sink();
  await pipeBody(reply.body as AsyncIterable<string>, out, false);
  t.diagnostic(`${CHUNKS} events: the heap grew by ${(growth() / MiB).toFixed(2)} MiB from 10% to 100% of the stream`);
  assert.ok(out.writableEnded);
  assert.ok(growth() < 8 * MiB, `the heap grew by ${(growth() / MiB).toFixed(1)} MiB`);
});
