import { type GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.js';
import './event.js';
import './events-subscription.js';
import './track.js';
import './users.js';
import './event-types.js';
import './event-counts.js';
import './recent-events.js';
import './projections.js';
import './read-model-subscription.js';
import './system.js';

/** The whole Pulse schema. Each feature module above registers its own types and fields. */
export const schema: GraphQLSchema = builder.toSchema();

/** The SDL as committed in schema.graphql: sorted, so that it only changes when the schema does. */
export function printPulseSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
