/**
 * Reading a request body whole, within a byte limit: what `Request.bytes()` does, what the pinned
 * worker does before a request crosses to the pool, and what a urlencoded form is parsed from.
 */

import type { Readable } from 'node:stream';
import { ErrorCode, HttpError } from '../core/errors.ts';

/**
 * Where the body comes from: the protocol's request stream (read on demand, at most `bodyLimit`
 * bytes), or bytes that were read already.
 */
export type BodySource = Readable | Uint8Array;

export const EMPTY_BYTES = new Uint8Array(0);

export function bodyTooLarge(limit: number): HttpError {
  return new HttpError(413, `Request body is larger than the limit of ${limit} bytes`, {
    code: ErrorCode.BODY_TOO_LARGE,
  });
}

/** Reads a whole body, at most `limit` bytes; rejects with a 413 or 400 `HttpError`. */
export function readBody(stream: BodySource, limit: number): Promise<Uint8Array> {
  if (stream instanceof Uint8Array) return Promise.resolve(stream);
  if (stream.readableEnded) return Promise.resolve(EMPTY_BYTES);
  // A stream that is already gone will emit nothing more.
  if (stream.destroyed || stream.readableAborted || stream.errored !== null) {
    return Promise.reject(new HttpError(400, 'The request was closed before its body was complete', { code: ErrorCode.BAD_REQUEST }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the protocol layer closes or resets what is left after the 413 is sent.
        stream.pause();
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new HttpError(400, 'The request body could not be read', { code: ErrorCode.BAD_REQUEST, cause: error }));
    };
    const onClose = (): void => {
      cleanup();
      reject(new HttpError(400, 'The request was closed before its body was complete', { code: ErrorCode.BAD_REQUEST }));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
