// The baseline server for `track`: graphql-yoga on node:http as Pulse sets it up, with the same
// input and result types, and a `track` mutation that does no I/O. Prints its port on stdout.
import '../src/production-mode.js';
import { createServer } from 'node:http';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import { createSchema, createYoga } from 'graphql-yoga';

const typeDefs = /* GraphQL */ `
  scalar DateTime
  scalar JSON
  input TrackEventInput {
    id: ID
    type: String!
    userId: ID
    anonymousId: ID
    properties: JSON
    occurredAt: DateTime
  }
  type Event {
    id: ID!
    type: String!
    userId: ID
    anonymousId: ID
    properties: JSON!
    occurredAt: DateTime!
    receivedAt: DateTime!
    cursor: String!
  }
  type TrackResult {
    event: Event!
    duplicate: Boolean!
  }
  type Query {
    ok: Boolean!
  }
  type Mutation {
    track(event: TrackEventInput!, sentAt: DateTime): TrackResult!
  }
`;

interface TrackInput {
  id?: string;
  type: string;
  userId?: string;
  anonymousId?: string;
  properties?: Record<string, unknown>;
  occurredAt?: Date;
}

let seq = 0;
const yoga = createYoga({
  schema: createSchema({
    typeDefs,
    resolvers: {
      DateTime: DateTimeResolver,
      JSON: JSONResolver,
      Query: { ok: () => true },
      Mutation: {
        track: (_root: unknown, args: { event: TrackInput }) => {
          const now = new Date();
          seq++;
          return {
            duplicate: false,
            event: {
              id: args.event.id ?? `bare-${seq}`,
              type: args.event.type,
              userId: args.event.userId ?? null,
              anonymousId: args.event.anonymousId ?? null,
              properties: args.event.properties ?? {},
              occurredAt: args.event.occurredAt ?? now,
              receivedAt: now,
              cursor: `c${seq}`,
            },
          };
        },
      },
    },
  }),
  graphqlEndpoint: '/graphql',
  landingPage: false,
  graphiql: false,
  logging: false,
});

const server = createServer(yoga);
server.keepAliveTimeout = 65_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : ''}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
