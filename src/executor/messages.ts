/**
 * The supervisor → pooled isolate control messages, over `postMessage`. Like every control
 * message they carry lifecycle events, never requests.
 */

import type { RingPair } from './topology.ts';

export type ToPooled =
  /** Pinned worker `pinned` was replaced: use these fresh rings for it. */
  | { readonly type: 'pinned-rings'; readonly pinned: number; readonly rings: RingPair }
  /** The server is shutting down and every request has finished: run the onShutdown hooks. */
  | { readonly type: 'stop' };
