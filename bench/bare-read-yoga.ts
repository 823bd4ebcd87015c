// The baseline server for read-model queries: graphql-yoga on node:http with the same User type,
// whose resolvers read the profile keys from the read-model bucket themselves (one KV get per
// user, all of a request's at once). No DataLoader, no generation pointer, no read-your-writes.
// Env: NATS_URL, BENCH_BUCKET. Prints its port on stdout.
import '../src/production-mode.js';
import { createServer } from 'node:http';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { DateTimeResolver, JSONResolver, SafeIntResolver } from 'graphql-scalars';
import { createSchema, createYoga } from 'graphql-yoga';
import { kvToken } from '../src/projections/index.js';

const typeDefs = /* GraphQL */ `
  scalar DateTime
  scalar JSON
  scalar SafeInt
  type Event {
    id: ID!
    type: String!
    userId: ID
    anonymousId: ID
    properties: JSON!
    occurredAt: DateTime!
    receivedAt: DateTime!
  }
  type TypeCount {
    type: String!
    count: SafeInt!
  }
  type User {
    id: ID!
    firstSeenAt: DateTime!
    lastSeenAt: DateTime!
    eventCount: SafeInt!
    countsByType: [TypeCount!]!
    revenue: Float!
    recentEvents(last: Int): [Event!]!
  }
  type Query {
    user(id: ID!): User
    users(ids: [ID!]!): [User]!
  }
`;

interface Profile {
  id: string;
  countsByType: Array<[string, number]>;
  recent: unknown[];
}

const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
const kv = await new Kvm(nc).open(process.env.BENCH_BUCKET as string);
const decoder = new TextDecoder();

async function profile(id: string): Promise<Profile | null> {
  const entry = await kv.get(`u.${kvToken(id)}`);
  return entry && entry.operation === 'PUT' ? (JSON.parse(decoder.decode(entry.value)) as Profile) : null;
}

const yoga = createYoga({
  schema: createSchema({
    typeDefs,
    resolvers: {
      DateTime: DateTimeResolver,
      JSON: JSONResolver,
      SafeInt: SafeIntResolver,
      Query: {
        user: (_root: unknown, args: { id: string }) => profile(args.id),
        users: (_root: unknown, args: { ids: string[] }) => Promise.all(args.ids.map(profile)),
      },
      User: {
        countsByType: (p: Profile) => p.countsByType.map(([type, count]) => ({ type, count })),
        recentEvents: (p: Profile, args: { last?: number }) => p.recent.slice(0, args.last ?? 20),
      },
    },
  }),
  logging: false,
  landingPage: false,
  graphiql: false,
});

const server = createServer(yoga);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening ${typeof address === 'object' && address ? address.port : 0}`);
});
const stop = () => {
  server.close();
  void nc.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
