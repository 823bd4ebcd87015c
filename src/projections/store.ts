// Where the read models live: one KV bucket per generation (`<stream>_RM_G<n>`), a small meta
// bucket whose `live` key names the generation queries read, and a bucket of projector leases.
// A rebuild fills a new generation from the start of the stream and then moves `live` to it.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  deleteKvBucket,
  isRevisionConflict,
  type KvWatch,
  liveValue,
  openKvBucket,
  provisionKvBucket,
  watchKv,
} from '../nats/index.js';
import { json } from './read-model.js';

const LIVE_KEY = 'live';
const BUILDING_KEY = 'building';

export interface GenerationPointer {
  generation: number;
  since: string;
}

export interface ReadModelStoreOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The event stream's name: bucket names start with it. */
  stream: string;
  replicas: number;
  /** How long a projector's lease lasts without renewal. */
  leaseTtlMs: number;
}

export interface ReadModelStore {
  readonly meta: KV;
  readonly leases: KV;
  /** The bucket of one generation, created when missing. */
  generation(generation: number): Promise<KV>;
  /** The bucket of one generation, not created when missing (reads then fail). */
  open(generation: number): Promise<KV>;
  bucketName(generation: number): string;
  /** Deletes a generation's bucket (after a rebuild replaced it). */
  dropGeneration(generation: number): Promise<void>;
  /** The live generation, creating generation 1 when there is none yet. */
  ensureLive(): Promise<number>;
  live(): Promise<{ pointer: GenerationPointer; revision: number } | undefined>;
  /** Moves `live` from the generation at revision to another; false when it moved meanwhile. */
  switchLive(generation: number, revision: number): Promise<boolean>;
  /** Calls onChange with the live generation now and whenever it changes. */
  watchLive(onChange: (generation: number) => void): Promise<KvWatch>;
  building(): Promise<GenerationPointer | undefined>;
  setBuilding(generation: number | undefined): Promise<void>;
}

export async function openReadModelStore(options: ReadModelStoreOptions): Promise<ReadModelStore> {
  const { js, jsm, stream, replicas } = options;
  const meta = await provisionKvBucket(js, jsm, {
    name: `${stream}_RM_META`,
    replicas,
    description: `Pulse read models of ${stream}: which generation is live`,
  });
  const leases = await provisionKvBucket(js, jsm, {
    name: `${stream}_RM_LEASES`,
    replicas,
    ttlMs: options.leaseTtlMs,
    description: `Pulse projector leases of ${stream}`,
  });
  const buckets = new Map<number, Promise<KV>>();
  const bucketName = (generation: number) => `${stream}_RM_G${generation}`;

  async function live() {
    const entry = await meta.get(LIVE_KEY);
    const value = liveValue(entry);
    return value && entry ? { pointer: json.decode<GenerationPointer>(value), revision: entry.revision } : undefined;
  }

  const store: ReadModelStore = {
    meta,
    leases,
    bucketName,
    open: (generation) => buckets.get(generation) ?? openKvBucket(js, bucketName(generation)),
    generation(generation) {
      let bucket = buckets.get(generation);
      if (!bucket) {
        bucket = provisionKvBucket(js, jsm, {
          name: bucketName(generation),
          replicas,
          description: `Pulse read models of ${stream}, generation ${generation}`,
        });
        buckets.set(generation, bucket);
        bucket.catch(() => buckets.delete(generation));
      }
      return bucket;
    },
    async dropGeneration(generation) {
      buckets.delete(generation);
      await deleteKvBucket(jsm, bucketName(generation));
    },
    async ensureLive() {
      for (let attempt = 0; attempt < 5; attempt++) {
        const current = await live();
        if (current) return current.pointer.generation;
        await store.generation(1);
        try {
          await meta.create(LIVE_KEY, json.encode({ generation: 1, since: new Date().toISOString() }));
          return 1;
        } catch (err) {
          // Another process created it first: read theirs.
          if (!isRevisionConflict(err)) throw err;
        }
      }
      throw new Error('could not settle the live read-model generation');
    },
    live,
    async switchLive(generation, revision) {
      try {
        await meta.update(LIVE_KEY, json.encode({ generation, since: new Date().toISOString() }), revision);
        return true;
      } catch (err) {
        if (isRevisionConflict(err)) return false;
        throw err;
      }
    },
    watchLive(onChange) {
      return watchKv(meta, { key: LIVE_KEY, withCurrent: true }, (entry) => {
        const value = liveValue(entry);
        if (value) onChange(json.decode<GenerationPointer>(value).generation);
      });
    },
    async building() {
      const value = liveValue(await meta.get(BUILDING_KEY));
      return value ? json.decode<GenerationPointer>(value) : undefined;
    },
    async setBuilding(generation) {
      if (generation === undefined) await meta.delete(BUILDING_KEY);
      else await meta.put(BUILDING_KEY, json.encode({ generation, since: new Date().toISOString() }));
    },
  };
  return store;
}
