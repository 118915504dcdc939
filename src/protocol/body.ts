/**
 * Writing a response body on either protocol: its length, and a streamed body pulled chunk by
 * chunk as the client takes it.
 */

import type { Writable } from 'node:stream';
import { describeThrown } from '../core/describe.ts';
import { disposeBody, SizedBody, type BodyStream } from '../app/response.ts';
import { ignore } from './incoming.ts';

export function bodyLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

/** How many bytes a streamed body will yield, when that is known before it starts (`SizedBody`). */
export function streamLength(body: BodyStream): number | undefined {
  return body instanceof SizedBody ? body.length : undefined;
}

/**
 * Writes a streamed body to `out` chunk by chunk, waiting for 'drain' whenever the client is
 * behind, so a slow reader never makes the server buffer more than one chunk plus the socket's
 * high-water mark. Ends `out` when the body ends. If the client goes away (even while the body is
 * waiting for its next chunk), stops and releases the body: a generator's `finally` blocks run, a
 * Readable is destroyed. `stop` (an event stream, and the server is shutting down) ends the
 * response early but cleanly, after the chunk being written. A body that throws is rethrown to
 * the caller as a `BodyStreamError`, and the caller cuts the response.
 *
 * Each wait is one promise that settles (a chunk, 'drain', the client gone, or `stop`), so a
 * response that lives for hours with millions of chunks holds nothing per chunk.
 */
export async function pipeBody(body: BodyStream, out: Writable, head: boolean, stop?: AbortSignal): Promise<void> {
  if (head) {
    disposeBody(body);
    return;
  }
  let iterator: AsyncIterator<string | Uint8Array>;
  try {
    iterator = body[Symbol.asyncIterator]();
  } catch (thrown) {
    throw new BodyStreamError(thrown);
  }
  let interrupt: ((why: Wake) => void) | null = null;
  let interrupted: Interrupted | null = out.destroyed ? CLOSED : null;
  const onInterrupt = (why: Interrupted) => (): void => {
    interrupted ??= why;
    interrupt?.(why);
  };
  const onClose = onInterrupt(CLOSED);
  const onStop = onInterrupt(STOPPED);
  out.once('close', onClose);
  if (stop?.aborted === true) interrupted ??= STOPPED;
  stop?.addEventListener('abort', onStop, { once: true });
  let finished = false;
  try {
    for (;;) {
      if (interrupted !== null) break;
      const next = await new Promise<IteratorResult<string | Uint8Array> | Interrupted>((resolve, reject) => {
        interrupt = resolve as (why: Wake) => void;
        const failed = (thrown: unknown): void => reject(new BodyStreamError(thrown));
        try {
          iterator.next().then(resolve, failed);
        } catch (thrown) {
          failed(thrown); // next() threw, or returned something without a then()
        }
      });
      interrupt = null;
      if (typeof next === 'symbol') break;
      if (next.done === true) {
        finished = true;
        break;
      }
      const chunk = next.value;
      if ((typeof chunk === 'string' ? chunk.length : chunk.byteLength) === 0) continue;
      if (!out.write(chunk)) {
        const onDrain = (): void => interrupt?.(DRAINED);
        const why = await new Promise<Wake>((resolve) => {
          interrupt = resolve;
          out.once('drain', onDrain);
        });
        interrupt = null;
        out.off('drain', onDrain);
        if (why !== DRAINED) break;
      }
    }
    // Ended by the body, or by `stop`: a complete response either way. Gone: nothing to end.
    if (interrupted !== CLOSED) out.end();
  } finally {
    out.off('close', onClose);
    stop?.removeEventListener('abort', onStop);
    // Not awaited: an async generator suspended inside its own `await` runs `return` only once
    // that settles, and the client that left must not hold this up.
    if (!finished) {
      void Promise.resolve(iterator.return?.()).catch(ignore);
      // The iterator of a Readable (or of compression's stream) returns only after its pending
      // read; destroying it releases it now.
      const destroyable = body as { destroy?: unknown };
      if (typeof destroyable.destroy === 'function') (destroyable.destroy as () => void).call(body);
    }
  }
}

const CLOSED = Symbol('closed');
const STOPPED = Symbol('stopped');
const DRAINED = Symbol('drained');
type Interrupted = typeof CLOSED | typeof STOPPED;
type Wake = Interrupted | typeof DRAINED;

/** A streamed body threw after the response had started: the response is cut, not completed. */
export class BodyStreamError extends Error {
  constructor(cause: unknown) {
    super(`a streamed response body failed after its headers were sent, so the response was cut: ${describeThrown(cause)}`, { cause });
    this.name = 'BodyStreamError';
  }
}

