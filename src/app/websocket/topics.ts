/**
 * Publish/subscribe on one pinned isolate: which of its sockets listen to which topic. A publish
 * reaches the local subscribers directly and, through the `TopicBus` when the server has one
 * (executor rings between isolates), every other pinned isolate with subscribers on the topic;
 * what arrives from the bus is delivered to the local subscribers only.
 *
 * The bus hears only when this isolate's interest in a topic starts (first local subscriber) and
 * ends (last one gone), never per socket, so the shared interest table stays small and exact.
 */

/** The way to the other isolates (see the executor's topic bus); null in a single isolate. */
export interface TopicBus {
  /** Sends to every other pinned isolate with subscribers on `topic`. */
  publish(topic: string, data: string | Uint8Array): void;
  /** This isolate has its first subscriber on `topic`. */
  subscribed(topic: string): void;
  /** This isolate's last subscriber on `topic` has gone. */
  unsubscribed(topic: string): void;
}

/** What a subscriber is to the registry: something that can be sent a message. */
export interface Subscriber {
  /** Sends a published message: `bytes` as a text message when `text` (they are its UTF-8), else binary. */
  deliver(bytes: Uint8Array, text: boolean): void;
}

export class Topics<S extends Subscriber = Subscriber> {
  readonly #subscribers = new Map<string, Set<S>>();
  #bus: TopicBus | null = null;
  /** Messages published from this isolate, and deliveries made to its sockets. */
  published = 0;
  delivered = 0;

  /** Connects the registry to the other isolates; topics already subscribed are announced. */
  connect(bus: TopicBus): void {
    this.#bus = bus;
    for (const topic of this.#subscribers.keys()) bus.subscribed(topic);
  }

  /** Adds `subscriber` to `topic`; false if it was there already. */
  subscribe(subscriber: S, topic: string): boolean {
    let set = this.#subscribers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(topic, set);
      this.#bus?.subscribed(topic);
    }
    if (set.has(subscriber)) return false;
    set.add(subscriber);
    return true;
  }

  /** Removes `subscriber` from `topic`; false if it was not there. */
  unsubscribe(subscriber: S, topic: string): boolean {
    const set = this.#subscribers.get(topic);
    if (set === undefined || !set.delete(subscriber)) return false;
    if (set.size === 0) {
      this.#subscribers.delete(topic);
      this.#bus?.unsubscribed(topic);
    }
    return true;
  }

  /** How many local subscribers `topic` has. */
  count(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  /**
   * Publishes from this isolate: to every local subscriber but `except` (the publishing socket,
   * for `ws.publish`), and to the other isolates.
   */
  publish(topic: string, data: string | Uint8Array, except: S | null): void {
    this.published++;
    this.#deliver(topic, data, except);
    this.#bus?.publish(topic, data);
  }

  /** A message published on another isolate: to the local subscribers only. */
  deliverRemote(topic: string, data: string | Uint8Array): void {
    this.#deliver(topic, data, null);
  }

  /** To each local subscriber; a string is encoded once for all of them, not once per socket. */
  #deliver(topic: string, data: string | Uint8Array, except: S | null): void {
    const set = this.#subscribers.get(topic);
    if (set === undefined || (set.size === 1 && set.has(except as S))) return;
    const text = typeof data === 'string';
    const bytes = text ? Buffer.from(data) : data;
    for (const subscriber of set) {
      if (subscriber === except) continue;
      this.delivered++;
      subscriber.deliver(bytes, text);
    }
  }
}
