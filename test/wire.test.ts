import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeEvent, encodeCursor, MalformedEvent } from '../src/events/index.js';
import { eventSubjects } from '../src/nats/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const EVENT_FIELDS = 'id type userId anonymousId properties occurredAt receivedAt cursor';

describe("the README's wire format, written by a plain NATS client", () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let stream: StreamInspector;
  let subjects: ReturnType<typeof eventSubjects>;

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url));
    subjects = eventSubjects(pulse.env.PULSE_SUBJECT_PREFIX);
    stream = await inspectStream(nats.url, pulse.env.PULSE_STREAM);
  });
  after(async () => {
    await stream?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  /** Publishes like a foreign service: plain JetStream client, JSON body, Nats-Msg-Id. */
  async function publishRaw(subject: string, body: unknown, msgID?: string) {
    const ack = await stream.js.publish(subject, JSON.stringify(body), msgID ? { msgID } : undefined);
    const stored = await stream.jsm.streams.getMessage(pulse.env.PULSE_STREAM, { seq: ack.seq });
    assert.ok(stored);
    return {
      ack,
      message: {
        subject: stored.subject,
        data: stored.data,
        seq: stored.seq,
        timestampMs: stored.time.getTime(),
        msgId: stored.header?.get('Nats-Msg-Id') || undefined,
      },
    };
  }

  const readByCursor = (cursor: string) =>
    gql(pulse.url, `query($cursor: String!) { event(cursor: $cursor) { ${EVENT_FIELDS} } }`, { cursor });

  test('an event published in the wire format decodes to the same event, and Pulse serves it', async () => {
    const event = {
      id: 'svc-evt-1',
      type: 'order shipped',
      userId: 'user-9',
      anonymousId: null,
      properties: { carrier: 'dhl', items: [1, 2] },
      occurredAt: '2024-06-01T10:00:00.000Z',
      receivedAt: '2024-06-01T10:00:01.500Z',
    };
    const { ack, message } = await publishRaw(subjects.forType(event.type), event, event.id);
    assert.equal(message.subject, `${pulse.env.PULSE_SUBJECT_PREFIX}.order~20shipped`);
    assert.deepEqual(decodeEvent(message, subjects.typeOf), { ...event, seq: ack.seq });

    const res = await readByCursor(encodeCursor(ack.seq));
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.deepEqual(res.data.event, { ...event, cursor: encodeCursor(ack.seq) });
  });

  test('a repeat through track of an id a service published is a duplicate of that message', async () => {
    const event = {
      id: 'svc-evt-2',
      type: 'refund',
      userId: 'user-9',
      anonymousId: null,
      properties: { amount: 5 },
      occurredAt: '2024-06-02T10:00:00.000Z',
      receivedAt: '2024-06-02T10:00:00.000Z',
    };
    const { ack } = await publishRaw(subjects.forType(event.type), event, event.id);
    const count = await stream.count();
    const res = await gql(
      pulse.url,
      `mutation($event: TrackEventInput!) { track(event: $event) { duplicate event { ${EVENT_FIELDS} } } }`,
      { event: { id: 'svc-evt-2', type: 'refund', userId: 'user-9' } },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.equal(res.data.track.duplicate, true);
    assert.deepEqual(res.data.track.event, { ...event, cursor: encodeCursor(ack.seq) });
    assert.equal(await stream.count(), count);
  });

  test('a minimal body is read with the documented defaults', async () => {
    const { ack, message } = await publishRaw(
      subjects.forType('ping'),
      { type: 'ping', anonymousId: 'device-1' },
      'svc-evt-3',
    );
    const event = decodeEvent(message, subjects.typeOf);
    const storedAt = new Date(message.timestampMs).toISOString();
    assert.deepEqual(event, {
      seq: ack.seq,
      id: 'svc-evt-3',
      type: 'ping',
      userId: null,
      anonymousId: 'device-1',
      properties: {},
      occurredAt: storedAt,
      receivedAt: storedAt,
    });
  });

  test('a body whose type disagrees with its subject is malformed, and Pulse does not serve it', async () => {
    const { ack, message } = await publishRaw(
      subjects.forType('login'),
      { id: 'svc-evt-4', type: 'logout', userId: 'user-9', properties: {} },
      'svc-evt-4',
    );
    assert.throws(() => decodeEvent(message, subjects.typeOf), MalformedEvent);
    assert.throws(() => decodeEvent(message, subjects.typeOf), /does not name the type "logout"/);

    const res = await readByCursor(encodeCursor(ack.seq));
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.equal(res.data.event, null);
  });

  test('other malformed bodies are refused with the reason', () => {
    const subject = subjects.forType('x');
    const message = (body: string) => ({ subject, data: new TextEncoder().encode(body), seq: 1, timestampMs: 0 });
    const cases: Array<[string, RegExp]> = [
      ['not json', /not UTF-8 JSON/],
      ['[1]', /not a JSON object/],
      ['{"type":"x"}', /neither userId nor anonymousId/],
      ['{"type":"x","userId":"u","properties":[1]}', /properties is not a JSON object/],
      ['{"type":"x","userId":"u","occurredAt":"yesterday"}', /occurredAt is not an ISO-8601/],
      ['{"userId":"u"}', /type is missing/],
    ];
    for (const [body, reason] of cases) assert.throws(() => decodeEvent(message(body), subjects.typeOf), reason);
    const twoTokens = { ...message('{"type":"x","userId":"u"}'), subject: `${subject}.more` };
    assert.throws(() => decodeEvent(twoTokens, subjects.typeOf), MalformedEvent);
  });

  test('dates from other publishers are read as the instant they name, written the way Pulse writes them', () => {
    const subject = subjects.forType('x');
    const occurredAtOf = (occurredAt: string) =>
      decodeEvent(
        {
          subject,
          data: new TextEncoder().encode(JSON.stringify({ type: 'x', userId: 'u', occurredAt })),
          seq: 1,
          timestampMs: 0,
        },
        subjects.typeOf,
      ).occurredAt;
    assert.equal(occurredAtOf('2024-06-01T10:00:00.000Z'), '2024-06-01T10:00:00.000Z');
    assert.equal(occurredAtOf('2024-06-01T12:00:00+02:00'), '2024-06-01T10:00:00.000Z');
    assert.equal(occurredAtOf('2024-06-01t10:00z'), '2024-06-01T10:00:00.000Z');
    assert.equal(occurredAtOf('2024-06-28T10:00:00.000Z'), '2024-06-28T10:00:00.000Z');
    assert.equal(occurredAtOf('2024-06-30T10:00:00.000Z'), '2024-06-30T10:00:00.000Z');
    // A day past the month's end is the day it runs into, as Date.parse reads it.
    assert.equal(occurredAtOf('2023-02-30T10:00:00.000Z'), '2023-03-02T10:00:00.000Z');
    assert.throws(() => occurredAtOf('2024-06-01T25:00:00.000Z'), /occurredAt is not an ISO-8601/);
  });
});
