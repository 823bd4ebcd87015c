import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeEvent, type PulseEvent } from '../src/events/index.js';
import { eventSubjects } from '../src/nats/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { runningProjectors, spawnProjector } from './support/projector-process.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const USERS = 40;
const TYPES = ['view', 'click', 'buy', 'sign up', 'a.b'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Event n of a deterministic set: users, types, hours and integer revenue spread evenly. */
function eventAt(n: number): PulseEvent {
  const occurred = Date.parse('2024-06-30T22:00:00Z') + ((n * 7919) % (3 * 3_600_000));
  return {
    id: `ev-${n}`,
    type: TYPES[n % TYPES.length],
    userId: n % 7 === 0 ? null : `user-${n % USERS}`,
    anonymousId: n % 7 === 0 ? `anon-${n % 3}` : null,
    properties: { revenue: n % 4 === 0 ? n % 10 : 'none' },
    occurredAt: new Date(occurred).toISOString(),
    receivedAt: new Date().toISOString(),
  };
}

/** What the read models must hold after events 0..count-1, computed here by hand. */
function expected(count: number) {
  const byType = new Map<string, number>();
  const byProfile = new Map<string, { eventCount: number; revenue: number }>();
  const byHour = new Map<string, number>();
  for (let n = 0; n < count; n++) {
    const e = eventAt(n);
    byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    const key = (e.userId ?? e.anonymousId) as string;
    const profile = byProfile.get(key) ?? { eventCount: 0, revenue: 0 };
    profile.eventCount++;
    if (typeof e.properties.revenue === 'number') profile.revenue += e.properties.revenue;
    byProfile.set(key, profile);
    const hour = `${e.type}|${new Date(Math.floor(Date.parse(e.occurredAt) / 3_600_000) * 3_600_000).toISOString()}`;
    byHour.set(hour, (byHour.get(hour) ?? 0) + 1);
  }
  return { byType, byProfile, byHour };
}

describe('effect exactly once: kills, replays and a second projector never count twice', () => {
  let nats: TestNats;
  let api: Awaited<ReturnType<typeof startTestPulse>>;
  let nc: NatsConnection;
  let env: Record<string, string>;
  let published = 0;

  async function publish(count: number): Promise<void> {
    const js = jetstream(nc);
    const subjects = eventSubjects(env.PULSE_SUBJECT_PREFIX);
    for (let start = published; start < published + count; start += 500) {
      const end = Math.min(start + 500, published + count);
      await Promise.all(
        Array.from({ length: end - start }, (_, i) => {
          const event = eventAt(start + i);
          return js.publish(subjects.forType(event.type), encodeEvent(event), { msgID: event.id });
        }),
      );
    }
    published += count;
  }

  async function waitUntilApplied(count: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await gql(api.url, '{ projections { position applied lag } }');
      const [status] = res.data?.projections ?? [];
      if (status && status.applied >= count && status.lag === 0) return;
      assert.ok(Date.now() < deadline, `the read models did not catch up: ${JSON.stringify(status)}`);
      await sleep(200);
    }
  }

  async function assertExact(count: number): Promise<void> {
    const want = expected(count);
    const profiles = [...want.byProfile.keys()];
    const res = await gql(
      api.url,
      `query($ids: [ID!]!, $types: [String!]) {
        projections { applied deadLetters }
        eventTypes { type count }
        users(ids: $ids) { id eventCount revenue }
        eventCounts(types: $types, from: "2024-06-30T22:00:00Z", to: "2024-07-01T01:00:00Z", interval: HOUR) { type buckets { start count } }
        minutes: eventCounts(types: $types, from: "2024-06-30T22:00:00Z", to: "2024-07-01T01:00:00Z", interval: MINUTE) { type buckets { count } }
      }`,
      { ids: profiles, types: TYPES },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.deepEqual(res.data.projections[0], { applied: count, deadLetters: 0 });
    assert.deepEqual(
      Object.fromEntries(res.data.eventTypes.map((t: { type: string; count: number }) => [t.type, t.count])),
      Object.fromEntries(want.byType),
    );
    for (const [i, id] of profiles.entries()) {
      assert.deepEqual(res.data.users[i], { id, ...want.byProfile.get(id) });
    }
    for (const series of res.data.eventCounts) {
      for (const bucket of series.buckets) {
        assert.equal(
          bucket.count,
          want.byHour.get(`${series.type}|${bucket.start}`) ?? 0,
          `${series.type} ${bucket.start}`,
        );
      }
    }
    for (const series of res.data.minutes) {
      const total = series.buckets.reduce((sum: number, b: { count: number }) => sum + b.count, 0);
      assert.equal(total, want.byType.get(series.type));
    }
  }

  before(async () => {
    nats = await startNats();
    env = testEnv(nats.url, { PULSE_PROJECTOR_BATCH: '100', PULSE_PROJECTOR_LEASE_TTL: '1s' });
    // The API process only reads: projectors run as their own processes here.
    api = await startTestPulse({ ...env, PULSE_PROJECTOR: 'off' });
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    for (const child of runningProjectors()) child.kill('SIGKILL');
    await nc?.close();
    await api?.close();
    await nats?.destroy();
  });

  test('a projector killed (SIGKILL) at random points mid-batch and restarted leaves exact counts', async () => {
    await publish(4000);
    for (let run = 0; run < 5; run++) {
      const projector = spawnProjector(env);
      await projector.active;
      // More events arrive while it works, so kills land mid-batch, mid-write and mid-ingestion.
      const arriving = publish(600);
      await sleep(50 + Math.random() * 700);
      projector.child.kill('SIGKILL');
      await projector.exit;
      await arriving;
    }
    const last = spawnProjector(env);
    await last.active;
    await waitUntilApplied(published);
    last.child.kill('SIGTERM');
    assert.equal(await last.exit, 0);
    await assertExact(published);
  });

  test('replaying events the read models already hold (a crash between writing and committing) changes nothing', async () => {
    // Roll the committed position back to the start: every value still records what it holds.
    const kv = await new Kvm(nc).open(`${env.PULSE_STREAM}_RM_G1`);
    await kv.put('s.pos', JSON.stringify({ seq: 0, applied: 0, deadLetters: 0, updatedAt: null }));
    const projector = spawnProjector(env);
    await projector.active;
    // Read the position itself: the API keeps the highest it saw and would not show the replay.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const entry = await kv.get('s.pos');
      const position = entry?.json<{ seq: number; applied: number }>();
      if (position && position.seq >= published) {
        assert.equal(position.applied, published, 'the replay went through every event once');
        break;
      }
      assert.ok(Date.now() < deadline, 'the replay did not finish');
      await sleep(100);
    }
    projector.child.kill('SIGTERM');
    assert.equal(await projector.exit, 0);
    await assertExact(published);
  });

  test('two projectors at once, and one whose lease is taken from it, never apply an event twice', async () => {
    const first = spawnProjector(env);
    const second = spawnProjector(env);
    await Promise.race([first.active, second.active]);
    const arriving = publish(3000);
    // Take the lease away from whoever holds it: the other starts applying while the first has
    // not yet noticed; revision-checked writes and per-value sequences must keep them apart.
    const leases = await new Kvm(nc).open(`${env.PULSE_STREAM}_RM_LEASES`);
    for (let i = 0; i < 3; i++) {
      await sleep(150);
      await leases.purge('g1');
    }
    await arriving;
    await waitUntilApplied(published);
    first.child.kill('SIGTERM');
    second.child.kill('SIGTERM');
    await Promise.all([first.exit, second.exit]);
    await assertExact(published);
  });
});
