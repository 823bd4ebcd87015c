import type { StoredEvent } from '../events/index.js';

/** An event as a recent-events list keeps it: whole, or by its stream sequence when it is large. */
export type RecentEntry = StoredEvent | { seq: number };

export function isInline(entry: RecentEntry): entry is StoredEvent {
  return 'id' in entry;
}

/** What applying one key of a batch may look at besides that key's own value. */
export interface ApplyContext {
  /** The batch's last stream sequence: every value written records it as its `seq`. */
  readonly seq: number;
  /** The value another key holds once this batch is applied (models are applied in order). */
  valueOf<V>(key: string): V | undefined;
  /** The event as a recent-events list stores it (the same object for every list of the batch). */
  recentEntry(event: StoredEvent): RecentEntry;
}

/**
 * One read model: which keys an event changes and how. Every value records the `seq` of the
 * batch that last wrote it, and the projector hands `apply` only the events after that seq, so
 * applying the same events again (a redelivery, a batch retried after a crash) changes nothing.
 */
export interface ReadModel<V = unknown> {
  readonly name: string;
  /** The keys one event changes. */
  keysOf(event: StoredEvent): string[];
  /** The key's value after events (oldest first), or null when it does not change. */
  apply(key: string, current: V | undefined, events: readonly StoredEvent[], ctx: ApplyContext): V | null;
  /** The seq a stored value records (0 for a value that does not track one). */
  seqOf(value: V): number;
  encode(value: V): Uint8Array;
  decode(data: Uint8Array): V;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON values, for every model but the sketches. */
export const json = {
  encode: (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value)),
  decode: <V>(data: Uint8Array): V => JSON.parse(decoder.decode(data)) as V,
};

/** The later of two ISO-8601 UTC times (they compare as strings). */
export function later(a: string | undefined, b: string): string {
  return a === undefined || b > a ? b : a;
}

export function earlier(a: string | undefined, b: string): string {
  return a === undefined || b < a ? b : a;
}
