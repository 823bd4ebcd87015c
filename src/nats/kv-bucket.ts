import { type JetStreamClient, type JetStreamManager, StorageType } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm, KvWatchInclude } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';

/** A KV bucket that Pulse owns. */
export interface KvBucketSpec {
  name: string;
  replicas: number;
  /** How long a key lives after its last write; unset: forever. */
  ttlMs?: number;
  description?: string;
}

/**
 * Creates the bucket (one value per key, file storage), or opens it and brings its TTL up to
 * date. Never deletes or purges data.
 */
export async function provisionKvBucket(js: JetStreamClient, jsm: JetStreamManager, spec: KvBucketSpec): Promise<KV> {
  const kv = await new Kvm(js).create(spec.name, {
    history: 1,
    replicas: spec.replicas,
    storage: StorageType.File,
    ...(spec.ttlMs ? { ttl: spec.ttlMs } : {}),
    ...(spec.description ? { description: spec.description } : {}),
  });
  if (spec.ttlMs) {
    const stream = `KV_${spec.name}`;
    const { config } = await jsm.streams.info(stream);
    if (config.max_age !== nanos(spec.ttlMs)) {
      await jsm.streams.update(stream, { ...config, max_age: nanos(spec.ttlMs) });
    }
  }
  return kv;
}

/** Opens a bucket that exists, without asking the server. */
export function openKvBucket(js: JetStreamClient, name: string): Promise<KV> {
  return new Kvm(js).open(name);
}

/** Deletes a bucket and every value in it; a bucket that is not there is fine. */
export async function deleteKvBucket(jsm: JetStreamManager, name: string): Promise<void> {
  try {
    await jsm.streams.delete(`KV_${name}`);
  } catch (err) {
    if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
  }
}

/** Whether a bucket exists. */
export async function hasKvBucket(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    await jsm.streams.info(`KV_${name}`);
    return true;
  } catch (err) {
    if (err instanceof Error && /not found/i.test(err.message)) return false;
    throw err;
  }
}

/** The entry's value, or undefined for a key that is absent or deleted. */
export function liveValue(entry: KvEntry | null): Uint8Array | undefined {
  return entry && entry.operation === 'PUT' ? entry.value : undefined;
}

/** Whether err is a KV write refused because the key changed since the revision it named. */
export function isRevisionConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
}

export interface KvWatch {
  /** Stops the watch and deletes its consumer. */
  stop(): Promise<void>;
}

export interface KvWatchSpec {
  /** A key or wildcard (`s.>`), one filter only: nats-server 2.9 consumers take one. */
  key: string;
  /** Also deliver each matching key's current value first. Default false: changes only. */
  withCurrent?: boolean;
}

/**
 * Calls onEntry for each change of the matching keys, in the order they were written. A watch is
 * an ordered consumer, which nats.js does not delete when it stops (the server would keep it for
 * minutes); stop() deletes it.
 */
export async function watchKv(kv: KV, spec: KvWatchSpec, onEntry: (entry: KvEntry) => void): Promise<KvWatch> {
  const iterator = await kv.watch({
    key: spec.key,
    include: spec.withCurrent ? KvWatchInclude.LastValue : KvWatchInclude.UpdatesOnly,
  });
  const done = (async () => {
    for await (const entry of iterator) onEntry(entry);
  })().catch(() => {
    // A watch ends when its connection closes; the owner stops it or learns of it from NATS.
  });
  // nats.js keeps the watch's consumer on the iterator's `_data`, its only handle on it.
  const consumer = (iterator as { _data?: { delete?: () => Promise<unknown> } })._data;
  return {
    async stop() {
      iterator.stop();
      await done;
      await consumer?.delete?.().catch(() => undefined);
    },
  };
}
