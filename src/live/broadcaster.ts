import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { StoredEvent } from '../events/index.js';
import type { Subscriber } from './subscriber.js';

/** Subscriber-event checks made before the broadcast yields to the event loop. */
const WORK_PER_SLICE = 2000;
/** Events taken from the queue at once: one pass over the subscribers serves them all. */
const MAX_BATCH = 256;
/** Events the queue may hold before the feed waits for the broadcast to catch up. */
const MAX_QUEUED = 8192;
/**
 * Shortest time between two dispatches. Each dispatch costs a socket write per subscriber, and on
 * a busy feed most of a process's time goes to those writes: events that arrive meanwhile wait
 * (2 ms at most) and share the next write. An event after a quiet spell goes out at once.
 */
const DISPATCH_INTERVAL_MS = 2;
/** How often subscribers whose sockets were full are tried again. */
const BACKLOG_RETRY_MS = 20;

/**
 * Hands each event of the shared feed to the subscribers that want it, once per process. Events
 * are dispatched in batches, each batch in stream order to every subscriber, and the work is cut
 * into slices with a turn of the event loop between them, so that ingestion stays responsive while
 * thousands of subscribers are served.
 */
export class Broadcaster {
  /** The last stream sequence the feed passed on: every later event will be dispatched. */
  position: number;
  private readonly untyped = new Set<Subscriber>();
  private readonly byType = new Map<string, Set<Subscriber>>();
  private queue: StoredEvent[] = [];
  private isDraining = false;
  private lastDrainAt = Number.NEGATIVE_INFINITY;
  private visit = 0;
  private readonly backlogged = new Set<Subscriber>();
  private retryTimer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];

  constructor(position: number) {
    this.position = position;
  }

  add(subscriber: Subscriber): void {
    const types = subscriber.filter.types;
    if (!types) {
      this.untyped.add(subscriber);
      return;
    }
    for (const type of types) {
      const set = this.byType.get(type);
      if (set) set.add(subscriber);
      else this.byType.set(type, new Set([subscriber]));
    }
  }

  remove(subscriber: Subscriber): void {
    this.backlogged.delete(subscriber);
    const types = subscriber.filter.types;
    if (!types) {
      this.untyped.delete(subscriber);
      return;
    }
    for (const type of types) {
      const set = this.byType.get(type);
      set?.delete(subscriber);
      if (set?.size === 0) this.byType.delete(type);
    }
  }

  /** Whether any subscriber wants events of this type. */
  wantsType(type: string): boolean {
    return this.untyped.size > 0 || this.byType.has(type);
  }

  /** The feed passed the message at seq: an event, or undefined when it was not a valid one (or wanted by none). */
  accept(seq: number, event: StoredEvent | undefined): void {
    if (seq <= this.position) return;
    this.position = seq;
    if (!event) return;
    this.queue.push(event);
    if (!this.isDraining) {
      this.isDraining = true;
      const wait = this.lastDrainAt + DISPATCH_INTERVAL_MS - performance.now();
      if (wait > 0) setTimeout(() => void this.drain(), wait);
      else setImmediate(() => void this.drain());
    }
  }

  /** Whether the feed should wait (whenCaughtUp) before passing more events. */
  get isCongested(): boolean {
    return this.queue.length >= MAX_QUEUED;
  }

  whenCaughtUp(): Promise<void> {
    if (!this.isCongested) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Retries a subscriber whose socket was full, until its backlog is written. */
  retryLater(subscriber: Subscriber): void {
    this.backlogged.add(subscriber);
    this.retryTimer ??= setInterval(() => this.retryBacklogged(), BACKLOG_RETRY_MS);
  }

  private retryBacklogged(): void {
    // A subscriber whose socket is still full asks to be retried again: that is for the next
    // round, so this one goes over the subscribers due now only.
    const due = [...this.backlogged];
    this.backlogged.clear();
    for (const subscriber of due) subscriber.flush();
    if (this.backlogged.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  private async drain(): Promise<void> {
    this.lastDrainAt = performance.now();
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= MAX_BATCH ? this.queue : this.queue.slice(0, MAX_BATCH);
        this.queue = batch === this.queue ? [] : this.queue.slice(MAX_BATCH);
        if (!this.isCongested && this.drainWaiters.length > 0) {
          const waiters = this.drainWaiters;
          this.drainWaiters = [];
          for (const resolve of waiters) resolve();
        }
        await this.dispatch(batch);
      }
    } finally {
      this.isDraining = false;
    }
  }

  private async dispatch(batch: readonly StoredEvent[]): Promise<void> {
    const visit = ++this.visit;
    const sets: Set<Subscriber>[] = [this.untyped];
    const seen = new Set<string>();
    for (const event of batch) {
      if (seen.has(event.type)) continue;
      seen.add(event.type);
      const set = this.byType.get(event.type);
      if (set) sets.push(set);
    }
    let work = 0;
    for (const set of sets) {
      for (const subscriber of set) {
        if (subscriber.visit === visit) continue;
        subscriber.visit = visit;
        work += batch.length;
        let wanted = 0;
        for (const event of batch) if (subscriber.wants(event)) wanted++;
        if (wanted > 0) {
          // When every event is wanted (the usual case) the batch itself is passed on, not a copy.
          subscriber.receive(wanted === batch.length ? batch : batch.filter((e) => subscriber.wants(e)));
        }
        if (work >= WORK_PER_SLICE) {
          work = 0;
          await yieldToEventLoop();
        }
      }
    }
  }

  /** Stops retrying; subscribers are ended by their owner. */
  close(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
    this.backlogged.clear();
    for (const resolve of this.drainWaiters) resolve();
    this.drainWaiters = [];
  }
}
