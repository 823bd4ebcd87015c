import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeCursor } from '../src/events/index.js';
import { encodeToken } from '../src/nats/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const EVENT_FIELDS = 'id type userId anonymousId properties occurredAt receivedAt cursor';
const TRACK = `mutation Track($event: TrackEventInput!, $sentAt: DateTime) {
  track(event: $event, sentAt: $sentAt) { duplicate event { ${EVENT_FIELDS} } }
}`;
const TRACK_BATCH = `mutation TrackBatch($events: [TrackEventInput!]!, $sentAt: DateTime) {
  trackBatch(events: $events, sentAt: $sentAt) { accepted duplicates results { duplicate event { ${EVENT_FIELDS} } } }
}`;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

interface EventJson {
  id: string;
  type: string;
  userId: string | null;
  anonymousId: string | null;
  properties: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
  cursor: string;
}

/** The body Pulse must have stored for an event it answered with: every field but the cursor. */
function expectedBody(event: EventJson): Record<string, unknown> {
  const { cursor: _cursor, ...body } = event;
  return body;
}

describe('track and trackBatch store events in JetStream', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let stream: StreamInspector;
  let prefix: string;

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url));
    prefix = pulse.env.PULSE_SUBJECT_PREFIX;
    stream = await inspectStream(nats.url, pulse.env.PULSE_STREAM);
  });
  after(async () => {
    await stream?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  async function track(event: Record<string, unknown>, sentAt?: string) {
    const res = await gql(pulse.url, TRACK, { event, sentAt });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    return res.data.track as { duplicate: boolean; event: EventJson };
  }

  async function trackBatch(events: Record<string, unknown>[], sentAt?: string) {
    const res = await gql(pulse.url, TRACK_BATCH, { events, sentAt });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    return res.data.trackBatch as {
      accepted: number;
      duplicates: number;
      results: Array<{ duplicate: boolean; event: EventJson }>;
    };
  }

  test('track stores one message: subject <prefix>.<type>, Nats-Msg-Id = id, the event as JSON body', async () => {
    const before = await stream.count();
    const result = await track({
      id: 'evt-track-1',
      type: 'page_view',
      userId: 'user-1',
      properties: { path: '/pricing', nested: { n: 1, list: [1, 'two', null] } },
      occurredAt: '2024-05-01T12:00:00.000Z',
    });
    assert.equal(result.duplicate, false);
    assert.equal(result.event.id, 'evt-track-1');
    assert.equal(result.event.occurredAt, '2024-05-01T12:00:00.000Z');
    assert.equal(result.event.anonymousId, null);

    assert.equal(await stream.count(), before + 1);
    const seq = decodeCursor(result.event.cursor);
    assert.ok(seq, 'the cursor names a stream sequence');
    const stored = await stream.get(seq);
    assert.ok(stored);
    assert.equal(stored.subject, `${prefix}.page_view`);
    assert.deepEqual(stored.headers, {
      'Nats-Msg-Id': ['evt-track-1'],
      'Nats-Expected-Stream': [pulse.env.PULSE_STREAM],
    });
    assert.deepEqual(stored.body, expectedBody(result.event));
    assert.deepEqual(Object.keys(stored.body as object), [
      'id',
      'type',
      'userId',
      'anonymousId',
      'properties',
      'occurredAt',
      'receivedAt',
    ]);
  });

  test('without an id, track generates a ULID (sortable by time) and sends it as Nats-Msg-Id', async () => {
    const first = await track({ type: 'click', anonymousId: 'anon-1' });
    const second = await track({ type: 'click', anonymousId: 'anon-1' });
    assert.match(first.event.id, ULID);
    assert.match(second.event.id, ULID);
    assert.ok(second.event.id > first.event.id, 'a later id sorts after an earlier one');
    const stored = await stream.get(decodeCursor(second.event.cursor) as number);
    assert.deepEqual(stored?.headers['Nats-Msg-Id'], [second.event.id]);
    assert.deepEqual(stored?.body, expectedBody(second.event));
  });

  test('without occurredAt, occurredAt is receivedAt, and receivedAt is the server clock', async () => {
    const t0 = Date.now();
    const result = await track({ type: 'login', userId: 'user-2' });
    const t1 = Date.now();
    assert.equal(result.event.occurredAt, result.event.receivedAt);
    const received = Date.parse(result.event.receivedAt);
    assert.ok(received >= t0 && received <= t1, 'receivedAt lies within the call');
    assert.deepEqual(result.event.properties, {});
  });

  test('sentAt corrects occurredAt for the client clock skew: receivedAt - (sentAt - occurredAt)', async () => {
    // A device whose clock runs two days ahead: uncorrected, its occurredAt would lie in the future.
    const skewMs = 2 * 86_400_000;
    const deviceNow = Date.now() + skewMs;
    const sentAt = new Date(deviceNow).toISOString();
    const single = await track(
      { type: 'purchase', userId: 'user-3', occurredAt: new Date(deviceNow - 10_000).toISOString() },
      sentAt,
    );
    assert.equal(Date.parse(single.event.receivedAt) - Date.parse(single.event.occurredAt), 10_000);

    const batch = await trackBatch(
      [
        { type: 'a', userId: 'user-3', occurredAt: new Date(deviceNow - 1_000).toISOString() },
        { type: 'b', userId: 'user-3', occurredAt: new Date(deviceNow - 60_000).toISOString() },
        { type: 'c', userId: 'user-3' },
      ],
      sentAt,
    );
    const lags = batch.results.map((r) => Date.parse(r.event.receivedAt) - Date.parse(r.event.occurredAt));
    assert.deepEqual(lags, [1_000, 60_000, 0]);
    const stored = await stream.get(decodeCursor(batch.results[1].event.cursor) as number);
    assert.deepEqual(stored?.body, expectedBody(batch.results[1].event));
  });

  test('a repeated id is stored once and answered duplicate with the original event and cursor', async () => {
    const first = await track({ id: 'evt-dup-1', type: 'signup', userId: 'user-4', properties: { plan: 'pro' } });
    const countAfterFirst = await stream.count();
    const again = await track({ id: 'evt-dup-1', type: 'signup', userId: 'user-4', properties: { plan: 'free' } });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.event.cursor, first.event.cursor);
    assert.deepEqual(again.event, first.event, 'the answer is the original as first stored');
    assert.equal(await stream.count(), countAfterFirst, 'nothing new was stored');
  });

  test('trackBatch stores every event, in order, each as its own message', async () => {
    const before = await stream.count();
    const inputs = [
      { id: 'evt-batch-1', type: 'click', userId: 'user-5', properties: { button: 'buy' } },
      { type: 'page view', anonymousId: 'anon-5' },
      { id: 'evt-batch-3', type: 'purchase', userId: 'user-5', properties: { revenue: 49.5 } },
    ];
    const batch = await trackBatch(inputs);
    assert.equal(batch.accepted, 3);
    assert.equal(batch.duplicates, 0);
    assert.equal(await stream.count(), before + 3);
    for (const [index, { duplicate, event }] of batch.results.entries()) {
      assert.equal(duplicate, false);
      assert.equal(event.type, inputs[index].type);
      const stored = await stream.get(decodeCursor(event.cursor) as number);
      assert.ok(stored);
      assert.equal(stored.subject, `${prefix}.${encodeToken(inputs[index].type)}`);
      assert.deepEqual(stored.headers['Nats-Msg-Id'], [event.id]);
      assert.deepEqual(stored.body, expectedBody(event));
    }
    assert.equal(batch.results[0].event.id, 'evt-batch-1');
    assert.match(batch.results[1].event.id, ULID);
    assert.equal(batch.results[2].event.id, 'evt-batch-3');
  });

  test('trackBatch answers ids seen before (in this batch or an earlier one) as duplicates', async () => {
    const first = await trackBatch([
      { id: 'evt-bd-a', type: 'x', userId: 'u' },
      { id: 'evt-bd-b', type: 'x', userId: 'u' },
    ]);
    const before = await stream.count();
    const second = await trackBatch([
      { id: 'evt-bd-b', type: 'x', userId: 'u' },
      { id: 'evt-bd-c', type: 'x', userId: 'u' },
      { id: 'evt-bd-c', type: 'x', userId: 'u' },
    ]);
    assert.equal(second.accepted, 1);
    assert.equal(second.duplicates, 2);
    assert.equal(second.results[0].duplicate, true);
    assert.equal(second.results[0].event.cursor, first.results[1].event.cursor);
    const cIsDuplicate = second.results.slice(1).map((r) => r.duplicate);
    assert.deepEqual(cIsDuplicate.sort(), [false, true], 'one copy of evt-bd-c is stored, the other is a duplicate');
    assert.equal(second.results[1].event.cursor, second.results[2].event.cursor);
    assert.equal(await stream.count(), before + 1);
  });

  test('trackBatch of 1000 events (the default bound) is stored whole, one message per event', async () => {
    const before = await stream.count();
    const events = Array.from({ length: 1000 }, (_, i) => ({
      id: `evt-big-${i}`,
      type: `type-${i % 7}`,
      userId: `user-${i % 13}`,
      properties: { i },
    }));
    const batch = await trackBatch(events);
    assert.equal(batch.accepted, 1000);
    assert.equal(batch.results.length, 1000);
    assert.deepEqual(
      batch.results.map((r) => r.event.id),
      events.map((e) => e.id),
    );
    assert.equal(await stream.count(), before + 1000);
    const seqs = new Set(batch.results.map((r) => decodeCursor(r.event.cursor)));
    assert.equal(seqs.size, 1000, 'every event has its own place in the stream');
    const sample = await stream.get(decodeCursor(batch.results[999].event.cursor) as number);
    assert.equal(sample?.subject, `${prefix}.type-5`);
    assert.deepEqual(sample?.body, expectedBody(batch.results[999].event));
  });
});
