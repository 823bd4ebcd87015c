import { Repeater } from 'graphql-yoga';
import { encodeCursor } from '../events/index.js';
import { InvalidQueryInput, type LiveCountsMessage } from '../projections/index.js';
import { builder } from './builder.js';
import { reading } from './loaders.js';
import { EventTypeStatsRef, IntervalEnum } from './read-model-types.js';

const LiveCountBucketRef = builder.objectRef<LiveCountsMessage['buckets'][number]>('LiveCountBucket').implement({
  fields: (t) => ({
    type: t.exposeString('type'),
    start: t.field({ type: 'DateTime', resolve: (b) => new Date(b.start) }),
    count: t.field({ type: 'SafeInt', resolve: (b) => b.count }),
  }),
});

const LiveCountsRef = builder.objectRef<LiveCountsMessage>('LiveCounts').implement({
  description:
    'A state of the counts: the first message holds the whole window; each later one the totals and buckets ' +
    'that changed, every one at its latest value.',
  fields: (t) => ({
    position: t.field({
      type: 'SafeInt',
      description: 'Every event up to this stream sequence is counted in what was received so far.',
      resolve: (m) => m.position,
    }),
    cursor: t.string({
      nullable: true,
      description: 'The cursor of that event (null before the first).',
      resolve: (m) => (m.position > 0 ? encodeCursor(m.position) : null),
    }),
    snapshot: t.exposeBoolean('isSnapshot', {
      description: 'The whole state (the first message, and again after a rebuild switched the read models).',
    }),
    interval: t.field({ type: IntervalEnum, resolve: (m) => m.interval }),
    totals: t.field({ type: [EventTypeStatsRef], description: 'Type totals, by type.', resolve: (m) => m.totals }),
    buckets: t.field({ type: [LiveCountBucketRef], description: 'By type, oldest first.', resolve: (m) => m.buckets }),
  }),
});

builder.subscriptionField('liveCounts', (t) =>
  t.field({
    type: LiveCountsRef,
    description:
      'Type totals and time buckets as the projector writes them: first the current state of the last `buckets` ' +
      'buckets, tied to a projector position, then every change, with no gap and no duplicate. A slow client ' +
      'gets the latest value of each bucket, not a backlog.',
    args: {
      types: t.arg.stringList({ description: 'Types to follow; every type (new ones too) when omitted.' }),
      interval: t.arg({ type: IntervalEnum, required: true }),
      buckets: t.arg.int({ description: 'Buckets in the first message, up to the current one. Default 60.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const { readModels, limits } = await reading(ctx);
      const buckets = args.buckets ?? 60;
      const series = Math.max(1, args.types?.length ?? 1);
      if (buckets < 1 || buckets * series > limits.maxCountBuckets) {
        throw new InvalidQueryInput(`buckets: must be from 1 to ${Math.floor(limits.maxCountBuckets / series)}`);
      }
      const subscription = readModels.liveCounts.open({ types: args.types, interval: args.interval, buckets });
      return new Repeater<LiveCountsMessage>(async (push, stop) => {
        void stop.then(() => subscription.close());
        for (;;) {
          const message = await subscription.next();
          if (!message) break;
          // Resolves once the message is taken: changes meanwhile merge into the next one.
          await push(message);
        }
        stop();
      });
    },
    resolve: (message) => message,
  }),
);
