// The newest events of the whole stream (`r.all`) and of each type (`r.t.<type token>`), newest
// first, so that recentEvents never reads the stream itself. A user's own list is in the profile.
import { kvToken } from './kv-token.js';
import { EntryList, encodeWithEntries, json, type ReadModel, type RecentEntry } from './read-model.js';

export interface RecentList {
  entries: RecentEntry[];
  seq: number;
}

export const RECENT_ALL_KEY = 'r.all';

export function recentTypeKeyOf(type: string): string {
  return `r.t.${kvToken(type)}`;
}

/** A list as the projector holds it: its entries as one run of bytes. */
interface RecentListState {
  entries: EntryList;
  seq: number;
}

export function recentEventsModel(options: { recentEvents: number }): ReadModel<RecentListState> {
  return {
    name: 'recentEvents',
    keysOf: (event) => [RECENT_ALL_KEY, recentTypeKeyOf(event.type)],
    apply(_key, current, events, ctx) {
      const newest = events.slice(-options.recentEvents).reverse().map(ctx.recentEntry);
      return { entries: EntryList.prepend(newest, current?.entries, options.recentEvents), seq: ctx.seq };
    },
    seqOf: (value) => value.seq,
    // The stored JSON (a RecentList), with the entries' bytes copied rather than encoded again.
    encode: (value) => encodeWithEntries('{"entries":', value.entries, `,"seq":${JSON.stringify(value.seq)}}`),
    decode(data) {
      const list = json.decode<RecentList>(data);
      return { entries: EntryList.of(list.entries), seq: list.seq };
    },
  };
}
