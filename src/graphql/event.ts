import { encodeCursor, type StoredEvent } from '../events/index.js';
import { builder } from './builder.js';

export const EventRef = builder.objectRef<StoredEvent>('Event').implement({
  description: 'One user-interaction event, as stored in the event stream.',
  fields: (t) => ({
    id: t.exposeID('id', { description: "Idempotency key: the client's, or generated (a ULID)." }),
    type: t.exposeString('type'),
    userId: t.exposeID('userId', { nullable: true }),
    anonymousId: t.exposeID('anonymousId', { nullable: true }),
    properties: t.expose('properties', { type: 'JSON', description: 'A JSON object.' }),
    occurredAt: t.expose('occurredAt', {
      type: 'DateTime',
      description: "The client's time (corrected for its clock skew when sentAt was given), or receivedAt.",
    }),
    receivedAt: t.expose('receivedAt', { type: 'DateTime', description: 'Set by the server.' }),
    cursor: t.string({
      description: "Opaque; names this event's place in the stream (use with `after`).",
      resolve: (event) => encodeCursor(event.seq),
    }),
  }),
});

builder.queryField('event', (t) =>
  t.field({
    type: EventRef,
    nullable: true,
    description: 'One event by its cursor; null when the stream no longer holds it.',
    args: { cursor: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => ctx.eventByCursor(args.cursor),
  }),
);
