import { queries } from '../projections/index.js';
import { builder } from './builder.js';
import { EventRef } from './event.js';
import { EventFilterInput } from './event-filter.js';
import { minCursorDescription, reading } from './loaders.js';

const idText = (value: string | number | null | undefined) => (value == null ? value : String(value));

builder.queryField('recentEvents', (t) =>
  t.field({
    type: [EventRef],
    description:
      'The newest matching events, newest first, from the read models (never a scan of the stream). With a userId ' +
      "or anonymousId: that profile's list; with types: those types' lists; each list keeps PULSE_RECENT_EVENTS events.",
    args: {
      filter: t.arg({ type: EventFilterInput }),
      last: t.arg.int({ description: 'How many; default 20, at most PULSE_RECENT_EVENTS (default 50).' }),
      minCursor: t.arg.string({ description: minCursorDescription }),
    },
    resolve: async (_root, args, ctx) => {
      const { loader, limits } = await reading(ctx, args.minCursor);
      const filter = args.filter && {
        types: args.filter.types,
        userId: idText(args.filter.userId),
        anonymousId: idText(args.filter.anonymousId),
      };
      return queries.recentEvents(loader, filter, args.last, limits);
    },
  }),
);
