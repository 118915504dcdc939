/**
 * One thread's end of its rings: what a pinned worker's pool client and a pooled isolate have in
 * common. Each has, per peer (a pooled isolate for the client, a pinned worker for the isolate),
 * one ring it writes and one it reads, and one doorbell of its own that its peers ring.
 *
 *   send(peer, item) ──► outgoing ring ──► peer        (or, when the ring is full, the peer's
 *                           ▲                             outbox, retried in order)
 *                           └── flush()
 *   owner.read(peer, record) ◄── readRecords() ◄── incoming rings, each in turn
 *
 * Writing. An item is written straight into the ring when nothing waits before it in that
 * peer's outbox; otherwise, or when the ring is full, it joins the end of the outbox, so the
 * records of one ring keep their order. A record whose body does not fit whole carries its head
 * and the start of the body; the rest (a `BodyRest`) takes the item's place at the front of the
 * outbox and goes out as chunk records, as many as fit at a time. Nothing is ever reordered: a
 * task's chunks follow its head, and what was queued after it follows its chunks. After
 * committing records the writer publishes them (one store of the ring's tail for all of
 * them) and rings the peer's doorbell (doorbell.ts: a load, and a notify only
 * when the peer is parked). A consumer does not ring when it frees space, so writes blocked on a
 * full ring are retried on a short timer, `FULL_RING_RETRY_MS`.
 *
 * The loop. Each step reads every incoming ring, then retries the outboxes. Then, unless there
 * is nothing left to wait for (the owner expects no records and no write is blocked: the loop
 * stops until `start()`), it goes round again after one event-loop turn if the step read records
 * and `rescanAfterRead`; else it keeps looking for the spin window (spin.ts: by turns for
 * `waitBy: 'turns'`, spinning while the owner is idle for `'idle'`), and then parks: it
 * publishes PARKED, re-checks the incoming rings, and only if they are still empty waits on its
 * doorbell — blocking the thread for up to BLOCK_MS where it has nothing else to run and records
 * came recently, else with `Atomics.waitAsync`. Under load the loop keeps finding records, never
 * parks, and no thread makes a syscall to wake it.
 *
 * Nothing on the per-record path allocates: records are visited through one function made with
 * the endpoint, and the only objects made are a `BodyRest` per record that did not fit whole and
 * one promise per park.
 */

import { performance } from 'node:perf_hooks';
import { BodyRest, encodeBodyChunk, type RecordKind } from './codec.ts';
import type { Doorbell } from './doorbell.ts';
import { RingConsumer, RingProducer } from './ring.ts';
import { SpinWindow, spinUntil } from './spin.ts';

/** How long to wait before retrying writes into a full ring, in ms. */
export const FULL_RING_RETRY_MS = 1;

/**
 * What writing one item did: `false`, no room now (it stays queued, and is retried); `true`, it
 * is done; a `BodyRest`, its head is written and the rest of its body follows.
 */
export type Written = boolean | BodyRest;

/** What the side that owns the endpoint decides: how its items are encoded and what its records mean. */
export interface EndpointOwner<Item> {
  /** Encodes `item` into `ring`. */
  write(ring: RingProducer, item: Item): Written;
  /** One record from peer `peer`: its payload is `bytes[offset, offset + length)`, valid during the call only. */
  read(peer: number, bytes: Buffer, offset: number, length: number): void;
  /** Whether the rest of task `taskId`'s body is still wanted; a rest nobody waits for is dropped. */
  wantsBody(taskId: number): boolean;
  /** Whether records are expected: while not, and no write is blocked, the loop stops. */
  expectsRecords(): boolean;
  /** Whether the thread has nothing to do but wait for records (it may then spin or block on them). */
  idle(): boolean;
}

export interface EndpointOptions {
  /** This thread's own doorbell, rung by its peers when they write to it. */
  readonly doorbell: Doorbell;
  /** Each peer's doorbell, by peer index. */
  readonly peerDoorbells: readonly Doorbell[];
  /** The record kind of a body chunk in the outgoing direction. */
  readonly bodyKind: typeof RecordKind.REQUEST_BODY | typeof RecordKind.RESPONSE_BODY;
  /** The longest time to keep looking for records before parking, in µs (spin.ts); 0 parks at once. */
  readonly spinCapUs: number;
  /**
   * How this end looks for records before it parks, and what its window follows (spin.ts):
   * `turns`: once per event-loop turn, for about twice the recent wait from a send to an
   * answer (a pinned worker, whose loop serves connections meanwhile); `idle`: while the owner
   * is idle, spin on the rings for about twice the recent gap between records, then block the
   * thread on the doorbell for up to BLOCK_MS at a time while records came in the last
   * RECENT_MS (a pooled isolate, which has nothing else to run then).
   */
  readonly waitBy: 'turns' | 'idle';
  /** Go round again after a step that read records instead of parking (more are likely to follow). */
  readonly rescanAfterRead: boolean;
  /**
   * Ring a peer's doorbell at most once per event-loop turn: what is written during a turn is
   * published at once (a peer that is awake sees it), and a parked peer is rung on the loop's
   * next step, once for all of it. `Atomics.notify` costs the ringing thread a system call.
   */
  readonly ringOncePerTurn: boolean;
}

/**
 * An idle pooled isolate blocks its thread on the doorbell (`Atomics.wait`) for at most this
 * long at a time, in ms, then lets its event loop turn (timers, the heartbeat, the supervisor's
 * messages). A thread blocked in `Atomics.wait` resumes within a few µs of `Atomics.notify`;
 * one parked with `Atomics.waitAsync` only once its event loop has been woken and has run the
 * promise's reaction, which measured several times longer.
 */
export const BLOCK_MS = 1;
/** It blocks that way only while records came in the last RECENT_MS; after that it parks with waitAsync and costs nothing. */
export const RECENT_MS = 50;

/** The rings between this thread and one peer. */
interface Lane<Item> {
  readonly producer: RingProducer;
  readonly consumer: RingConsumer;
  /** Writes waiting for room in `producer`'s ring, oldest first. */
  readonly outbox: Array<Item | BodyRest>;
}

export class RingEndpoint<Item extends object> {
  readonly #owner: EndpointOwner<Item>;
  readonly #doorbell: Doorbell;
  readonly #peerDoorbells: readonly Doorbell[];
  readonly #bodyKind: EndpointOptions['bodyKind'];
  readonly #window: SpinWindow;
  readonly #waitBy: EndpointOptions['waitBy'];
  readonly #rescanAfterRead: boolean;
  readonly #ringOncePerTurn: boolean;
  /** Peers whose doorbell is to be rung on the next step (ringOncePerTurn). */
  readonly #ringDue: boolean[];
  #anyRingDue = false;
  /** By peer index; null while the peer has no rings (a pooled isolate being replaced). */
  readonly #lanes: Array<Lane<Item> | null>;

  /** The loop has stopped: nothing is scheduled and nothing it waits for will step it. */
  #stopped = true;
  /** A step is due on the next event-loop turn. */
  #scheduled = false;
  /** A doorbell wait is outstanding (at most one at a time). */
  #waiting = false;
  /** The retry timer for blocked writes (at most one at a time). */
  #retryTimer: NodeJS.Timeout | null = null;
  /** When a record was last read, and last sent (performance.now()), for the spin window. */
  #lastRead = 0;
  #lastSend = 0;
  /** The peer whose ring `readRecords` is reading, for `#visit`. */
  #reading = 0;

  constructor(options: EndpointOptions, owner: EndpointOwner<Item>) {
    this.#owner = owner;
    this.#doorbell = options.doorbell;
    this.#peerDoorbells = options.peerDoorbells;
    this.#bodyKind = options.bodyKind;
    this.#window = new SpinWindow(options.spinCapUs);
    this.#waitBy = options.waitBy;
    this.#rescanAfterRead = options.rescanAfterRead;
    this.#ringOncePerTurn = options.ringOncePerTurn;
    this.#ringDue = options.peerDoorbells.map(() => false);
    this.#lanes = options.peerDoorbells.map(() => null);
  }

  // ── rings ──

  /** Peer `peer` is reached on fresh rings from now on; what was queued for its old ones is dropped. */
  connect(peer: number, outgoing: SharedArrayBuffer, incoming: SharedArrayBuffer): void {
    this.#lanes[peer] = { producer: new RingProducer(outgoing), consumer: new RingConsumer(incoming), outbox: [] };
  }

  /** Peer `peer` is gone: its rings are neither read nor written, and its outbox is dropped. */
  disconnect(peer: number): void {
    this.#lanes[peer] = null;
  }

  // ── writing ──

  /** Writes `item` to peer `peer` (which must be connected) now, or queues it behind what waits for room. */
  send(peer: number, item: Item): void {
    const lane = this.#lanes[peer] as Lane<Item>;
    this.#lastSend = performance.now();
    if (lane.outbox.length > 0) {
      lane.outbox.push(item);
      this.schedule();
      return;
    }
    const written = this.#owner.write(lane.producer, item);
    if (written === false) {
      lane.outbox.push(item);
      this.schedule();
      return;
    }
    this.#announce(peer, lane);
    if (written === true) return;
    // As much of the body as fits goes now; what does not waits in the outbox.
    lane.outbox.push(written);
    if (this.#flushLane(peer, lane)) this.schedule();
  }

  /**
   * Removes the first queued item that `matches` (an item never written); returns whether there
   * was one. The rest of a body already begun is not an item: `wantsBody` decides on it.
   */
  withdraw(peer: number, matches: (item: Item) => boolean): boolean {
    const outbox = this.#lanes[peer]?.outbox;
    if (outbox === undefined) return false;
    for (let k = 0; k < outbox.length; k++) {
      const item = outbox[k] as Item | BodyRest;
      if (item instanceof BodyRest || !matches(item)) continue;
      outbox.splice(k, 1);
      return true;
    }
    return false;
  }

  /** Retries every queued write, in order, as far as the rings allow. Returns whether some are still blocked. */
  flush(): boolean {
    let blocked = false;
    for (let peer = 0; peer < this.#lanes.length; peer++) {
      const lane = this.#lanes[peer];
      if (lane !== null && lane !== undefined && lane.outbox.length > 0 && this.#flushLane(peer, lane)) blocked = true;
    }
    return blocked;
  }

  /** Writes the front of one outbox until it is empty or the ring is full; returns whether it is blocked. */
  #flushLane(peer: number, lane: Lane<Item>): boolean {
    const outbox = lane.outbox;
    let wrote = false;
    let blocked = false;
    while (outbox.length > 0) {
      const item = outbox[0] as Item | BodyRest;
      if (item instanceof BodyRest) {
        if (!this.#owner.wantsBody(item.taskId)) {
          outbox.shift(); // the task ended (timed out, say): the rest of its body is not needed
          continue;
        }
        const from = item.offset;
        const done = this.#writeBody(lane.producer, item);
        // The chunks written are announced even if the rest waits.
        if (item.offset !== from) wrote = true;
        if (!done) {
          blocked = true;
          break;
        }
        outbox.shift();
        continue;
      }
      const written = this.#owner.write(lane.producer, item);
      if (written === false) {
        blocked = true;
        break;
      }
      wrote = true;
      // A head whose body did not fit whole gives its place at the front to the rest of its body.
      if (written === true) outbox.shift();
      else outbox[0] = written;
    }
    // Whatever was committed is announced, even if the queue is blocked behind it.
    if (wrote) this.#announce(peer, lane);
    return blocked;
  }

  /** Publishes what was committed to `peer`'s ring (one store for all of it), and rings its doorbell. */
  #announce(peer: number, lane: Lane<Item>): void {
    if (!lane.producer.publish()) return;
    if (!this.#ringOncePerTurn || this.#stopped) {
      (this.#peerDoorbells[peer] as Doorbell).ring();
      return;
    }
    this.#ringDue[peer] = true;
    this.#anyRingDue = true;
    this.schedule();
  }

  /** Rings every doorbell that `#announce` left for this step. */
  #ringDuePeers(): void {
    if (!this.#anyRingDue) return;
    this.#anyRingDue = false;
    const due = this.#ringDue;
    for (let peer = 0; peer < due.length; peer++) {
      if (!due[peer]) continue;
      due[peer] = false;
      (this.#peerDoorbells[peer] as Doorbell).ring();
    }
  }

  /** Writes as many chunks of `rest` as fit; returns whether the body is now complete. */
  #writeBody(ring: RingProducer, rest: BodyRest): boolean {
    while (rest.offset < rest.body.byteLength) {
      const next = encodeBodyChunk(ring, this.#bodyKind, rest.taskId, rest.body, rest.offset);
      if (next < 0) return false;
      rest.offset = next;
    }
    return true;
  }

  // ── reading ──

  /** Reads every record waiting in the incoming rings, peer by peer. Returns how many were read. */
  readRecords(): number {
    let read = 0;
    for (let peer = 0; peer < this.#lanes.length; peer++) {
      const lane = this.#lanes[peer];
      if (lane === null || lane === undefined) continue;
      this.#reading = peer;
      read += lane.consumer.take(this.#visit);
    }
    return read;
  }

  /** Made once, so that reading allocates nothing per ring or per record. */
  readonly #visit = (bytes: Buffer, offset: number, length: number): void => {
    this.#owner.read(this.#reading, bytes, offset, length);
  };

  /** Whether a record is waiting in some incoming ring. */
  hasRecords(): boolean {
    for (const lane of this.#lanes) if (lane !== null && lane.consumer.hasRecords()) return true;
    return false;
  }

  readonly #hasRecords = (): boolean => this.hasRecords();

  /** Records were read at `now`: one sample for the spin window, of the kind this end follows. */
  #noteRead(now: number): void {
    if (this.#waitBy === 'turns') {
      // The first answer since the last send: how long answers take now.
      if (this.#lastSend > this.#lastRead) this.#window.sample(now - this.#lastSend);
    } else {
      this.#window.sample(now - this.#lastRead);
    }
    this.#lastRead = now;
  }

  // ── the loop ──

  /** Starts the loop with one step now, unless it is already going. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#lastRead = performance.now();
    this.#step();
  }

  /** Has the loop take a step on the next event-loop turn (starting it again if it had stopped). */
  schedule(): void {
    this.#stopped = false;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#onTurn);
  }

  readonly #onTurn = (): void => {
    this.#scheduled = false;
    this.#step();
  };

  readonly #onRung = (): void => {
    this.#waiting = false;
    if (!this.#stopped) this.#step();
  };

  readonly #onRetry = (): void => {
    this.#retryTimer = null;
    if (!this.#stopped) this.#step();
  };

  /**
   * One step. Every path but the stop leaves the loop certain to step again: a step scheduled,
   * or a doorbell wait on a PARKED word (with a retry timer as well while writes are blocked).
   */
  #step(): void {
    this.#ringDuePeers();
    const read = this.readRecords();
    const blocked = this.flush();
    const now = performance.now();
    if (read > 0) this.#noteRead(now);
    if (!blocked && !this.#owner.expectsRecords()) {
      this.#stopped = true;
      return;
    }
    if (read > 0 && this.#rescanAfterRead) {
      this.schedule();
      return;
    }
    // Keep looking for a while before parking (spin.ts).
    const since = Math.max(this.#lastRead, this.#lastSend);
    const window = this.#window.ms;
    if (window > 0 && now - since < window) {
      if (this.#waitBy === 'turns') {
        this.schedule();
        return;
      }
      if (this.#owner.idle() && spinUntil(since + window, this.#hasRecords)) {
        this.#step();
        return;
      }
    }
    this.#doorbell.park();
    // Re-check after announcing the park: a producer that committed before it saw PARKED did
    // not ring, but its record is visible here (doorbell.ts explains why nothing is lost).
    if (this.hasRecords()) {
      this.#doorbell.unpark();
      this.schedule();
      return;
    }
    if (this.#waitBy === 'idle' && !blocked && this.#owner.idle() && now - this.#lastRead < RECENT_MS) {
      // Block the thread itself: woken within µs by a ring, or after BLOCK_MS to let the loop turn.
      if (this.#doorbell.block(BLOCK_MS)) this.#step();
      else this.schedule();
      return;
    }
    // A wait left from an earlier park (the loop found work after it, or was stepped by the
    // timer) is still registered on this word, which now reads PARKED again: a ring wakes it.
    if (!this.#waiting) {
      this.#waiting = true;
      void this.#doorbell.wait().then(this.#onRung);
    }
    if (blocked && this.#retryTimer === null) this.#retryTimer = setTimeout(this.#onRetry, FULL_RING_RETRY_MS);
  }
}
