/**
 * Every SharedArrayBuffer offset of the executor, in one place.
 *
 * Control words that two threads touch sit on their own 64-byte cache line: a word written by
 * one thread next to a word written by another makes both cores bounce the line between them
 * (false sharing), which measured about 8× slower on this kind of machine.
 */

/** Bytes in a cache line on x86-64 and most Arm cores. */
export const CACHE_LINE = 64;

// ─── SPSC ring (ring.ts) ────────────────────────────────────────────────────────────────────
/** Byte offset of `head`: bytes consumed so far, mod 2^32. Written by the consumer only. */
export const RING_HEAD = 0;
/** Byte offset of `tail`: bytes published so far, mod 2^32. Written by the producer only. */
export const RING_TAIL = CACHE_LINE;
/** Byte offset where the record data region starts. */
export const RING_DATA = 2 * CACHE_LINE;
/** Records are aligned to 8 bytes, so a 4-byte record header always fits before the end. */
export const RING_ALIGN = 8;
/** Bytes of a record header: the payload length as a u32. */
export const RING_RECORD_HEADER = 4;
/** A record header with this length says "the next record starts at offset 0". */
export const RING_WRAP_MARK = 0xffff_ffff;

// ─── Doorbell (doorbell.ts) ─────────────────────────────────────────────────────────────────
/** One doorbell per consumer thread, each on its own cache line (Int32 index = consumer × stride). */
export const DOORBELL_STRIDE = CACHE_LINE / Int32Array.BYTES_PER_ELEMENT;

// ─── Isolate state (isolate-state.ts) ───────────────────────────────────────────────────────
/**
 * Per isolate, one cache line of Int32 words; pinned workers and pooled isolates each have an
 * array of their own. Every word has a single writer — the isolate itself — so no
 * read-modify-write is ever needed; the others (pinned workers choosing a pooled isolate, the
 * supervisor's watchdog) only load them.
 *   [0] load       pooled: tasks the isolate is running or has queued;
 *                  pinned: requests in flight (received, response not yet written),
 *                  a plain store per request (read only by the watchdog, long after)
 *   [1] busySince  ms since the epoch (never 0) when the isolate entered the synchronous
 *                  part of a handler; 0 while it is not inside one
 *   [2] busyLimit  the timeout, in ms, of the handler whose synchronous part is running
 *   [3] heartbeat  ms since the epoch, stamped by a timer on the isolate's event loop; it
 *                  goes stale while the loop is blocked (also by code after an `await`)
 *   [4] loopLimit  how long the loop may stay blocked outside a handler's synchronous part:
 *                  the longest timeout among what it runs (0 if one of those has none)
 *   [5] busyRoute  the route ID + 1 of the handler whose synchronous part is running (0: none),
 *                  so the watchdog can say which route blocked
 * The supervisor resets an isolate's words (it has exited) before its replacement starts.
 */
export const ISOLATE_STATE_STRIDE = CACHE_LINE / Int32Array.BYTES_PER_ELEMENT;
export const ISOLATE_LOAD = 0;
export const ISOLATE_BUSY_SINCE = 1;
export const ISOLATE_BUSY_LIMIT = 2;
export const ISOLATE_HEARTBEAT = 3;
export const ISOLATE_LOOP_LIMIT = 4;
export const ISOLATE_BUSY_ROUTE = 5;
