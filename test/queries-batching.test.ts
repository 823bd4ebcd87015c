import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

// The read service counts its KV reads (pulse_read_model_kv_reads on /metrics): every read-model
// read of a request goes through its DataLoaders, so a query costs one read per distinct key.
describe('DataLoader batching: one KV read per distinct key per request', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let cursor: string;
  const ids = Array.from({ length: 100 }, (_, i) => `user-${i}`);

  const kvReads = async () => {
    const text = await (await fetch(`${pulse.url}/metrics`)).text();
    const match = /^pulse_read_model_kv_reads (\d+)$/m.exec(text);
    assert.ok(match, 'the metric is exported');
    return Number(match[1]);
  };
  const readsOf = async (query: string, variables?: Record<string, unknown>) => {
    const before = await kvReads();
    const res = await gql(pulse.url, query, variables);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    return { reads: (await kvReads()) - before, data: res.data };
  };

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url));
    const events = ids.flatMap((id, i) => [
      { type: 'view', userId: id, occurredAt: '2024-05-01T10:00:00Z' },
      { type: 'view', userId: id, occurredAt: '2024-05-01T11:00:00Z' },
      { type: 'buy', userId: id, occurredAt: '2024-05-01T12:00:00Z', properties: { revenue: i } },
    ]);
    const res = await gql(
      pulse.url,
      'mutation($e: [TrackEventInput!]!) { trackBatch(events: $e) { results { event { cursor } } } }',
      { e: events },
    );
    cursor = res.data?.trackBatch.results.at(-1).event.cursor;
    await gql(pulse.url, 'query($c: String) { projections { lag } user(id: "x", minCursor: $c) { id } }', {
      c: cursor,
    });
  });
  after(async () => {
    await pulse?.close();
    await nats?.destroy();
  });

  test('users(100 ids) with nested fields reads 100 keys, once each', async () => {
    const { reads, data } = await readsOf(
      `query($ids: [ID!]!, $c: String) { users(ids: $ids, minCursor: $c) {
        id eventCount revenue firstSeenAt lastSeenAt countsByType { type count } recentEvents(last: 3) { id type }
      } }`,
      { ids, c: cursor },
    );
    assert.equal(data.users.length, 100);
    assert.deepEqual(data.users[7].countsByType, [
      { type: 'view', count: 2 },
      { type: 'buy', count: 1 },
    ]);
    assert.equal(data.users[7].revenue, 7);
    assert.equal(reads, 100);
  });

  test('repeated ids and aliases of the same user cost one read each distinct key', async () => {
    const twice = await readsOf('query($ids: [ID!]!) { users(ids: $ids) { id eventCount } }', {
      ids: [...ids.slice(0, 50), ...ids.slice(0, 50)],
    });
    assert.equal(twice.data.users.length, 100);
    assert.equal(twice.reads, 50);
    const aliased = await readsOf(
      '{ a: user(id: "user-1") { eventCount } b: user(id: "user-1") { revenue } c: users(ids: ["user-1", "user-2"]) { id } }',
    );
    assert.equal(aliased.data.a.eventCount, 3);
    assert.equal(aliased.reads, 2);
  });

  test('eventCounts and eventTypes read each bucket and type once', async () => {
    const counts = await readsOf(
      `{ eventCounts(types: ["view", "buy", "view"], from: "2024-05-01T10:00:00Z", to: "2024-05-01T13:00:00Z", interval: HOUR) {
        type buckets { count } } }`,
    );
    assert.deepEqual(
      counts.data.eventCounts.map((s: { buckets: Array<{ count: number }> }) => s.buckets.map((b) => b.count)),
      [
        [100, 100, 0],
        [0, 0, 100],
      ],
    );
    assert.equal(counts.reads, 6); // 2 types x 3 buckets; the repeated type is one series
    const types = await readsOf('{ eventTypes { type count uniqueUsers } }');
    assert.deepEqual(types.data.eventTypes, [
      { type: 'view', count: 200, uniqueUsers: 100 },
      { type: 'buy', count: 100, uniqueUsers: 100 },
    ]);
    assert.equal(types.reads, 3); // the type list, then both types in one round
  });
});
