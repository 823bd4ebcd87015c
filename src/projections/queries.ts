// The answers to the read-model queries, built from single-key reads through a loader that
// batches and de-duplicates them per request (GraphQL's DataLoaders). Nothing here reads the stream
// but events that recent-events lists keep by sequence, one direct get each.
import type { StoredEvent } from '../events/index.js';
import { InvalidQueryInput } from './errors.js';
import type { CountBucket } from './event-counts.js';
import { countKeyOf } from './event-counts.js';
import { TYPE_INDEX_KEY, type TypeIndex, type TypeStats, typeStatsKeyOf } from './event-types.js';
import { bucketCount, bucketStarts, type Interval } from './intervals.js';
import { type Profile, profileKeyOf } from './profiles.js';
import { isInline, type RecentEntry } from './read-model.js';
import { RECENT_ALL_KEY, type RecentList, recentTypeKeyOf } from './recent-events.js';

/** How queries read: one key or one event at a time, batched behind the scenes. */
export interface ReadLoader {
  value<V>(key: string): Promise<V | undefined>;
  event(seq: number): Promise<StoredEvent | null>;
}

export interface QueryLimits {
  /** Events each recent-events list keeps (the most `last` may ask for). */
  recentEvents: number;
  /** Most buckets one eventCounts query may return, over all its series. */
  maxCountBuckets: number;
  /** Most ids one users query may name. */
  maxUsers: number;
}

export interface EventFilter {
  types?: readonly string[] | null;
  userId?: string | null;
  anonymousId?: string | null;
}

export const DEFAULT_LAST = 20;

export function user(loader: ReadLoader, id: string): Promise<Profile | undefined> {
  return loader.value<Profile>(profileKeyOf(id));
}

export function users(loader: ReadLoader, ids: readonly string[], limits: QueryLimits) {
  if (ids.length > limits.maxUsers) {
    throw new InvalidQueryInput(`ids: at most ${limits.maxUsers} ids per query (got ${ids.length})`);
  }
  return Promise.all(ids.map((id) => user(loader, id)));
}

/** A profile's counts by type, most frequent first. */
export function countsByType(profile: Profile): Array<{ type: string; count: number }> {
  return profile.countsByType
    .map(([type, count]) => ({ type, count }))
    .sort((a, b) => b.count - a.count || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export async function eventTypes(loader: ReadLoader): Promise<TypeStats[]> {
  const index = await loader.value<TypeIndex>(TYPE_INDEX_KEY);
  const stats = await Promise.all((index?.types ?? []).map((type) => loader.value<TypeStats>(typeStatsKeyOf(type))));
  return stats
    .filter((entry): entry is TypeStats => entry !== undefined)
    .sort((a, b) => b.count - a.count || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

export interface EventCountsArgs {
  types?: readonly string[] | null;
  from: Date;
  to?: Date | null;
  interval: Interval;
}

export async function eventCounts(loader: ReadLoader, args: EventCountsArgs, limits: QueryLimits, nowMs = Date.now()) {
  const fromMs = args.from.getTime();
  const toMs = args.to ? args.to.getTime() : nowMs;
  if (toMs <= fromMs) throw new InvalidQueryInput('to: must be after from');
  const perSeries = bucketCount(fromMs, toMs, args.interval);
  const types = args.types ? [...new Set(args.types)] : ((await loader.value<TypeIndex>(TYPE_INDEX_KEY))?.types ?? []);
  if (perSeries * Math.max(1, types.length) > limits.maxCountBuckets) {
    throw new InvalidQueryInput(
      `from, to, interval, types: the query asks for ${perSeries} ${args.interval} buckets for each of ${types.length} types; ` +
        `at most ${limits.maxCountBuckets} buckets in all (narrow the range, use a longer interval or fewer types)`,
    );
  }
  const starts = bucketStarts(fromMs, toMs, args.interval);
  return Promise.all(
    types.map(async (type) => ({
      type,
      buckets: await Promise.all(
        starts.map(async (start) => ({
          start: new Date(start),
          count: (await loader.value<CountBucket>(countKeyOf(args.interval, type, start)))?.count ?? 0,
        })),
      ),
    })),
  );
}

export function checkLast(last: number | null | undefined, limits: QueryLimits): number {
  const value = last ?? Math.min(DEFAULT_LAST, limits.recentEvents);
  if (!Number.isInteger(value) || value < 1 || value > limits.recentEvents) {
    throw new InvalidQueryInput(`last: must be from 1 to ${limits.recentEvents}`);
  }
  return value;
}

async function resolveEntries(loader: ReadLoader, entries: readonly RecentEntry[]): Promise<StoredEvent[]> {
  const events = await Promise.all(entries.map((entry) => (isInline(entry) ? entry : loader.event(entry.seq))));
  return events.filter((event): event is StoredEvent => event !== null);
}

/** A profile's newest events, newest first. */
export async function profileEvents(
  loader: ReadLoader,
  profile: Profile,
  last: number | null | undefined,
  limits: QueryLimits,
) {
  return resolveEntries(loader, profile.recent.slice(0, checkLast(last, limits)));
}

/**
 * The newest events that match the filter, newest first (in the order the stream received them).
 * A user filter reads that profile's list (keyed by userId, else anonymousId), type filters the
 * types' lists, no filter the list of the whole stream; each list holds the newest events only.
 */
export async function recentEvents(
  loader: ReadLoader,
  filter: EventFilter | null | undefined,
  last: number | null | undefined,
  limits: QueryLimits,
): Promise<StoredEvent[]> {
  const count = checkLast(last, limits);
  const types = filter?.types && filter.types.length > 0 ? new Set(filter.types) : undefined;
  const person = filter?.userId ?? filter?.anonymousId ?? undefined;
  let entries: RecentEntry[];
  if (person !== undefined) {
    entries = (await user(loader, person))?.recent ?? [];
  } else if (types) {
    const lists = await Promise.all([...types].map((type) => loader.value<RecentList>(recentTypeKeyOf(type))));
    entries = lists.flatMap((list) => list?.entries ?? []).sort((a, b) => b.seq - a.seq);
  } else {
    entries = (await loader.value<RecentList>(RECENT_ALL_KEY))?.entries ?? [];
  }
  if (person === undefined) return resolveEntries(loader, entries.slice(0, count));
  const events = await resolveEntries(loader, entries);
  return events
    .filter(
      (event) =>
        (!types || types.has(event.type)) &&
        (filter?.userId == null || event.userId === filter.userId) &&
        (filter?.anonymousId == null || event.anonymousId === filter.anonymousId),
    )
    .slice(0, count);
}
