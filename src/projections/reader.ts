// What API processes read: the live generation's bucket (followed through the `live` pointer, so
// a rebuild's switch reaches every process), its position (followed by a watch, for
// read-your-writes waits without polling), and the stream's end (for lag).
import type { KV } from '@nats-io/kv';
import { decodeCursor, decodeEventOrNull, type StoredEvent } from '../events/index.js';
import type { Logger } from '../log/index.js';
import { type EventSubjects, type KvWatch, liveValue, type StreamReader, watchKv } from '../nats/index.js';
import { ConsistencyTimeout, InvalidQueryInput } from './errors.js';
import { POSITION_KEY, type Position, readPosition, START_POSITION } from './position.js';
import { json } from './read-model.js';
import type { ReadModelStore } from './store.js';

/** The read models of one generation, as one request sees them. */
export interface ReadView {
  readonly generation: number;
  /** JSON values of the keys, read all at once; undefined where a key is absent. */
  read(keys: readonly string[]): Promise<Array<unknown | undefined>>;
}

/** One projection's progress, as the `projections` query shows it. */
export interface ProjectionState {
  name: string;
  generation: number;
  /** Whether queries read this generation (false: a rebuild in progress). */
  isLive: boolean;
  position: number;
  lag: number;
  applied: number;
  deadLetters: number;
  updatedAt: string | null;
}

export interface ReadModelReaderOptions {
  store: ReadModelStore;
  stream: StreamReader;
  subjects: EventSubjects;
  /** Longest read-your-writes wait. */
  consistencyTimeoutMs: number;
  log: Logger;
}

export interface ReadModelReader {
  /** A view of the live generation, for one request. */
  view(): ReadView;
  /** The live generation's bucket and number. */
  live(): { generation: number; kv: KV };
  /** Calls fn whenever the live generation changes; returns a function that stops the calls. */
  onSwitch(fn: (generation: number) => void): () => void;
  /** The live generation's position as last seen. */
  position(): Position;
  /**
   * Resolves once the live read models hold the event the cursor names (true when that took a
   * wait, false when they already did); else fails with CONSISTENCY_TIMEOUT.
   */
  waitFor(minCursor: string): Promise<boolean>;
  status(): Promise<ProjectionState[]>;
  /** Events by stream sequence (recent-events lists keep large events by sequence only). */
  eventsBySeq(seqs: readonly number[]): Promise<Array<StoredEvent | null>>;
  /** KV reads made so far by views, for metrics and tests. */
  reads(): number;
  close(): Promise<void>;
}

interface Waiter {
  seq: number;
  resolve: () => void;
}

interface Live {
  generation: number;
  kv: KV;
  position: Position;
  watch?: KvWatch;
}

export async function openReadModelReader(options: ReadModelReaderOptions): Promise<ReadModelReader> {
  const { store, stream, subjects, log } = options;
  let reads = 0;
  const waiters = new Set<Waiter>();
  const switchListeners = new Set<(generation: number) => void>();
  let streamEnd: { at: number; lastSeq: Promise<number> } | undefined;
  // Assigned once the first generation is followed, below; nothing reads it before.
  let current!: Live;

  const settle = () => {
    for (const waiter of waiters) {
      if (current.position.seq >= waiter.seq) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };

  async function follow(generation: number): Promise<Live> {
    const kv = await store.generation(generation);
    const live: Live = { generation, kv, position: START_POSITION };
    const seen = (position: Position) => {
      if (position.seq < live.position.seq) return;
      live.position = position;
      if (current === live) settle();
    };
    live.watch = await watchKv(kv, { key: POSITION_KEY, withCurrent: true }, (entry) => {
      const value = liveValue(entry);
      if (value) seen(json.decode<Position>(value));
    });
    seen((await readPosition(kv)).position);
    return live;
  }

  current = await follow(await store.ensureLive());
  let switching = Promise.resolve();
  const liveWatch = await store.watchLive((generation) => {
    switching = switching.then(async () => {
      if (generation === current.generation) return;
      try {
        const previous = current;
        current = await follow(generation);
        settle();
        for (const listener of switchListeners) listener(generation);
        log.info({ generation }, 'queries now read the read-model generation');
        await previous.watch?.stop();
      } catch (err) {
        log.error({ err, generation }, 'could not move to the new read-model generation');
      }
    });
  });

  function lastSeq(): Promise<number> {
    // Shared by concurrent callers and reused for 250 ms: lag is a gauge, not a count.
    if (!streamEnd || Date.now() - streamEnd.at > 250) {
      const pending = stream.bounds().then((bounds) => bounds.lastSeq);
      streamEnd = { at: Date.now(), lastSeq: pending };
      pending.catch(() => {
        streamEnd = undefined;
      });
    }
    return streamEnd.lastSeq;
  }

  const stateOf = (generation: number, isLive: boolean, position: Position, end: number): ProjectionState => ({
    name: 'read-models',
    generation,
    isLive,
    position: position.seq,
    lag: Math.max(0, end - position.seq),
    applied: position.applied,
    deadLetters: position.deadLetters,
    updatedAt: position.updatedAt,
  });

  return {
    view() {
      const { generation, kv } = current;
      return {
        generation,
        read(keys) {
          reads += keys.length;
          return Promise.all(
            keys.map(async (key) => {
              const value = liveValue(await kv.get(key));
              return value ? json.decode<unknown>(value) : undefined;
            }),
          );
        },
      };
    },
    live: () => ({ generation: current.generation, kv: current.kv }),
    onSwitch(fn) {
      switchListeners.add(fn);
      return () => switchListeners.delete(fn);
    },
    position: () => current.position,
    waitFor(minCursor) {
      const seq = decodeCursor(minCursor);
      if (seq === undefined) return Promise.reject(new InvalidQueryInput('minCursor: not a cursor'));
      if (current.position.seq >= seq) return Promise.resolve(false);
      const started = Date.now();
      return new Promise<boolean>((resolve, reject) => {
        const waiter: Waiter = {
          seq,
          resolve: () => {
            clearTimeout(timer);
            resolve(true);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new ConsistencyTimeout(
              `the read models did not reach minCursor within ${options.consistencyTimeoutMs} ms; retry later`,
              { minCursor, position: current.position.seq, waitedMs: Date.now() - started },
            ),
          );
        }, options.consistencyTimeoutMs);
        waiters.add(waiter);
      });
    },
    async status() {
      const end = await lastSeq();
      const states = [stateOf(current.generation, true, current.position, end)];
      const building = await store.building();
      if (building && building.generation !== current.generation) {
        // A rebuild may finish (and drop its pointer) at any moment: then there is nothing to show.
        const position = await store
          .open(building.generation)
          .then(readPosition)
          .then((read) => read.position)
          .catch(() => undefined);
        if (position) states.push(stateOf(building.generation, false, position, end));
      }
      return states;
    },
    async eventsBySeq(seqs) {
      return Promise.all(
        seqs.map(async (seq) => {
          const message = await stream.get(seq);
          return message ? decodeEventOrNull(message, subjects.typeOf) : null;
        }),
      );
    },
    reads: () => reads,
    async close() {
      await liveWatch.stop();
      await switching;
      await current.watch?.stop();
      for (const waiter of waiters) waiter.resolve();
      waiters.clear();
    },
  };
}
