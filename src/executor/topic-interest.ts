/**
 * Which pinned isolates have subscribers on which topics, in shared memory, so that a publisher
 * skips an isolate with none without sending it anything.
 *
 * B buckets × P pinned isolates of Int32 counters, bucket-major:
 *
 *               pinned 0   pinned 1   …   pinned P-1
 *   bucket 0  │  c(0,0)  │  c(0,1)  │ … │  c(0,P-1)  │   Int32 index = bucket × P + k
 *   bucket 1  │  c(1,0)  │  c(1,1)  │ … │  c(1,P-1)  │
 *      …
 *   bucket b = topicBucket(topic, B)
 *
 *   - c(b, k) is how many of the topics that pinned isolate k has local subscribers on fall in
 *     bucket b. Only isolate k writes its own column, when its local subscriber count for a
 *     topic goes 0 → 1 (`add`) or 1 → 0 (`remove`); the supervisor zeroes the column (`clear`)
 *     after isolate k has exited and before its replacement starts.
 *   - A publisher loads the P counters of the topic's bucket and sends to an isolate only when
 *     its counter is above 0. Two topics in one bucket share a counter, so a collision can only
 *     make an isolate look interested when it is not (a false positive: the receiver finds no
 *     local subscriber and drops the record); an isolate with a subscriber on a topic always
 *     has a counter above 0 in that topic's bucket, so nothing is ever skipped that was wanted.
 *   - The P counters of a bucket are adjacent, so a publish reads one cache line for up to 16
 *     pinned isolates. Counters of different isolates share lines without padding: they are
 *     written only when a topic gains its first or loses its last local subscriber, which is
 *     rare next to the loads made on every publish.
 *
 * Atomics. `add`/`remove` use Atomics.add/sub although each counter has one writer: the
 * read-modify-write is a single sequentially consistent store, so a publisher's Atomics.load
 * never sees a torn or stale-forever value, and `clear`'s Atomics.store by another thread (the
 * supervisor, after the writer exited) is ordered with them. No ordering beyond that is needed:
 * a publish that races with the first subscription to its topic may or may not see it, and a
 * record that arrives after the last local subscriber left is dropped by the receiver.
 */

/** Interest table buckets by default: 64 KiB per pinned isolate, about 6% false positives for an isolate subscribed to 1000 topics. */
export const DEFAULT_INTEREST_BUCKETS = 16_384;

/** A SharedArrayBuffer for a table of `buckets` (a power of two) × `pinnedCount` counters, all zero. */
export function createInterestTable(buckets: number, pinnedCount: number): SharedArrayBuffer {
  if (!Number.isInteger(buckets) || buckets < 1 || (buckets & (buckets - 1)) !== 0 || buckets > 2 ** 24) {
    throw new RangeError(`interest buckets must be a power of two from 1 to 2^24, got ${buckets}`);
  }
  return new SharedArrayBuffer(Math.max(1, buckets * pinnedCount) * Int32Array.BYTES_PER_ELEMENT);
}

/**
 * The bucket of `topic` in a table of `buckets` (a power of two): FNV-1a over the UTF-16 code
 * units, then MurmurHash3's finaliser so that the low bits, which the mask keeps, depend on
 * every unit. Every isolate runs this same code, so they all agree on a topic's bucket.
 */
export function topicBucket(topic: string, buckets: number): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < topic.length; i++) {
    h ^= topic.charCodeAt(i);
    h = Math.imul(h, 0x0100_0193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  h ^= h >>> 16;
  return (h >>> 0) & (buckets - 1);
}

/** A view of the interest table. Each method says which thread may call it. */
export class InterestTable {
  readonly #counters: Int32Array;
  readonly buckets: number;
  readonly pinnedCount: number;

  constructor(buffer: SharedArrayBuffer, buckets: number, pinnedCount: number) {
    if (buffer.byteLength < buckets * pinnedCount * Int32Array.BYTES_PER_ELEMENT) {
      throw new RangeError('the interest table is smaller than buckets × pinned isolates');
    }
    this.#counters = new Int32Array(buffer);
    this.buckets = buckets;
    this.pinnedCount = pinnedCount;
  }

  bucketOf(topic: string): number {
    return topicBucket(topic, this.buckets);
  }

  /** Pinned isolate `k` only: its first local subscriber on a topic in `bucket`. */
  add(k: number, bucket: number): void {
    Atomics.add(this.#counters, bucket * this.pinnedCount + k, 1);
  }

  /** Pinned isolate `k` only: its last local subscriber on a topic in `bucket` has gone. */
  remove(k: number, bucket: number): void {
    Atomics.sub(this.#counters, bucket * this.pinnedCount + k, 1);
  }

  /** Any thread: whether pinned isolate `k` may have a subscriber on a topic in `bucket`. */
  interested(bucket: number, k: number): boolean {
    return Atomics.load(this.#counters, bucket * this.pinnedCount + k) > 0;
  }

  /** Any thread: the counter itself, for tests and metrics. */
  count(bucket: number, k: number): number {
    return Atomics.load(this.#counters, bucket * this.pinnedCount + k);
  }

  /** The supervisor only, after pinned isolate `k` has exited: its whole column back to zero. */
  clear(k: number): void {
    const counters = this.#counters;
    // Ordered before the replacement's first Atomics.add, which runs on a thread started later.
    for (let index = k; index < this.buckets * this.pinnedCount; index += this.pinnedCount) Atomics.store(counters, index, 0);
  }
}
