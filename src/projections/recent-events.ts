// The newest events of the whole stream (`r.all`) and of each type (`r.t.<type token>`), newest
// first, so that recentEvents never reads the stream itself. A user's own list is in the profile.
import { kvToken } from './kv-token.js';
import { json, type ReadModel, type RecentEntry } from './read-model.js';

export interface RecentList {
  entries: RecentEntry[];
  seq: number;
}

export const RECENT_ALL_KEY = 'r.all';

export function recentTypeKeyOf(type: string): string {
  return `r.t.${kvToken(type)}`;
}

export function recentEventsModel(options: { recentEvents: number }): ReadModel<RecentList> {
  return {
    name: 'recentEvents',
    keysOf: (event) => [RECENT_ALL_KEY, recentTypeKeyOf(event.type)],
    apply(_key, current, events, ctx) {
      const newest = events.slice(-options.recentEvents).reverse().map(ctx.recentEntry);
      return { entries: [...newest, ...(current?.entries ?? [])].slice(0, options.recentEvents), seq: ctx.seq };
    },
    seqOf: (value) => value.seq,
    encode: json.encode,
    decode: json.decode<RecentList>,
  };
}
