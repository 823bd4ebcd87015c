import type { TrackBatchResult, TrackResult } from '../ingest/index.js';
import { builder } from './builder.js';
import { EventRef } from './event.js';

const TrackEventInput = builder.inputType('TrackEventInput', {
  fields: (t) => ({
    id: t.id({ description: 'Idempotency key; a repeat within the duplicate window is stored once.' }),
    type: t.string({ required: true }),
    userId: t.id(),
    anonymousId: t.id({ description: 'At least one of userId / anonymousId.' }),
    properties: t.field({ type: 'JSON', description: 'A JSON object.' }),
    occurredAt: t.field({ type: 'DateTime' }),
  }),
});

const TrackResultRef = builder.objectRef<TrackResult>('TrackResult').implement({
  fields: (t) => ({
    event: t.expose('event', { type: EventRef, description: 'The stored event; for a duplicate, the original.' }),
    duplicate: t.exposeBoolean('duplicate', { description: 'The id was already stored; nothing new was written.' }),
  }),
});

const TrackBatchResultRef = builder.objectRef<TrackBatchResult>('TrackBatchResult').implement({
  fields: (t) => ({
    results: t.expose('results', { type: [TrackResultRef], description: 'One per input event, in order.' }),
    accepted: t.exposeInt('accepted', { description: 'Events newly stored.' }),
    duplicates: t.exposeInt('duplicates', { description: 'Events whose id was already stored.' }),
  }),
});

const sentAtDescription =
  "The client's clock when it sent the request; occurredAt is then corrected for the client's clock skew: " +
  'occurredAt = receivedAt - (sentAt - occurredAt as sent).';

builder.mutationField('track', (t) =>
  t.field({
    type: TrackResultRef,
    description: 'Stores one event durably; answers once JetStream acknowledged it.',
    args: {
      event: t.arg({ type: TrackEventInput, required: true }),
      sentAt: t.arg({ type: 'DateTime', description: sentAtDescription }),
    },
    resolve: (_root, args, ctx) => ctx.tracker.track(args.event, { sentAt: args.sentAt }),
  }),
);

builder.mutationField('trackBatch', (t) =>
  t.field({
    type: TrackBatchResultRef,
    description: 'Stores many events; the batch is validated whole, so one invalid item rejects all.',
    args: {
      events: t.arg({ type: [TrackEventInput], required: true }),
      sentAt: t.arg({ type: 'DateTime', description: sentAtDescription }),
    },
    resolve: (_root, args, ctx) => ctx.tracker.trackBatch(args.events, { sentAt: args.sentAt }),
  }),
);
