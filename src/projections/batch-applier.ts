import type { KV } from '@nats-io/kv';
import type { StoredEvent } from '../events/index.js';
import { isRevisionConflict, liveValue } from '../nats/index.js';
import type { ApplyContext, ReadModel, RecentEntry } from './read-model.js';

/** Two writers touched the same key: the batch must be applied again from fresh values. */
export class BatchConflict extends Error {
  constructor(key: string, options?: { cause?: unknown }) {
    super(`the read-model key ${key} changed while a batch was applied`, options);
    this.name = 'BatchConflict';
  }
}

export interface BatchApplierOptions {
  kv: KV;
  /** Applied in this order: a model may read the values earlier ones wrote in the same batch. */
  models: ReadModel[];
  /** Events larger than this (as JSON) are kept in recent-events lists by their sequence only. */
  maxInlineEventBytes: number;
  /** Bytes of values (as stored) kept in memory between batches, so that keys are not read back before each write. */
  cacheBytes: number;
}

interface Cached {
  value: unknown;
  /** The KV revision the value was read or written at; 0 when the key does not exist. */
  revision: number;
  /** Its size as stored, for the cache's bound. */
  bytes: number;
}

export interface BatchApplier {
  /** Folds the events (oldest first) into every model; resolves once every changed key is written. */
  apply(events: readonly StoredEvent[], seq: number): Promise<{ keysWritten: number }>;
  /** Forgets cached values, e.g. after a conflict or when another projector may have written. */
  reset(): void;
}

/**
 * Applies a batch: groups its events by the keys they change, reads the keys it does not hold in
 * memory (all at once), computes each new value from the events the value does not reflect yet,
 * and writes every changed key once, all at once, each write checked against the revision it was
 * computed from. A conflict means another writer was there: the cache is dropped and the caller
 * applies the batch again, which is exact because each value records the batch it reflects.
 */
export function createBatchApplier(options: BatchApplierOptions): BatchApplier {
  const { kv, models, maxInlineEventBytes, cacheBytes } = options;
  // Least recently used first: a Map iterates in insertion order, and a hit is re-inserted.
  const cache = new Map<string, Cached>();
  let cachedBytes = 0;

  const forget = (key: string) => {
    const entry = cache.get(key);
    if (!entry) return;
    cache.delete(key);
    cachedBytes -= entry.bytes;
  };
  const remember = (key: string, entry: Cached) => {
    forget(key);
    cache.set(key, entry);
    cachedBytes += entry.bytes;
    while (cachedBytes > cacheBytes && cache.size > 0) forget(cache.keys().next().value as string);
  };
  const clear = () => {
    cache.clear();
    cachedBytes = 0;
  };

  /** The batch's keys as they are now: from memory, else read from KV, all at once. */
  async function load(modelOf: Map<string, ReadModel>): Promise<Map<string, Cached>> {
    const loaded = new Map<string, Cached>();
    const missing: string[] = [];
    for (const key of modelOf.keys()) {
      const cached = cache.get(key);
      if (cached) loaded.set(key, cached);
      else missing.push(key);
    }
    await Promise.all(
      missing.map(async (key) => {
        const entry = await kv.get(key);
        const data = liveValue(entry);
        loaded.set(key, {
          value: data ? (modelOf.get(key) as ReadModel).decode(data) : undefined,
          revision: entry?.revision ?? 0,
          bytes: key.length + (data?.length ?? 0),
        });
      }),
    );
    return loaded;
  }

  return {
    reset: clear,
    async apply(events, seq) {
      const groups = models.map(() => new Map<string, StoredEvent[]>());
      const modelOf = new Map<string, ReadModel>();
      for (const event of events) {
        models.forEach((model, index) => {
          for (const key of model.keysOf(event)) {
            const group = groups[index].get(key);
            if (group) group.push(event);
            else {
              groups[index].set(key, [event]);
              modelOf.set(key, model);
            }
          }
        });
      }
      const loaded = await load(modelOf);

      const after = new Map<string, unknown>();
      const entries = new Map<StoredEvent, RecentEntry>();
      const ctx: ApplyContext = {
        seq,
        valueOf: <V>(key: string) => (after.has(key) ? after.get(key) : loaded.get(key)?.value) as V | undefined,
        recentEntry(event) {
          let entry = entries.get(event);
          if (!entry) {
            entry = JSON.stringify(event).length <= maxInlineEventBytes ? event : { seq: event.seq };
            entries.set(event, entry);
          }
          return entry;
        },
      };
      const writes: Array<{ key: string; value: unknown; data: Uint8Array; revision: number }> = [];
      models.forEach((model, index) => {
        for (const [key, keyEvents] of groups[index]) {
          const { value: current, revision } = loaded.get(key) as Cached;
          const since = current === undefined ? 0 : model.seqOf(current);
          // Events this value already reflects (a batch applied again after a crash) are skipped.
          const fresh = since === 0 ? keyEvents : keyEvents.filter((event) => event.seq > since);
          if (fresh.length === 0) continue;
          const next = model.apply(key, current, fresh, ctx);
          if (next === null) continue;
          after.set(key, next);
          writes.push({ key, value: next, data: model.encode(next), revision });
        }
      });

      const outcomes = await Promise.allSettled(
        writes.map(({ key, data, revision }) =>
          revision === 0 ? kv.create(key, data) : kv.update(key, data, revision),
        ),
      );
      for (const [key, entry] of loaded) if (!after.has(key)) remember(key, entry);
      let failure: unknown;
      outcomes.forEach((outcome, index) => {
        const { key, value, data } = writes[index];
        if (outcome.status === 'fulfilled')
          remember(key, { value, revision: outcome.value, bytes: key.length + data.length });
        else {
          forget(key);
          failure ??= isRevisionConflict(outcome.reason)
            ? new BatchConflict(key, { cause: outcome.reason })
            : outcome.reason;
        }
      });
      if (failure) {
        clear();
        throw failure;
      }
      return { keysWritten: writes.length };
    },
  };
}
