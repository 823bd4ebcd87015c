import { encodeCursor, type StoredEvent } from '../events/index.js';
import { SlowSubscriber } from './errors.js';
import { type EventFilter, matchesFilter } from './filter.js';

/** How a subscriber's events leave the process; metrics count subscribers and deliveries by it. */
export type LiveTransport = 'ws' | 'sse' | 'iterator';

/**
 * Where a subscriber's events go when a transport takes them directly (the fast path): it writes
 * them to its socket, so nothing is queued per subscriber while the socket keeps up.
 */
export interface LiveSink {
  readonly transport: Exclude<LiveTransport, 'iterator'>;
  /** Writes events, in stream order. The array is shared with other subscribers: read it only. */
  write(events: readonly StoredEvent[]): void;
  /** Bytes handed to the socket and not yet sent (ws.bufferedAmount, the SSE socket's writableLength). */
  bufferedBytes(): number;
  /** The subscription is over: completed when error is undefined, else failed with it. Called once. */
  end(error?: Error): void;
}

/** Bounds of one subscriber's buffer. */
export interface SubscriberLimits {
  /** Events that may wait for the transport before the subscriber is closed as slow. */
  maxPending: number;
  /** Bytes a socket may hold unsent before further events wait in the subscriber's buffer. */
  highWaterBytes: number;
}

/** What a subscriber tells its owner. */
export interface SubscriberHooks {
  /** Events wait for the socket: call flush() again later. */
  backlogged(subscriber: Subscriber): void;
  /** Events handed to a transport. */
  sent(transport: LiveTransport, count: number): void;
  /** The subscriber ended; release what it holds. */
  ended(subscriber: Subscriber, error?: Error): void;
}

/** Events written to a sink at once, so that a socket's backlog is checked between chunks. */
const WRITE_CHUNK = 64;

/**
 * One live subscription: its filter, its place in the stream and its bounded buffer. While it
 * replays, broadcast events are held aside (at most maxPending; beyond that they are dropped and
 * the replay reads further instead), and it goes live once the replay reached them, so that the
 * switch has no gap and no duplicate: every event is handed on at most once, in stream order,
 * by sequence.
 *
 * It is also an async iterator of events, for callers that pull (graphql-js's own subscribe).
 */
export class Subscriber implements AsyncIterableIterator<StoredEvent> {
  readonly filter: EventFilter;
  /** While replaying: broadcast events at or below this sequence are left to the replay. */
  floor: number;
  /** The last sequence queued or sent: nothing at or below it is taken again. */
  private lastQueuedSeq: number;
  /** The last sequence handed to the transport (or the start position): a slow subscriber resumes after it. */
  private lastSentSeq: number;
  private replaying: boolean;
  private held: StoredEvent[] = [];
  private pending: StoredEvent[] = [];
  private sink: LiveSink | undefined;
  private waiters: Array<() => void> = [];
  private endError: Error | undefined;
  private isEnded = false;
  private readonly endCallbacks: Array<() => void> = [];
  /** Set by the broadcaster to visit each subscriber once per batch. */
  visit = 0;

  constructor(
    filter: EventFilter,
    start: { position: number; after: number; replaying: boolean },
    private readonly limits: SubscriberLimits,
    private readonly hooks: SubscriberHooks,
  ) {
    this.filter = filter;
    this.floor = start.position;
    this.lastQueuedSeq = start.after;
    this.lastSentSeq = start.after;
    this.replaying = start.replaying;
  }

  get ended(): boolean {
    return this.isEnded;
  }

  get transport(): LiveTransport {
    return this.sink?.transport ?? 'iterator';
  }

  /** Whether a broadcast event is for this subscriber. */
  wants(event: StoredEvent): boolean {
    return event.seq > (this.replaying ? this.floor : this.lastQueuedSeq) && matchesFilter(this.filter, event);
  }

  /** Broadcast events this subscriber wants, in stream order. */
  receive(events: readonly StoredEvent[]): void {
    if (this.isEnded) return;
    if (!this.replaying) {
      this.offer(events);
      return;
    }
    for (const event of events) {
      if (event.seq <= this.floor) continue;
      this.held.push(event);
      if (this.held.length > this.limits.maxPending) {
        // Holding more would grow memory with the live rate; the replay reads these instead.
        this.floor = event.seq;
        this.held = [];
      }
    }
  }

  /** Replayed events (already filtered), in stream order. */
  replayed(events: readonly StoredEvent[]): void {
    this.offer(events);
  }

  /** The replay reached the floor: hand on what was held and take broadcasts directly from now on. */
  goLive(): void {
    if (this.isEnded || !this.replaying) return;
    this.replaying = false;
    const held = this.held;
    this.held = [];
    if (held.length > 0) this.offer(held);
  }

  /** Broadcast events held aside while replaying. */
  get heldCount(): number {
    return this.held.length;
  }

  get isReplaying(): boolean {
    return this.replaying;
  }

  private offer(events: readonly StoredEvent[]): void {
    let fresh = events;
    if (events.length > 0 && events[0].seq <= this.lastQueuedSeq)
      fresh = events.filter((e) => e.seq > this.lastQueuedSeq);
    if (fresh.length === 0) return;
    this.lastQueuedSeq = fresh[fresh.length - 1].seq;
    const sink = this.sink;
    // The common case: nothing waits and the socket keeps up, so the events go straight out.
    if (sink && this.pending.length === 0 && sink.bufferedBytes() < this.limits.highWaterBytes) {
      this.writeOut(sink, fresh);
      return;
    }
    for (const event of fresh) this.pending.push(event);
    if (this.pending.length > this.limits.maxPending) {
      this.end(
        new SlowSubscriber(
          this.lastSentSeq > 0 ? encodeCursor(this.lastSentSeq) : null,
          `more than ${this.limits.maxPending} events waiting`,
        ),
      );
      return;
    }
    if (sink) this.flush();
    else this.wake();
  }

  private writeOut(sink: LiveSink, events: readonly StoredEvent[]): void {
    if (events.length <= WRITE_CHUNK) {
      sink.write(events);
    } else {
      for (let i = 0; i < events.length; i += WRITE_CHUNK) sink.write(events.slice(i, i + WRITE_CHUNK));
    }
    this.lastSentSeq = events[events.length - 1].seq;
    this.hooks.sent(sink.transport, events.length);
  }

  /** Writes waiting events while the socket has room. */
  flush(): void {
    const sink = this.sink;
    if (!sink || this.isEnded) return;
    while (this.pending.length > 0 && sink.bufferedBytes() < this.limits.highWaterBytes) {
      const chunk = this.pending.splice(0, WRITE_CHUNK);
      this.writeOut(sink, chunk);
      if (this.isEnded) return;
    }
    if (this.pending.length > 0) this.hooks.backlogged(this);
    else this.wake();
  }

  /** Whether `count` more events fit without crowding the buffer: the replay reads at this pace. */
  hasRoomFor(count: number): boolean {
    if (this.pending.length + count > this.limits.maxPending) return false;
    return !this.sink || this.sink.bufferedBytes() < this.limits.highWaterBytes;
  }

  /** Resolves once `count` more events fit (or the subscriber ended). */
  async whenRoomFor(count: number): Promise<void> {
    while (!this.isEnded && !this.hasRoomFor(count)) {
      // A full socket with nothing queued here calls no one back: ask to be tried again.
      this.hooks.backlogged(this);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** From now on events go to the sink, beginning with those already waiting. */
  attach(sink: LiveSink): void {
    if (this.isEnded) {
      sink.end(this.endError);
      return;
    }
    this.sink = sink;
    this.flush();
  }

  /** Ends the subscription: completed without an error, else failed with it. Idempotent. */
  end(error?: Error): void {
    if (this.isEnded) return;
    this.isEnded = true;
    this.endError = error;
    this.pending = [];
    this.held = [];
    this.sink?.end(error);
    this.hooks.ended(this, error);
    this.wake();
    for (const callback of this.endCallbacks.splice(0)) callback();
  }

  /** Runs callback once the subscription ended (at once when it already has). */
  onEnd(callback: () => void): void {
    if (this.isEnded) callback();
    else this.endCallbacks.push(callback);
  }

  // --- the pull side, for callers that iterate -------------------------------------------------

  async next(): Promise<IteratorResult<StoredEvent>> {
    for (;;) {
      const event = this.pending.shift();
      if (event) {
        this.lastSentSeq = event.seq;
        this.hooks.sent('iterator', 1);
        if (this.waiters.length > 0) this.wake();
        return { value: event, done: false };
      }
      if (this.isEnded) {
        const error = this.endError;
        this.endError = undefined;
        if (error) throw error;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async return(): Promise<IteratorResult<StoredEvent>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<StoredEvent>> {
    this.end();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export function isSubscriber(value: unknown): value is Subscriber {
  return value instanceof Subscriber;
}
