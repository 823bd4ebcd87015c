import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeCursor } from '../src/events/index.js';
import { decodeToken, encodeToken, eventSubjects } from '../src/nats/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const SAFE_TOKEN = /^[A-Za-z0-9_~-]+$/;

/** Event types that would add tokens, wildcards or whitespace to a subject if used as they are. */
const HOSTILE_TYPES = [
  'a.b',
  '.',
  'a..b',
  '*',
  '>',
  'a.*',
  'a.>',
  'events.>',
  '$JS.API.STREAM.DELETE.EVENTS',
  'page view',
  ' leading and trailing ',
  'tab\there',
  'line\nbreak',
  'cr\r\nNats-Msg-Id: forged',
  'nul\u0000byte',
  'café',
  '日本語のイベント',
  'emoji 🙂👍',
  '~',
  '~2E',
  'a~b',
  '%2E',
  'ABC_def-123',
];

describe('subject tokens: any string is one safe token that decodes back', () => {
  test('encodeToken yields one safe token for every hostile type, and decodeToken reverses it', () => {
    const tokens = new Set<string>();
    for (const type of HOSTILE_TYPES) {
      const token = encodeToken(type);
      assert.match(token, SAFE_TOKEN, JSON.stringify(type));
      assert.equal(decodeToken(token), type);
      tokens.add(token);
    }
    assert.equal(tokens.size, HOSTILE_TYPES.length, 'different types never share a token');
    assert.equal(encodeToken('page_view'), 'page_view', 'plain types stay readable');
    assert.equal(encodeToken('a.b'), 'a~2Eb');
    assert.equal(encodeToken('café'), 'caf~C3~A9');
    assert.equal(encodeToken('~'), '~7E');
    assert.equal(encodeToken(''), '~');
    assert.equal(decodeToken('~'), '');
  });

  test('decodeToken refuses tokens encodeToken could not have produced', () => {
    for (const token of ['a.b', '*', '>', 'a b', '~2e', '~ZZ', '~C3', 'a~41', '~2', 'caf~C3~A9~', '']) {
      assert.equal(decodeToken(token), undefined, JSON.stringify(token));
    }
  });

  test('eventSubjects builds <prefix>.<token> and reads back only such subjects', () => {
    const subjects = eventSubjects('events');
    assert.equal(subjects.all, 'events.>');
    assert.equal(subjects.forType('a.b'), 'events.a~2Eb');
    assert.equal(subjects.typeOf('events.a~2Eb'), 'a.b');
    assert.equal(subjects.typeOf('events.a.b'), undefined, 'two tokens are not an event subject');
    assert.equal(subjects.typeOf('other.a'), undefined);
    assert.equal(subjects.typeOf('events.a~2eb'), undefined);
    assert.deepEqual(subjects.filters(['a.b', '>', 'a.b']), ['events.a~2Eb', 'events.~3E']);
    assert.deepEqual(subjects.filters([]), ['events.>']);
  });
});

describe('subject injection through track and trackBatch', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let stream: StreamInspector;
  let prefix: string;

  before(async () => {
    nats = await startNats();
    // The largest type length the settings allow, so that the longest subjects are exercised.
    pulse = await startTestPulse(testEnv(nats.url, { PULSE_MAX_TYPE_LENGTH: '256' }));
    prefix = pulse.env.PULSE_SUBJECT_PREFIX;
    stream = await inspectStream(nats.url, pulse.env.PULSE_STREAM);
  });
  after(async () => {
    await stream?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  const TRACK = `mutation($event: TrackEventInput!) { track(event: $event) { event { type cursor } } }`;
  const LONG_TYPES = ['中'.repeat(256), '.'.repeat(256), '🙂'.repeat(128), '>'.repeat(256)];

  async function assertStoredOnOneSafeToken(cursor: string, type: string) {
    const stored = await stream.get(decodeCursor(cursor) as number);
    assert.ok(stored, 'stored');
    const tokens = stored.subject.split('.');
    assert.equal(tokens.length, 2, `exactly <prefix>.<token>: ${stored.subject.slice(0, 80)}`);
    assert.equal(tokens[0], prefix);
    assert.match(tokens[1], SAFE_TOKEN);
    assert.equal(decodeToken(tokens[1]), type, 'the token decodes back to the type');
    assert.equal((stored.body as { type: string }).type, type, 'the body holds the type as sent');
  }

  test('hostile and very long types are each stored on exactly one safe token', async () => {
    for (const type of [...HOSTILE_TYPES, ...LONG_TYPES]) {
      const res = await gql(pulse.url, TRACK, { event: { type, userId: 'u' } });
      assert.equal(res.errors, undefined, `${JSON.stringify(type.slice(0, 20))}: ${JSON.stringify(res.errors)}`);
      assert.equal(res.data.track.event.type, type);
      await assertStoredOnOneSafeToken(res.data.track.event.cursor, type);
    }
  });

  test('the same holds for trackBatch, and the stream holds one subject per type', async () => {
    const before = await stream.count();
    const types = [...HOSTILE_TYPES, ...LONG_TYPES];
    const res = await gql(
      pulse.url,
      `mutation($events: [TrackEventInput!]!) { trackBatch(events: $events) { results { event { type cursor } } } }`,
      { events: types.map((type) => ({ type, anonymousId: 'a' })) },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    for (const [index, result] of res.data.trackBatch.results.entries()) {
      await assertStoredOnOneSafeToken(result.event.cursor, types[index]);
    }
    assert.equal(await stream.count(), before + types.length);

    const info = await stream.jsm.streams.info(pulse.env.PULSE_STREAM, { subjects_filter: '>' });
    const subjects = Object.keys(info.state.subjects ?? {});
    assert.equal(subjects.length, types.length, 'one subject per distinct type, nothing else');
    for (const subject of subjects) assert.equal(subject.split('.').length, 2);
  });

  test('a type longer than the bound is refused before it can reach a subject', async () => {
    const before = await stream.count();
    const res = await gql(pulse.url, TRACK, { event: { type: '中'.repeat(257), userId: 'u' } });
    assert.equal(res.errors?.[0].extensions?.code, 'BAD_USER_INPUT');
    assert.equal(await stream.count(), before);
    const ready = await fetch(`${pulse.url}/readyz`);
    assert.equal(ready.status, 200, 'the NATS connection survived the longest subjects');
  });
});
