/** The Server-Sent Events format and the event stream's pacing, heartbeat and early return. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isReply, type Reply } from '../../src/app/response.ts';
import { formatEvent, sse, type ServerSentEvent } from '../../src/app/sse.ts';

describe('formatEvent', () => {
  test('a string is one data field', () => {
    assert.equal(formatEvent('hello'), 'data: hello\n\n');
  });

  test('every line of the data gets its own data field, whatever the line break', () => {
    assert.equal(formatEvent('a\nb\r\nc\rd'), 'data: a\ndata: b\ndata: c\ndata: d\n\n');
    assert.equal(formatEvent(''), 'data: \n\n');
  });

  test('fields come in a fixed order, and non-string data is JSON', () => {
    const event: ServerSentEvent = { comment: 'note', event: 'tick', id: '7', retry: 2500, data: { n: 1, s: 'x\ny' } };
    assert.equal(formatEvent(event), ': note\nevent: tick\nid: 7\nretry: 2500\ndata: {"n":1,"s":"x\\ny"}\n\n');
  });

  test('a named event without data gets an empty data field, since clients drop events without one', () => {
    assert.equal(formatEvent({ event: 'ping' }), 'event: ping\ndata: \n\n');
  });

  test('a comment, a retry or an id alone is sent as it is (it sets state; nothing is dispatched)', () => {
    assert.equal(formatEvent({ comment: 'ping' }), ': ping\n\n');
    assert.equal(formatEvent({ retry: 0 }), 'retry: 0\n\n');
    assert.equal(formatEvent({ id: '9' }), 'id: 9\n\n');
  });

  test('an event name or id with a line break, an id with NUL, or a bad retry is refused', () => {
    assert.throws(() => formatEvent({ event: 'a\nb', data: 'x' }), /event may not contain a line break/);
    assert.throws(() => formatEvent({ id: 'a\rb' }), /id may not contain a line break or NUL/);
    assert.throws(() => formatEvent({ id: 'a\0b' }), /id may not contain/);
    assert.throws(() => formatEvent({ retry: 1.5 }), /retry must be a whole number/);
    assert.throws(() => formatEvent({ retry: -1 }), /retry must be a whole number/);
  });
});

/** Runs an sse() handler outside a server and returns its reply. */
async function replyOf(handler: (req: never) => Promise<Reply>): Promise<Reply> {
  const result = await handler({} as never);
  assert.ok(isReply(result));
  return result;
}

function iterate(reply: Reply): AsyncIterator<string> {
  return (reply.body as AsyncIterable<string>)[Symbol.asyncIterator]();
}

describe('sse()', () => {
  test('answers text/event-stream, uncached, with the events formatted in order', async () => {
    const reply = await replyOf(
      sse(async function* () {
        yield 'one';
        yield { event: 'two', data: 2 };
      }),
    );
    assert.equal(reply.contentType, 'text/event-stream');
    assert.equal(reply.headers?.['cache-control'], 'no-cache');
    const chunks: string[] = [];
    for await (const chunk of reply.body as AsyncIterable<string>) chunks.push(chunk);
    assert.deepEqual(chunks, ['data: one\n\n', 'event: two\ndata: 2\n\n']);
  });

  test('sends a heartbeat comment while the source is quiet, then the event', async () => {
    const reply = await replyOf(
      sse(
        async function* () {
          await delay(120);
          yield 'late';
        },
        { heartbeat: 30 },
      ),
    );
    const chunks: string[] = [];
    for await (const chunk of reply.body as AsyncIterable<string>) chunks.push(chunk);
    assert.equal(chunks.at(-1), 'data: late\n\n');
    const beats = chunks.slice(0, -1);
    assert.ok(beats.length >= 2, `expected heartbeats during 120 ms of quiet at 30 ms, got ${beats.length}`);
    for (const beat of beats) assert.equal(beat, ': keep-alive\n\n');
  });

  test('asks the source for an event only after the last one was taken', async () => {
    let pulled = 0;
    const reply = await replyOf(
      sse(async function* () {
        for (;;) {
          pulled++;
          yield String(pulled);
        }
      }, { heartbeat: 0 }),
    );
    const it = iterate(reply);
    await it.next();
    await it.next();
    await delay(20);
    assert.equal(pulled, 2);
    await it.return?.();
  });

  test('return() ends at once, even while a next() waits on a quiet source', async () => {
    const reply = await replyOf(
      sse(async function* () {
        yield 'first';
        await delay(60_000, undefined, { ref: false });
        yield 'never';
      }, { heartbeat: 0 }),
    );
    const it = iterate(reply);
    assert.deepEqual(await it.next(), { done: false, value: 'data: first\n\n' });
    const pending = it.next();
    await it.return?.();
    // Without the early end, this would wait the source's 60 s and the test would time out.
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  test('a source that throws makes the stream throw (the server cuts the response)', async () => {
    const reply = await replyOf(
      sse(async function* () {
        yield 'ok';
        throw new Error('broken source');
      }),
    );
    const it = iterate(reply);
    await it.next();
    await assert.rejects(it.next(), /broken source/);
  });

  test('a bad heartbeat is refused when the route is defined', () => {
    assert.throws(() => sse(async function* () {}, { heartbeat: -1 }), /heartbeat must be a whole number/);
    assert.throws(() => sse(async function* () {}, { heartbeat: 1.5 }), /heartbeat must be a whole number/);
  });
});
