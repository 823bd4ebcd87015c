// The live read model: type totals and time buckets as the projector writes them, fed by one KV
// watch per process on the keys under `s.` (totals, buckets, and the position written after
// them), shared by every subscriber. A subscriber's first message is the current state tied to a
// projector position; each later one holds what changed up to the next position. Changes wait in
// a map keyed by bucket, so a slow subscriber gets the latest value of each bucket, not a queue.
import type { Logger } from '../log/index.js';
import { type KvWatch, liveValue, watchKv } from '../nats/index.js';
import { type CountBucket, countKeyOf } from './event-counts.js';
import { TYPE_INDEX_KEY, type TypeIndex, type TypeStats, typeStatsKeyOf } from './event-types.js';
import { bucketStart, type Interval, intervalMs } from './intervals.js';
import { POSITION_KEY, type Position } from './position.js';
import { json } from './read-model.js';
import type { ReadModelReader } from './reader.js';

export interface LiveCountsQuery {
  /** Types to follow; every type (new ones too) when absent. */
  types?: readonly string[] | null;
  interval: Interval;
  /** How many buckets, up to the current one, the first message holds. */
  buckets: number;
}

export interface LiveCountsMessage {
  /** Every event up to this stream sequence is counted in what the subscriber has received. */
  position: number;
  /** The first message (and the first after a rebuild switched generations): the whole state. */
  isSnapshot: boolean;
  interval: Interval;
  totals: Array<Omit<Total, 'seq'>>;
  buckets: Array<{ type: string; start: number; count: number }>;
}

export interface LiveCountsSubscription {
  /** The next message, waiting for one; undefined once closed. */
  next(): Promise<LiveCountsMessage | undefined>;
  close(): void;
}

export interface LiveCounts {
  open(query: LiveCountsQuery): LiveCountsSubscription;
  close(): Promise<void>;
}

export interface LiveCountsOptions {
  reader: ReadModelReader;
  /** Longest wait for the position that makes a first message consistent. */
  snapshotTimeoutMs: number;
  log: Logger;
}

type Total = Omit<TypeStats, 'lastSeenAt'> & { lastSeenAt: string | null };
type Change = { kind: 'total'; value: Total } | { kind: 'bucket'; value: CountBucket };

interface Listener {
  offer(key: string, change: Change): void;
  commit(position: number): void;
}

interface SharedWatch {
  generation: number;
  listeners: Set<Listener>;
  ready: Promise<KvWatch>;
}

export function createLiveCounts(options: LiveCountsOptions): LiveCounts {
  const { reader, log } = options;
  const watches = new Map<number, SharedWatch>();

  function join(listener: Listener): SharedWatch {
    const { generation, kv } = reader.live();
    let shared = watches.get(generation);
    if (!shared) {
      const listeners = new Set<Listener>();
      const ready = watchKv(kv, { key: 's.>' }, (entry) => {
        const data = liveValue(entry);
        if (!data) return;
        if (entry.key === POSITION_KEY) {
          const { seq } = json.decode<Position>(data);
          for (const each of listeners) each.commit(seq);
        } else if (entry.key.startsWith('s.t.')) {
          const change: Change = { kind: 'total', value: json.decode<TypeStats>(data) };
          for (const each of listeners) each.offer(entry.key, change);
        } else if (entry.key.startsWith('s.c.')) {
          const change: Change = { kind: 'bucket', value: json.decode<CountBucket>(data) };
          for (const each of listeners) each.offer(entry.key, change);
        }
      });
      shared = { generation, listeners, ready };
      watches.set(generation, shared);
      ready.catch((err: unknown) => {
        log.warn({ err, generation }, 'could not watch the live read model');
        watches.delete(generation);
      });
    }
    shared.listeners.add(listener);
    return shared;
  }

  function leave(shared: SharedWatch, listener: Listener): void {
    shared.listeners.delete(listener);
    if (shared.listeners.size > 0) return;
    watches.delete(shared.generation);
    void shared.ready.then((watch) => watch.stop()).catch(() => undefined);
  }

  function open(query: LiveCountsQuery): LiveCountsSubscription {
    const size = intervalMs(query.interval);
    const windowStart = bucketStart(Date.now(), query.interval) - (query.buckets - 1) * size;
    const followed = query.types ? new Set(query.types) : undefined;
    const pending = new Map<string, Change>();
    const sent = new Map<string, number>();
    let committed = 0;
    let isLive = false;
    let snapshot: LiveCountsMessage | undefined;
    let closed = false;
    let shared: SharedWatch | undefined;
    const wakers = new Set<() => void>();
    const poke = () => {
      const woken = [...wakers];
      wakers.clear();
      for (const wake of woken) wake();
    };

    const listener: Listener = {
      offer(key, change) {
        const { type } = change.value;
        if (followed && !followed.has(type)) return;
        if (change.kind === 'bucket') {
          if (change.value.interval !== query.interval || change.value.start < windowStart) return;
        }
        const seq = change.value.seq;
        if (seq <= (sent.get(key) ?? 0) || seq <= ((pending.get(key)?.value.seq as number) ?? 0)) return;
        pending.set(key, change);
      },
      commit(position) {
        committed = Math.max(committed, position);
        poke();
      },
    };

    const toMessage = (position: number, isSnapshot: boolean, changes: Iterable<Change>): LiveCountsMessage => {
      const message: LiveCountsMessage = { position, isSnapshot, interval: query.interval, totals: [], buckets: [] };
      for (const change of changes) {
        if (change.kind === 'total') {
          const { type, count, uniqueUsers, lastSeenAt } = change.value;
          message.totals.push({ type, count, uniqueUsers, lastSeenAt });
        } else {
          const { type, start, count } = change.value;
          message.buckets.push({ type, start, count });
        }
      }
      const byType = (a: { type: string }, b: { type: string }) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0);
      message.totals.sort(byType);
      message.buckets.sort((a, b) => byType(a, b) || a.start - b.start);
      return message;
    };

    const waitFor = (isDone: () => boolean, timeoutMs: number) =>
      new Promise<void>((resolve) => {
        const deadline = Date.now() + timeoutMs;
        const check = () => {
          if (closed || isDone() || Date.now() >= deadline) {
            clearTimeout(timer);
            resolve();
          } else wakers.add(check);
        };
        const timer = setTimeout(check, timeoutMs);
        check();
      });

    /** Reads the window as it is now, and ties it to a position the watch has seen committed. */
    async function takeSnapshot(): Promise<void> {
      isLive = false;
      pending.clear();
      sent.clear();
      committed = 0;
      if (shared) leave(shared, listener);
      shared = join(listener);
      await shared.ready;
      const view = reader.view();
      const [position, index] = (await view.read([POSITION_KEY, TYPE_INDEX_KEY])) as [
        Position | undefined,
        TypeIndex | undefined,
      ];
      const types = query.types ? [...new Set(query.types)] : (index?.types ?? []);
      const starts: number[] = [];
      for (let start = windowStart; start <= bucketStart(Date.now(), query.interval); start += size) starts.push(start);
      const keys: string[] = [];
      const zeros: Change[] = [];
      for (const type of types) {
        keys.push(typeStatsKeyOf(type));
        zeros.push({ kind: 'total', value: { type, count: 0, uniqueUsers: 0, lastSeenAt: null, seq: 0 } });
        for (const start of starts) {
          keys.push(countKeyOf(query.interval, type, start));
          zeros.push({ kind: 'bucket', value: { type, interval: query.interval, start, count: 0, seq: 0 } });
        }
      }
      const values = await view.read(keys);
      const state = new Map<string, Change>();
      let newest = position?.seq ?? 0;
      keys.forEach((key, i) => {
        const value = values[i] as (Total & CountBucket) | undefined;
        state.set(key, value ? ({ kind: zeros[i].kind, value } as Change) : zeros[i]);
        newest = Math.max(newest, value?.seq ?? 0);
      });
      // A value newer than the position read belongs to a batch whose commit is on its way.
      const read = position?.seq ?? 0;
      await waitFor(() => Math.max(read, committed) >= newest, options.snapshotTimeoutMs);
      const at = Math.max(read, committed);
      for (const [key, change] of pending) {
        if (change.value.seq > at) continue;
        if (change.value.seq > (state.get(key)?.value.seq ?? 0)) state.set(key, change);
        pending.delete(key);
      }
      for (const [key, change] of state) sent.set(key, change.value.seq);
      snapshot = toMessage(at, true, state.values());
      isLive = true;
      poke();
    }

    const start = () =>
      takeSnapshot().catch((err: unknown) => {
        log.warn({ err }, 'live counts: could not read the current state');
        close();
      });
    let starting = start();
    const stopSwitch = reader.onSwitch(() => {
      snapshot = undefined;
      starting = starting.then(start);
    });

    function close() {
      if (closed) return;
      closed = true;
      stopSwitch();
      if (shared) leave(shared, listener);
      poke();
    }

    return {
      async next() {
        for (;;) {
          if (closed) return undefined;
          if (snapshot) {
            const message = snapshot;
            snapshot = undefined;
            return message;
          }
          if (isLive) {
            const ready = [...pending].filter(([, change]) => change.value.seq <= committed);
            if (ready.length > 0) {
              for (const [key, change] of ready) {
                pending.delete(key);
                sent.set(key, change.value.seq);
              }
              return toMessage(
                committed,
                false,
                ready.map(([, change]) => change),
              );
            }
          }
          await new Promise<void>((resolve) => wakers.add(resolve));
        }
      },
      close,
    };
  }

  return {
    open,
    async close() {
      const all = [...watches.values()];
      watches.clear();
      await Promise.all(all.map((shared) => shared.ready.then((watch) => watch.stop()).catch(() => undefined)));
    },
  };
}
