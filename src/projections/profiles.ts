// User profiles, keyed by the event's profile key (userId, else anonymousId): `u.<id token>`.
import { profileKey, type StoredEvent } from '../events/index.js';
import { kvToken } from './kv-token.js';
import {
  type ApplyContext,
  EntryList,
  earlier,
  encodeWithEntries,
  json,
  later,
  type ReadModel,
  type RecentEntry,
} from './read-model.js';

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

/** A profile as the projector holds it: its recent events as one run of bytes. */
type ProfileState = Omit<Profile, 'recent'> & { recent: EntryList };

/** The stored JSON (a Profile), with the recent entries' bytes copied rather than encoded again. */
function encodeProfile(profile: ProfileState): Uint8Array {
  const { id, firstSeenAt, lastSeenAt, eventCount, countsByType, revenue, recent, seq } = profile;
  const head = JSON.stringify({ id, firstSeenAt, lastSeenAt, eventCount, countsByType, revenue });
  return encodeWithEntries(`${head.slice(0, -1)},"recent":`, recent, `,"seq":${JSON.stringify(seq)}}`);
}

function decodeProfile(data: Uint8Array): ProfileState {
  const profile = json.decode<Profile>(data);
  return { ...profile, recent: EntryList.of(profile.recent) };
}

export function profilesModel(options: { recentEvents: number }): ReadModel<ProfileState> {
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
        recent: EntryList.prepend(newest, current?.recent, options.recentEvents),
        seq: ctx.seq,
      };
    },
    seqOf: (value) => value.seq,
    encode: encodeProfile,
    decode: decodeProfile,
  };
}
