import { queries } from '../projections/index.js';
import { builder } from './builder.js';
import { minCursorDescription, reading } from './loaders.js';
import { IntervalEnum } from './read-model-types.js';

const CountBucketRef = builder.objectRef<{ start: Date; count: number }>('CountBucket').implement({
  fields: (t) => ({
    start: t.field({ type: 'DateTime', description: 'A UTC boundary of the interval.', resolve: (b) => b.start }),
    count: t.field({ type: 'SafeInt', resolve: (b) => b.count }),
  }),
});

const EventCountSeriesRef = builder
  .objectRef<{ type: string; buckets: Array<{ start: Date; count: number }> }>('EventCountSeries')
  .implement({
    fields: (t) => ({
      type: t.exposeString('type'),
      buckets: t.field({
        type: [CountBucketRef],
        description: 'Oldest first, empty ones included.',
        resolve: (s) => s.buckets,
      }),
    }),
  });

builder.queryField('eventCounts', (t) =>
  t.field({
    type: [EventCountSeriesRef],
    description:
      'Events per type per time bucket (by occurredAt) over [from, to): one series per type, in the order of ' +
      'types (every type when omitted). At most PULSE_MAX_COUNT_BUCKETS buckets in all (default 10,000).',
    args: {
      types: t.arg.stringList(),
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', description: 'Exclusive; default now.' }),
      interval: t.arg({ type: IntervalEnum, required: true }),
      minCursor: t.arg.string({ description: minCursorDescription }),
    },
    resolve: async (_root, args, ctx) => {
      const { loader, limits } = await reading(ctx, args.minCursor);
      return queries.eventCounts(loader, args, limits);
    },
  }),
);
