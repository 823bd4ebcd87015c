import type { TypeStats } from '../projections/index.js';
import { INTERVALS } from '../projections/index.js';
import { builder } from './builder.js';

export const IntervalEnum = builder.enumType('Interval', {
  description: 'A time bucket: buckets start on UTC boundaries of the interval.',
  values: INTERVALS,
});

export const TypeCountRef = builder.objectRef<{ type: string; count: number }>('TypeCount').implement({
  fields: (t) => ({
    type: t.exposeString('type'),
    count: t.field({ type: 'SafeInt', resolve: (entry) => entry.count }),
  }),
});

export const EventTypeStatsRef = builder
  .objectRef<Pick<TypeStats, 'type' | 'count' | 'uniqueUsers'> & { lastSeenAt: string | null }>('EventTypeStats')
  .implement({
    fields: (t) => ({
      type: t.exposeString('type'),
      count: t.field({ type: 'SafeInt', resolve: (stats) => stats.count }),
      uniqueUsers: t.field({
        type: 'SafeInt',
        description: 'Distinct profiles (userId, else anonymousId) that sent this type; estimated, within 2 %.',
        resolve: (stats) => stats.uniqueUsers,
      }),
      lastSeenAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'The latest occurredAt of this type.',
        resolve: (stats) => stats.lastSeenAt,
      }),
    }),
  });
