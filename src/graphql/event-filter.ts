import { builder } from './builder.js';

/** Which events a subscription or query wants; every field given must match. */
export const EventFilterInput = builder.inputType('EventFilter', {
  description: 'Which events to return; every field given must match.',
  fields: (t) => ({
    types: t.stringList({ description: 'Any of these event types (an empty list: any type).' }),
    userId: t.id(),
    anonymousId: t.id(),
  }),
});
