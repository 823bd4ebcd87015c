import { type Profile, queries } from '../projections/index.js';
import { builder } from './builder.js';
import { EventRef } from './event.js';
import { minCursorDescription, reading } from './loaders.js';
import { TypeCountRef } from './read-model-types.js';

const lastDescription = 'How many, newest first; default 20, at most PULSE_RECENT_EVENTS (default 50).';

const UserRef = builder.objectRef<Profile>('User').implement({
  description: 'A profile: the events of one userId, or of one anonymousId for events without a userId.',
  fields: (t) => ({
    id: t.exposeID('id'),
    firstSeenAt: t.field({ type: 'DateTime', description: 'The earliest occurredAt.', resolve: (p) => p.firstSeenAt }),
    lastSeenAt: t.field({ type: 'DateTime', description: 'The latest occurredAt.', resolve: (p) => p.lastSeenAt }),
    eventCount: t.field({ type: 'SafeInt', resolve: (p) => p.eventCount }),
    countsByType: t.field({
      type: [TypeCountRef],
      description: 'Most frequent first.',
      resolve: (p) => queries.countsByType(p),
    }),
    revenue: t.exposeFloat('revenue', { description: 'Sum of numeric properties.revenue over the events.' }),
    recentEvents: t.field({
      type: [EventRef],
      description: 'The newest events, newest first (in the order the stream received them).',
      args: { last: t.arg.int({ description: lastDescription }) },
      resolve: async (p, args, ctx) => {
        const { loader, limits } = await reading(ctx);
        return queries.profileEvents(loader, p, args.last, limits);
      },
    }),
  }),
});

builder.queryField('user', (t) =>
  t.field({
    type: UserRef,
    nullable: true,
    description: 'A profile by userId (else anonymousId); null when no event named it.',
    args: { id: t.arg.id({ required: true }), minCursor: t.arg.string({ description: minCursorDescription }) },
    resolve: async (_root, args, ctx) => {
      const { loader } = await reading(ctx, args.minCursor);
      return (await queries.user(loader, String(args.id))) ?? null;
    },
  }),
);

builder.queryField('users', (t) =>
  t.field({
    type: [UserRef],
    nullable: { list: false, items: true },
    description: 'Profiles in the order of ids; null where unknown. At most 1000 ids.',
    args: {
      ids: t.arg.idList({ required: true }),
      minCursor: t.arg.string({ description: minCursorDescription }),
    },
    resolve: async (_root, args, ctx) => {
      const { loader, limits } = await reading(ctx, args.minCursor);
      const profiles = await queries.users(loader, args.ids.map(String), limits);
      return profiles.map((profile) => profile ?? null);
    },
  }),
);
