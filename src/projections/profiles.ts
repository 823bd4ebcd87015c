// User profiles, keyed by the event's profile key (userId, else anonymousId): `u.<id token>`.
import { profileKey, type StoredEvent } from '../events/index.js';
import { kvToken } from './kv-token.js';
import { type ApplyContext, earlier, json, later, type ReadModel, type RecentEntry } from './read-model.js';

export interface Profile {
  id: string;
  firstSeenAt: string;
  lastSeenAt: string;
  eventCount: number;
  /** [type, count] pairs: a type may be any string, "__proto__" included, so no plain object. */
  countsByType: Array<[string, number]>;
  /** Sum of numeric properties.revenue. */
  revenue: number;
  /** Newest first, in the order the stream received them. */
  recent: RecentEntry[];
  seq: number;
}

export function profileKeyOf(id: string): string {
  return `u.${kvToken(id)}`;
}

/** The revenue an event carries: its numeric properties.revenue, else 0. */
export function revenueOf(event: StoredEvent): number {
  const revenue = event.properties.revenue;
  return typeof revenue === 'number' && Number.isFinite(revenue) ? revenue : 0;
}

export function profilesModel(options: { recentEvents: number }): ReadModel<Profile> {
  return {
    name: 'profiles',
    keysOf: (event) => [profileKeyOf(profileKey(event))],
    apply(_key, current, events, ctx: ApplyContext) {
      const counts = new Map(current?.countsByType ?? []);
      let { firstSeenAt, lastSeenAt } = current ?? {};
      let eventCount = current?.eventCount ?? 0;
      let revenue = current?.revenue ?? 0;
      for (const event of events) {
        firstSeenAt = earlier(firstSeenAt, event.occurredAt);
        lastSeenAt = later(lastSeenAt, event.occurredAt);
        eventCount++;
        revenue += revenueOf(event);
        counts.set(event.type, (counts.get(event.type) ?? 0) + 1);
      }
      const newest = events.slice(-options.recentEvents).reverse().map(ctx.recentEntry);
      return {
        id: current?.id ?? profileKey(events[0]),
        firstSeenAt: firstSeenAt as string,
        lastSeenAt: lastSeenAt as string,
        eventCount,
        countsByType: [...counts],
        revenue,
        recent: [...newest, ...(current?.recent ?? [])].slice(0, options.recentEvents),
        seq: ctx.seq,
      };
    },
    seqOf: (value) => value.seq,
    encode: json.encode,
    decode: json.decode<Profile>,
  };
}
