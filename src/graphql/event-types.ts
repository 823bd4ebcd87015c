import { queries } from '../projections/index.js';
import { builder } from './builder.js';
import { minCursorDescription, reading } from './loaders.js';
import { EventTypeStatsRef } from './read-model-types.js';

builder.queryField('eventTypes', (t) =>
  t.field({
    type: [EventTypeStatsRef],
    description: 'Every event type seen, most frequent first.',
    args: { minCursor: t.arg.string({ description: minCursorDescription }) },
    resolve: async (_root, args, ctx) => queries.eventTypes((await reading(ctx, args.minCursor)).loader),
  }),
);
