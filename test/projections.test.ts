import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

// A known event set across minute, hour and day boundaries, several users (one only anonymous,
// one with both ids), types that need encoding, and revenue of every kind.
const T1 = '2024-03-31T23:59:30.000Z';
const T2 = '2024-03-31T23:59:59.999Z';
const T3 = '2024-04-01T00:00:00.000Z';
const T4 = '2024-04-01T00:00:30.000Z';
const T5 = '2024-04-01T00:59:59.000Z';
const T6 = '2024-04-01T01:00:00.000Z';
const BIG = 'x'.repeat(3000); // kept in recent lists by sequence, read back from the stream

const EVENTS = [
  { id: 'e1', type: 'page_view', userId: 'alice', occurredAt: T1 },
  { id: 'e2', type: 'page_view', userId: 'bob', occurredAt: T2 },
  { id: 'e3', type: 'purchase', userId: 'alice', occurredAt: T3, properties: { revenue: 19.5 } },
  { id: 'e4', type: 'sign up', anonymousId: 'anon-1', occurredAt: T4 },
  { id: 'e5', type: 'purchase', userId: 'bob', occurredAt: T5, properties: { revenue: '12' } },
  { id: 'e6', type: 'purchase', userId: 'bob', occurredAt: T6, properties: { revenue: 5 } },
  { id: 'e7', type: 'page_view', userId: 'alice', anonymousId: 'anon-1', occurredAt: T6, properties: { revenue: 1 } },
  { id: 'e8', type: 'café.menu', anonymousId: 'anon-1', occurredAt: T1 },
  { id: 'e9', type: 'page_view', userId: 'alice', occurredAt: T4, properties: { note: BIG } },
  { id: 'e10', type: 'purchase', userId: 'alice', occurredAt: T2, properties: { revenue: 30.25 } },
];

const USER_FIELDS = `id firstSeenAt lastSeenAt eventCount revenue countsByType { type count } recentEvents(last: 5) { id }`;

describe('read models: every field against a hand-computed expectation', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let lastCursor: string;

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url, { PULSE_RECENT_EVENTS: '5', PULSE_PROJECTOR_LEASE_TTL: '2s' }));
    const res = await gql(
      pulse.url,
      'mutation($events: [TrackEventInput!]!) { trackBatch(events: $events) { accepted results { event { cursor } } } }',
      { events: EVENTS },
    );
    assert.equal(res.data?.trackBatch.accepted, EVENTS.length, JSON.stringify(res.errors));
    lastCursor = res.data?.trackBatch.results.at(-1).event.cursor;
  });
  after(async () => {
    await pulse?.close();
    await nats?.destroy();
  });

  test('user profiles: times, counts, counts by type, revenue, newest events', async () => {
    const res = await gql(
      pulse.url,
      `query($c: String) { alice: user(id: "alice", minCursor: $c) { ${USER_FIELDS} }
        bob: user(id: "bob", minCursor: $c) { ${USER_FIELDS} }  anon: user(id: "anon-1", minCursor: $c) { ${USER_FIELDS} }
        nobody: user(id: "nobody") { id } }`,
      { c: lastCursor },
    );
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data.alice, {
      id: 'alice',
      firstSeenAt: T1,
      lastSeenAt: T6,
      eventCount: 5,
      revenue: 50.75,
      countsByType: [
        { type: 'page_view', count: 3 },
        { type: 'purchase', count: 2 },
      ],
      recentEvents: [{ id: 'e10' }, { id: 'e9' }, { id: 'e7' }, { id: 'e3' }, { id: 'e1' }],
    });
    assert.deepEqual(res.data.bob, {
      id: 'bob',
      firstSeenAt: T2,
      lastSeenAt: T6,
      eventCount: 3,
      revenue: 5,
      countsByType: [
        { type: 'purchase', count: 2 },
        { type: 'page_view', count: 1 },
      ],
      recentEvents: [{ id: 'e6' }, { id: 'e5' }, { id: 'e2' }],
    });
    assert.deepEqual(res.data.anon, {
      id: 'anon-1',
      firstSeenAt: T1,
      lastSeenAt: T4,
      eventCount: 2,
      revenue: 0,
      countsByType: [
        { type: 'café.menu', count: 1 },
        { type: 'sign up', count: 1 },
      ],
      recentEvents: [{ id: 'e8' }, { id: 'e4' }],
    });
    assert.equal(res.data.nobody, null);
  });

  test('users keeps the order of ids, null where unknown; a large event comes back whole', async () => {
    const res = await gql(
      pulse.url,
      `{ users(ids: ["bob", "nobody", "alice"]) { id eventCount recentEvents(last: 2) { id properties } } }`,
    );
    assert.equal(res.errors, undefined);
    assert.deepEqual(
      res.data.users.map((u: { id: string } | null) => u?.id ?? null),
      ['bob', null, 'alice'],
    );
    assert.deepEqual(res.data.users[2].recentEvents, [
      { id: 'e10', properties: { revenue: 30.25 } },
      { id: 'e9', properties: { note: BIG } },
    ]);
  });

  test('event types: count, unique users, last seen, most frequent first', async () => {
    const res = await gql(pulse.url, '{ eventTypes { type count uniqueUsers lastSeenAt } }');
    assert.equal(res.errors, undefined);
    assert.deepEqual(res.data.eventTypes, [
      { type: 'page_view', count: 4, uniqueUsers: 2, lastSeenAt: T6 },
      { type: 'purchase', count: 4, uniqueUsers: 2, lastSeenAt: T6 },
      { type: 'café.menu', count: 1, uniqueUsers: 1, lastSeenAt: T1 },
      { type: 'sign up', count: 1, uniqueUsers: 1, lastSeenAt: T4 },
    ]);
  });

  test('event counts per minute, hour and day: UTC boundaries, oldest first, empty buckets included', async () => {
    const counts = async (interval: string, from: string, to: string, types?: string[]) => {
      const res = await gql(
        pulse.url,
        'query($t: [String!], $f: DateTime!, $to: DateTime, $i: Interval!) { eventCounts(types: $t, from: $f, to: $to, interval: $i) { type buckets { start count } } }',
        { t: types, f: from, to, i: interval },
      );
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      return res.data.eventCounts as Array<{ type: string; buckets: Array<{ start: string; count: number }> }>;
    };
    const day = await counts('DAY', '2024-03-31T00:00:00Z', '2024-04-02T00:00:00Z');
    assert.deepEqual(day, [
      {
        type: 'café.menu',
        buckets: [
          { start: '2024-03-31T00:00:00.000Z', count: 1 },
          { start: '2024-04-01T00:00:00.000Z', count: 0 },
        ],
      },
      {
        type: 'page_view',
        buckets: [
          { start: '2024-03-31T00:00:00.000Z', count: 2 },
          { start: '2024-04-01T00:00:00.000Z', count: 2 },
        ],
      },
      {
        type: 'purchase',
        buckets: [
          { start: '2024-03-31T00:00:00.000Z', count: 1 },
          { start: '2024-04-01T00:00:00.000Z', count: 3 },
        ],
      },
      {
        type: 'sign up',
        buckets: [
          { start: '2024-03-31T00:00:00.000Z', count: 0 },
          { start: '2024-04-01T00:00:00.000Z', count: 1 },
        ],
      },
    ]);
    // `from` inside a bucket: the series starts at that bucket's boundary; `to` is exclusive.
    const hour = await counts('HOUR', '2024-03-31T23:30:00Z', '2024-04-01T02:00:00Z', [
      'purchase',
      'page_view',
      'never',
    ]);
    const starts = ['2024-03-31T23:00:00.000Z', '2024-04-01T00:00:00.000Z', '2024-04-01T01:00:00.000Z'];
    const series = (values: number[]) => values.map((count, i) => ({ start: starts[i], count }));
    assert.deepEqual(hour, [
      { type: 'purchase', buckets: series([1, 2, 1]) },
      { type: 'page_view', buckets: series([2, 1, 1]) },
      { type: 'never', buckets: series([0, 0, 0]) },
    ]);
    const minute = await counts('MINUTE', '2024-03-31T23:59:00Z', '2024-04-01T01:01:00Z', ['page_view', 'purchase']);
    assert.equal(minute[0].buckets.length, 62);
    const nonEmpty = (s: (typeof minute)[number]) => s.buckets.filter((b) => b.count > 0);
    assert.deepEqual(nonEmpty(minute[0]), [
      { start: '2024-03-31T23:59:00.000Z', count: 2 },
      { start: '2024-04-01T00:00:00.000Z', count: 1 },
      { start: '2024-04-01T01:00:00.000Z', count: 1 },
    ]);
    assert.deepEqual(nonEmpty(minute[1]), [
      { start: '2024-03-31T23:59:00.000Z', count: 1 },
      { start: '2024-04-01T00:00:00.000Z', count: 1 },
      { start: '2024-04-01T00:59:00.000Z', count: 1 },
      { start: '2024-04-01T01:00:00.000Z', count: 1 },
    ]);
    assert.equal(minute[0].buckets[0].start, '2024-03-31T23:59:00.000Z');
    assert.equal(minute[0].buckets.at(-1)?.start, '2024-04-01T01:00:00.000Z');
  });

  test('eventCounts refuses a range that is empty or has too many buckets', async () => {
    const tooMany = await gql(
      pulse.url,
      '{ eventCounts(types: ["a"], from: "2000-01-01T00:00:00Z", interval: MINUTE) { type } }',
    );
    assert.equal(tooMany.errors?.[0].extensions?.code, 'BAD_USER_INPUT');
    assert.match(tooMany.errors?.[0].message ?? '', /at most 10000 buckets/);
    const backwards = await gql(
      pulse.url,
      '{ eventCounts(from: "2024-04-01T00:00:00Z", to: "2024-03-01T00:00:00Z", interval: DAY) { type } }',
    );
    assert.equal(backwards.errors?.[0].extensions?.code, 'BAD_USER_INPUT');
    assert.match(backwards.errors?.[0].message ?? '', /^to:/);
  });

  test('recentEvents: overall, by types, by user, newest first, bounded by the list size', async () => {
    const recent = async (filter: unknown, last?: number) => {
      const res = await gql(
        pulse.url,
        'query($f: EventFilter, $l: Int) { recentEvents(filter: $f, last: $l) { id } }',
        {
          f: filter,
          l: last,
        },
      );
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      return res.data.recentEvents.map((e: { id: string }) => e.id);
    };
    assert.deepEqual(await recent(null, 5), ['e10', 'e9', 'e8', 'e7', 'e6']);
    assert.deepEqual(await recent({ types: ['purchase'] }, 3), ['e10', 'e6', 'e5']);
    assert.deepEqual(await recent({ types: ['page_view', 'sign up'] }, 5), ['e9', 'e7', 'e4', 'e2', 'e1']);
    assert.deepEqual(await recent({ userId: 'alice' }, 2), ['e10', 'e9']);
    assert.deepEqual(await recent({ userId: 'alice', types: ['purchase'] }), ['e10', 'e3']);
    assert.deepEqual(await recent({ anonymousId: 'anon-1' }), ['e8', 'e4']);
    for (const last of [0, 6]) {
      const res = await gql(pulse.url, `{ recentEvents(last: ${last}) { id } }`);
      assert.equal(res.errors?.[0].extensions?.code, 'BAD_USER_INPUT');
      assert.match(res.errors?.[0].message ?? '', /^last: must be from 1 to 5/);
    }
  });

  test('projections shows the position and no lag once everything is applied', async () => {
    const res = await gql(
      pulse.url,
      '{ projections { name lag position cursor generation live applied deadLetters updatedAt } }',
    );
    assert.equal(res.errors, undefined);
    assert.equal(res.data.projections.length, 1);
    const [status] = res.data.projections;
    assert.deepEqual(
      { ...status, updatedAt: typeof status.updatedAt },
      {
        name: 'read-models',
        lag: 0,
        position: 10,
        cursor: lastCursor,
        generation: 1,
        live: true,
        applied: 10,
        deadLetters: 0,
        updatedAt: 'string',
      },
    );
  });
});
