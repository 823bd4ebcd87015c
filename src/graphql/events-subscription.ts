import { GraphQLError } from 'graphql';
import { builder } from './builder.js';
import { EventRef } from './event.js';
import { EventFilterInput } from './event-filter.js';

builder.subscriptionField('events', (t) =>
  t.field({
    type: EventRef,
    description:
      'Events as they are stored, in stream order. With no position: new events only. With `after`: ' +
      'every matching event after that cursor, then live. With `since`: every matching event received at ' +
      'or after that time, then live. The switch from replay to live has no gap and no duplicate.',
    args: {
      filter: t.arg({ type: EventFilterInput }),
      after: t.arg.string({ description: 'A cursor: start right after that event.' }),
      since: t.arg({ type: 'DateTime', description: 'Start with the events received at or after this time.' }),
    },
    subscribe: (_root, args, ctx) => {
      if (!ctx.live) throw new GraphQLError('live subscriptions are not served here');
      return ctx.live.open({
        filter: args.filter && {
          types: args.filter.types,
          userId: idText(args.filter.userId),
          anonymousId: idText(args.filter.anonymousId),
        },
        after: args.after,
        since: args.since,
        resumeAfter: ctx.resumeAfter,
        connection: ctx.liveConnection,
      });
    },
    // The payload of each event is the event itself.
    resolve: (event) => event,
  }),
);

const idText = (value: string | number | null | undefined) => (value == null ? value : String(value));
