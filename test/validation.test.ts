import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const TRACK = `mutation Track($event: TrackEventInput!, $sentAt: DateTime) {
  track(event: $event, sentAt: $sentAt) { duplicate event { id cursor } }
}`;
const TRACK_BATCH = `mutation TrackBatch($events: [TrackEventInput!]!, $sentAt: DateTime) {
  trackBatch(events: $events, sentAt: $sentAt) { accepted duplicates results { event { id } } }
}`;

interface Invalid {
  index: number;
  field: string;
  message: string;
}

const hoursFromNow = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
/** A properties object whose JSON is exactly `bytes` long. */
const propertiesOfSize = (bytes: number) => ({ p: 'x'.repeat(bytes - '{"p":""}'.length) });
const nested = (depth: number): Record<string, unknown> => (depth <= 1 ? { leaf: true } : { n: nested(depth - 1) });

type Pulse = Awaited<ReturnType<typeof startTestPulse>>;

describe('track and trackBatch reject bad input with BAD_USER_INPUT and publish nothing', () => {
  let nats: TestNats;
  let small: Pulse;
  let defaults: Pulse;
  let smallStream: StreamInspector;
  let defaultStream: StreamInspector;

  before(async () => {
    nats = await startNats();
    small = await startTestPulse(
      testEnv(nats.url, {
        PULSE_MAX_BATCH: '5',
        PULSE_MAX_PROPERTIES_BYTES: '1KiB',
        PULSE_MAX_TYPE_LENGTH: '16',
        PULSE_MAX_FUTURE: '1h',
      }),
    );
    defaults = await startTestPulse(testEnv(nats.url));
    smallStream = await inspectStream(nats.url, small.env.PULSE_STREAM);
    defaultStream = await inspectStream(nats.url, defaults.env.PULSE_STREAM);
  });
  after(async () => {
    await smallStream?.close();
    await defaultStream?.close();
    await small?.close();
    await defaults?.close();
    await nats?.destroy();
  });

  /** Sends the request, expects BAD_USER_INPUT with no data, and checks that the stream did not grow. */
  async function rejected(
    pulse: Pulse,
    stream: StreamInspector,
    query: string,
    variables: Record<string, unknown>,
  ): Promise<{ message: string; invalid?: Invalid[] }> {
    const before = await stream.count();
    const res = await gql(pulse.url, query, variables);
    // Variables GraphQL cannot coerce make a request error: 400 under the GraphQL-over-HTTP spec.
    assert.ok(res.status === 200 || res.status === 400, `a GraphQL error response, got HTTP ${res.status}`);
    assert.ok(res.errors?.length, `expected an error, got ${JSON.stringify(res.data)}`);
    assert.equal(res.errors[0].extensions?.code, 'BAD_USER_INPUT', JSON.stringify(res.errors));
    assert.ok(!res.data?.track && !res.data?.trackBatch, 'no result');
    assert.equal(await stream.count(), before, 'nothing was published');
    return { message: res.errors[0].message, invalid: res.errors[0].extensions?.invalid as Invalid[] | undefined };
  }

  const trackRejected = (event: Record<string, unknown>, sentAt?: string) =>
    rejected(small, smallStream, TRACK, { event, sentAt });

  /** One invalid event through track: the message names the field, and `invalid` lists it. */
  async function trackRejectsField(event: Record<string, unknown>, field: string, wording: RegExp, sentAt?: string) {
    const { message, invalid } = await trackRejected(event, sentAt);
    assert.match(message, new RegExp(`^event\\.${field}: `));
    assert.match(message, wording);
    assert.equal(invalid?.length, 1, JSON.stringify(invalid));
    assert.equal(invalid[0].index, 0);
    assert.equal(invalid[0].field, field);
    assert.match(invalid[0].message, wording);
  }

  test('type must be non-empty', async () => {
    await trackRejectsField({ type: '', userId: 'u' }, 'type', /must not be empty/);
    await trackRejectsField({ type: '  \t ', userId: 'u' }, 'type', /must not be empty/);
  });

  test('type is bounded (PULSE_MAX_TYPE_LENGTH)', async () => {
    await trackRejectsField({ type: 't'.repeat(17), userId: 'u' }, 'type', /at most 16 characters/);
  });

  test('type is required and must be a string (GraphQL rejects it, with the field named)', async () => {
    const missing = await trackRejected({ userId: 'u' });
    assert.match(missing.message, /type/);
    const notText = await trackRejected({ type: 42, userId: 'u' });
    assert.match(notText.message, /type/);
  });

  test('at least one of userId / anonymousId', async () => {
    await trackRejectsField({ type: 'click' }, 'userId', /at least one of userId and anonymousId/);
    await trackRejectsField(
      { type: 'click', userId: null, anonymousId: null },
      'userId',
      /at least one of userId and anonymousId/,
    );
    await trackRejectsField({ type: 'click', userId: '' }, 'userId', /must not be empty/);
    await trackRejectsField({ type: 'click', anonymousId: 'a'.repeat(257) }, 'anonymousId', /at most 256/);
  });

  test('an id must be short and free of control characters (it becomes the Nats-Msg-Id header)', async () => {
    await trackRejectsField(
      { id: 'evt\r\nNats-Expected-Stream: OTHER', type: 'click', userId: 'u' },
      'id',
      /control characters/,
    );
    await trackRejectsField({ id: 'i'.repeat(129), type: 'click', userId: 'u' }, 'id', /at most 128/);
    await trackRejectsField({ id: '', type: 'click', userId: 'u' }, 'id', /must not be empty/);
  });

  test('properties must be a JSON object', async () => {
    for (const properties of [[1, 2], 'text', 7, true]) {
      await trackRejectsField({ type: 'click', userId: 'u', properties }, 'properties', /must be a JSON object/);
    }
  });

  test('properties are bounded in size (PULSE_MAX_PROPERTIES_BYTES) and depth', async () => {
    await trackRejectsField(
      { type: 'click', userId: 'u', properties: propertiesOfSize(1025) },
      'properties',
      /at most 1024 bytes/,
    );
    await trackRejectsField({ type: 'click', userId: 'u', properties: nested(33) }, 'properties', /at most 32 levels/);
  });

  test('occurredAt must not lie too far in the future (PULSE_MAX_FUTURE), nor before 1970', async () => {
    await trackRejectsField({ type: 'click', userId: 'u', occurredAt: hoursFromNow(2) }, 'occurredAt', /future/);
    await trackRejectsField(
      { type: 'click', userId: 'u', occurredAt: '1969-12-31T23:59:59.000Z' },
      'occurredAt',
      /before 1970/,
    );
  });

  test('occurredAt is judged after the clock-skew correction', async () => {
    // The client's clock is 2 h behind: occurredAt "now" by its clock is 2 h ahead of the server's.
    await trackRejectsField(
      { type: 'click', userId: 'u', occurredAt: hoursFromNow(0) },
      'occurredAt',
      /future/,
      hoursFromNow(-2),
    );
  });

  test('occurredAt and sentAt must be date-times with an offset', async () => {
    const notADate = await trackRejected({ type: 'click', userId: 'u', occurredAt: 'yesterday' });
    assert.match(notADate.message, /occurredAt/);
    await trackRejected({ type: 'click', userId: 'u', occurredAt: '2024-05-01T12:00:00' });
    await trackRejected({ type: 'click', userId: 'u' }, 'soon');
  });

  test('a batch is bounded (PULSE_MAX_BATCH)', async () => {
    const events = Array.from({ length: 6 }, (_, i) => ({ type: 'click', userId: `u${i}` }));
    const { message } = await rejected(small, smallStream, TRACK_BATCH, { events });
    assert.match(message, /^events: a batch holds at most 5 events \(got 6\)/);
  });

  test('a batch is validated whole: one invalid item rejects it, and `invalid` lists every bad item', async () => {
    const events = [
      { id: 'ok-0', type: 'click', userId: 'u' },
      { id: 'bad-1', type: '', userId: 'u' },
      { id: 'ok-2', type: 'click', anonymousId: 'a' },
      { id: 'bad-3', type: 'click', properties: [1] },
      { id: 'bad-4', type: 'click', userId: 'u', occurredAt: hoursFromNow(3) },
    ];
    const { message, invalid } = await rejected(small, smallStream, TRACK_BATCH, { events });
    assert.match(message, /3 of 5 events are invalid; nothing was published/);
    assert.deepEqual(
      invalid?.map(({ index, field }) => ({ index, field })),
      [
        { index: 1, field: 'type' },
        { index: 3, field: 'userId' },
        { index: 3, field: 'properties' },
        { index: 4, field: 'occurredAt' },
      ],
    );
    for (const item of invalid ?? []) assert.ok(item.message.length > 0);

    // Dropping the listed items and resending the rest works at once.
    const bad = new Set(invalid?.map((item) => item.index));
    const rest = events.filter((_, index) => !bad.has(index));
    const res = await gql(small.url, TRACK_BATCH, { events: rest });
    assert.equal(res.errors, undefined);
    assert.equal(res.data.trackBatch.accepted, 2);
  });

  test('a batch item GraphQL itself refuses rejects the whole batch too', async () => {
    const events = [
      { type: 'click', userId: 'u' },
      { type: 'click', userId: 'u', occurredAt: 'not a date' },
    ];
    const { message } = await rejected(small, smallStream, TRACK_BATCH, { events });
    assert.match(message, /occurredAt/);
  });

  test('the defaults: type 128 characters, properties 32 KiB, occurredAt up to 1 day ahead, 1000 per batch', async () => {
    const accepted = await gql(defaults.url, TRACK_BATCH, {
      events: [
        { type: 't'.repeat(128), userId: 'u' },
        { type: 'click', userId: 'u', properties: propertiesOfSize(32 * 1024) },
        { type: 'click', userId: 'u', occurredAt: hoursFromNow(23) },
      ],
    });
    assert.equal(accepted.errors, undefined, JSON.stringify(accepted.errors));
    assert.equal(accepted.data.trackBatch.accepted, 3);

    const tooMuch = await rejected(defaults, defaultStream, TRACK_BATCH, {
      events: [
        { type: 't'.repeat(129), userId: 'u' },
        { type: 'click', userId: 'u', properties: propertiesOfSize(32 * 1024 + 1) },
        { type: 'click', userId: 'u', occurredAt: hoursFromNow(25) },
      ],
    });
    assert.deepEqual(
      tooMuch.invalid?.map(({ index, field }) => ({ index, field })),
      [
        { index: 0, field: 'type' },
        { index: 1, field: 'properties' },
        { index: 2, field: 'occurredAt' },
      ],
    );

    const events = Array.from({ length: 1001 }, (_, i) => ({ type: 'click', userId: `u${i}` }));
    const { message } = await rejected(defaults, defaultStream, TRACK_BATCH, { events });
    assert.match(message, /at most 1000 events/);
  });

  test('nothing at all reached the stream of the rejected calls', async () => {
    const messages = await smallStream.messages();
    assert.deepEqual(
      messages.map((m) => (m.body as { id: string }).id),
      ['ok-0', 'ok-2'],
      'only the resent valid items are stored',
    );
  });
});
