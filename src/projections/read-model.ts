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
  /** The event as a recent-events list stores it, as UTF-8 JSON (made once per batch for every list). */
  recentEntry(event: StoredEvent): Uint8Array;
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

const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;

/**
 * A recent-events list as the projector holds it: the entries' JSON, newest first, joined by
 * commas into one run of bytes. A list is written again with every event that reaches it (a
 * profile keeps its user's last 50), so each entry is encoded once and its bytes copied after
 * that, memory holds one array per list instead of an object per entry, and a list made for a new
 * value is put straight into that value's bytes (which then hold it) rather than copied there.
 */
export class EntryList {
  /** The bytes the entries take, commas included. */
  readonly size: number;
  /** How many entries the list holds. */
  readonly count: number;
  #data: Uint8Array | undefined;
  #ends: number[] | undefined;
  /** Until the list is put into bytes: its newest entries and the older entries they go before. */
  #newest: readonly Uint8Array[] | undefined;
  #older: { list: EntryList; kept: number } | undefined;

  private constructor(size: number, count: number) {
    this.size = size;
    this.count = count;
  }

  /** The newest entries (newest first) in front of the older list, at most max in all. */
  static prepend(newest: readonly Uint8Array[], older: EntryList | undefined, max: number): EntryList {
    const fresh = newest.length > max ? newest.slice(0, max) : newest;
    const kept = Math.min(older?.count ?? 0, max - fresh.length);
    let size = Math.max(0, fresh.length - 1);
    for (const entry of fresh) size += entry.length;
    if (older && kept > 0) size += (fresh.length > 0 ? 1 : 0) + older.ends[kept - 1];
    const list = new EntryList(size, fresh.length + kept);
    list.#newest = fresh;
    list.#older = older && kept > 0 ? { list: older, kept } : undefined;
    return list;
  }

  /** A list read back from its stored JSON. */
  static of(entries: readonly RecentEntry[]): EntryList {
    return EntryList.prepend(
      entries.map((entry) => encoder.encode(JSON.stringify(entry))),
      undefined,
      entries.length,
    );
  }

  get data(): Uint8Array {
    // Not from the shared pool: a list stays in memory, and a pooled slice would keep its whole slab.
    if (!this.#data) this.placeInto(Buffer.allocUnsafeSlow(this.size), 0);
    return this.#data as Uint8Array;
  }

  /** Where each entry ends in data. */
  get ends(): readonly number[] {
    if (!this.#ends) this.placeInto(Buffer.allocUnsafeSlow(this.size), 0);
    return this.#ends as number[];
  }

  /** Writes the entries into target at offset; a list not in bytes yet keeps that part of target as its own. */
  placeInto(target: Uint8Array, offset: number): void {
    if (this.#data) {
      target.set(this.#data, offset);
      return;
    }
    const ends: number[] = [];
    let at = offset;
    for (const entry of this.#newest ?? []) {
      if (at > offset) target[at++] = COMMA;
      target.set(entry, at);
      at += entry.length;
      ends.push(at - offset);
    }
    if (this.#older) {
      const { list, kept } = this.#older;
      const olderEnds = list.ends;
      if (at > offset) target[at++] = COMMA;
      target.set(list.data.subarray(0, olderEnds[kept - 1]), at);
      for (let i = 0; i < kept; i++) ends.push(at - offset + olderEnds[i]);
    }
    this.#data = target.subarray(offset, offset + this.size);
    this.#ends = ends;
    // The older list is not needed any more: it may go once its own value is replaced.
    this.#newest = undefined;
    this.#older = undefined;
  }
}

/** `${before}[entry,…]${after}` as UTF-8: the bytes of JSON.stringify of the value it stands for. */
export function encodeWithEntries(before: string, list: EntryList, after: string): Uint8Array {
  const head = encoder.encode(before);
  const tail = encoder.encode(after);
  // Not from the shared pool either: a list made for this value keeps these bytes as its own.
  const data = Buffer.allocUnsafeSlow(head.length + list.size + 2 + tail.length);
  data.set(head, 0);
  let at = head.length;
  data[at++] = OPEN;
  list.placeInto(data, at);
  at += list.size;
  data[at++] = CLOSE;
  data.set(tail, at);
  return data;
}

/** The later of two ISO-8601 UTC times (they compare as strings). */
export function later(a: string | undefined, b: string): string {
  return a === undefined || b > a ? b : a;
}

export function earlier(a: string | undefined, b: string): string {
  return a === undefined || b < a ? b : a;
}
