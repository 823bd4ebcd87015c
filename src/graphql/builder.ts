import SchemaBuilder from '@pothos/core';
import { DateTimeResolver, JSONResolver, SafeIntResolver } from 'graphql-scalars';
import type { PulseContext } from './context.js';

export const builder = new SchemaBuilder<{
  Context: PulseContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
    SafeInt: { Input: number; Output: number };
  };
}>({ defaultFieldNullability: false });

builder.addScalarType('DateTime', DateTimeResolver, {
  description: 'An ISO-8601 date-time with an offset, e.g. 2024-05-01T12:00:00.000Z.',
});
builder.addScalarType('JSON', JSONResolver, { description: 'Any JSON value.' });
builder.addScalarType('SafeInt', SafeIntResolver, {
  description: 'An integer from -(2^53-1) to 2^53-1: counts that outgrow Int (2^31).',
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
