import type { StoredEvent } from '../events/index.js';
import { isRevisionConflict } from '../nats/index.js';
import type { KvBatch } from './kv-batch.js';
import type { ApplyContext, ReadModel } from './read-model.js';

/** Two writers touched the same key: the batch must be applied again from fresh values. */
export class BatchConflict extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BatchConflict';
  }
}

export interface BatchApplierOptions {
  /** The generation's bucket: keys missing from memory are read from it, changed keys written to it. */
  bucket: KvBatch;
  /** Applied in this order: a model may read the values earlier ones wrote in the same batch. */
  models: ReadModel[];
  /** Events larger than this (as JSON) are kept in recent-events lists by their sequence only. */
  maxInlineEventBytes: number;
  /** Bytes of values (as stored) kept in memory between batches, so that keys are not read back before each write. */
  cacheBytes: number;
  /** The last stream sequence every value in the bucket reflects (the committed position). */
  position: number;
}

/** A key's value as this projector knows it. */
interface Slot {
  value: unknown;
  /** The KV revision; 0 when the key does not exist; undefined while the write that makes it is in flight. */
  revision: number | undefined;
  /** Its size as stored, for the cache's bound. */
  bytes: number;
}

interface PlannedWrite {
  key: string;
  data: Uint8Array;
  /** The value it was computed from: the write is checked against its revision. */
  base: Slot;
  next: Slot;
}

/** A batch's new values, computed and not yet written. */
export interface BatchPlan {
  readonly events: readonly StoredEvent[];
  readonly seq: number;
  /** The seq of the batch before it (or the position it started from). */
  readonly afterSeq: number;
  /** False when the values it started from changed meanwhile: it is computed again before it is written. */
  readonly isValid: boolean;
  readonly epoch: number;
  readonly writes: readonly PlannedWrite[];
}

export interface BatchApplier {
  /**
   * Computes a batch's new values from the values as they stand once the batch before it (the one
   * whose seq is afterSeq) is written, which may still be in flight. Plans are made in call order.
   */
  plan(events: readonly StoredEvent[], seq: number, afterSeq: number): Promise<BatchPlan>;
  /**
   * Writes a plan's values, each checked against the revision it was computed from; the batch
   * before it must be written. A plan out of date (after a conflict) is computed again first.
   */
  write(plan: BatchPlan): Promise<{ keysWritten: number }>;
}

/**
 * Applies batches in two steps so that the next batch is computed while this one's writes are in
 * flight. plan groups a batch's events by the keys they change, reads the keys it does not hold in
 * memory (all at once), and computes each new value from the events the value does not reflect
 * yet; the new values are in memory at once, for the next plan. write sends every changed key at
 * once, each checked against the revision it was computed from. A conflict means another writer
 * was there: memory is dropped and the batch is applied again, which is exact because each value
 * records the batch it reflects. A plan counts only if it was computed on top of exactly the batch
 * before it: one computed from values that a failed write left out is never written.
 */
export function createBatchApplier(options: BatchApplierOptions): BatchApplier {
  const { bucket, models, maxInlineEventBytes, cacheBytes } = options;
  // Least recently used first: a Map iterates in insertion order, and a hit is re-inserted.
  const cache = new Map<string, Slot>();
  let cachedBytes = 0;
  /** Bumped by every reset: values computed before it are not to be written. */
  let epoch = 0;
  /** The seq of the last batch whose values memory holds (written or in flight). */
  let plannedSeq = options.position;
  /** The seq of the last batch written whole. */
  let writtenSeq = options.position;
  let planning: Promise<unknown> = Promise.resolve();

  const forget = (key: string) => {
    const slot = cache.get(key);
    if (!slot) return;
    cache.delete(key);
    cachedBytes -= slot.bytes;
  };
  const remember = (key: string, slot: Slot) => {
    forget(key);
    cache.set(key, slot);
    cachedBytes += slot.bytes;
  };
  const trim = () => {
    for (const [key, slot] of cache) {
      // A value whose write is in flight stays: the next batch builds on it, and KV does not hold it yet.
      if (cachedBytes <= cacheBytes || slot.revision === undefined) break;
      forget(key);
    }
  };
  const reset = () => {
    cache.clear();
    cachedBytes = 0;
    epoch++;
    // What KV holds: every batch up to the last one written whole, and perhaps part of the next.
    plannedSeq = writtenSeq;
  };

  /** The batch's keys as they are now: from memory, else read from KV, all at once. */
  async function load(modelOf: Map<string, ReadModel>): Promise<Map<string, Slot>> {
    const loaded = new Map<string, Slot>();
    const missing: string[] = [];
    for (const key of modelOf.keys()) {
      const slot = cache.get(key);
      if (slot) loaded.set(key, slot);
      else missing.push(key);
    }
    const reads = await bucket.readAll(missing);
    missing.forEach((key, index) => {
      const { data, revision } = reads[index];
      loaded.set(key, {
        value: data ? (modelOf.get(key) as ReadModel).decode(data) : undefined,
        revision,
        bytes: key.length + (data?.length ?? 0),
      });
    });
    return loaded;
  }

  async function compute(events: readonly StoredEvent[], seq: number, afterSeq: number): Promise<BatchPlan> {
    const startEpoch = epoch;
    const basis = plannedSeq;
    const groups = models.map(() => new Map<string, StoredEvent[]>());
    const modelOf = new Map<string, ReadModel>();
    for (const event of events) {
      for (let index = 0; index < models.length; index++) {
        const model = models[index];
        for (const key of model.keysOf(event)) {
          const group = groups[index].get(key);
          if (group) group.push(event);
          else {
            groups[index].set(key, [event]);
            modelOf.set(key, model);
          }
        }
      }
    }
    const loaded = await load(modelOf);
    // Computed on anything but exactly the batch before, or across a reset: not to be written.
    const isValid = basis === afterSeq && epoch === startEpoch && plannedSeq === basis;
    if (!isValid) return { events, seq, afterSeq, isValid, epoch: startEpoch, writes: [] };

    const after = new Map<string, unknown>();
    const entries = new Map<StoredEvent, Uint8Array>();
    const ctx: ApplyContext = {
      seq,
      valueOf: <V>(key: string) => (after.has(key) ? after.get(key) : loaded.get(key)?.value) as V | undefined,
      recentEntry(event) {
        let entry = entries.get(event);
        if (!entry) {
          const text = JSON.stringify(event);
          // Buffer.from takes small strings from a shared pool: cheaper than TextEncoder's new array each time.
          entry = Buffer.from(text.length <= maxInlineEventBytes ? text : JSON.stringify({ seq: event.seq }));
          entries.set(event, entry);
        }
        return entry;
      },
    };
    const writes: PlannedWrite[] = [];
    for (let index = 0; index < models.length; index++) {
      const model = models[index];
      for (const [key, keyEvents] of groups[index]) {
        const base = loaded.get(key) as Slot;
        const since = base.value === undefined ? 0 : model.seqOf(base.value);
        // Events this value already reflects (a batch applied again after a crash) are skipped.
        const fresh = since === 0 ? keyEvents : keyEvents.filter((event) => event.seq > since);
        if (fresh.length === 0) continue;
        const value = model.apply(key, base.value, fresh, ctx);
        if (value === null) continue;
        after.set(key, value);
        const data = model.encode(value);
        writes.push({ key, data, base, next: { value, revision: undefined, bytes: key.length + data.length } });
      }
    }
    for (const [key, slot] of loaded) if (!after.has(key)) remember(key, slot);
    for (const write of writes) remember(write.key, write.next);
    trim();
    plannedSeq = seq;
    return { events, seq, afterSeq, isValid, epoch: startEpoch, writes };
  }

  function plan(events: readonly StoredEvent[], seq: number, afterSeq: number): Promise<BatchPlan> {
    const planned = planning.then(() => compute(events, seq, afterSeq));
    planning = planned.catch(() => undefined);
    return planned;
  }

  async function write(given: BatchPlan): Promise<{ keysWritten: number }> {
    if (writtenSeq !== given.afterSeq) {
      throw new Error(`batch ${given.seq} is written before the batch ${given.afterSeq} it builds on`);
    }
    let current = given;
    if (!current.isValid || current.epoch !== epoch) {
      current = await plan(given.events, given.seq, given.afterSeq);
      if (!current.isValid)
        throw new BatchConflict(`the values batch ${given.seq} builds on changed while it was computed`);
    }
    const writes = current.writes.map(({ key, data, base }) => {
      if (base.revision === undefined) throw new Error(`the revision of ${key} is not known yet`);
      return { key, data, revision: base.revision };
    });
    const outcomes = await bucket.writeAll(writes);
    let failure: unknown;
    outcomes.forEach((outcome, index) => {
      const { key, next } = current.writes[index];
      if (outcome.ok) next.revision = outcome.revision;
      else
        failure ??= isRevisionConflict(outcome.error)
          ? new BatchConflict(`the read-model key ${key} changed while a batch was applied`, { cause: outcome.error })
          : outcome.error;
    });
    if (failure) {
      reset();
      throw failure;
    }
    writtenSeq = current.seq;
    return { keysWritten: current.writes.length };
  }

  return { plan, write };
}
