// Hostile input over NATS: raw garbage published straight onto event subjects with a plain NATS
// client (it must never reach subscribers or read models as events: the projector dead-letters
// it, the live feed skips and counts it), and garbage bodies sent to the NATS service endpoints
// (each answered with Nats-Service-Error and a JSON error body). FUZZ_SEED=<seed> replays a run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import fc from 'fast-check';
import { loadSettings } from '../src/config/index.js';
import { decodeEvent } from '../src/events/index.js';
import { type EventSubjects, encodeToken, eventSubjects } from '../src/nats/index.js';
import { DEAD_LETTER_HEADERS } from '../src/projections/index.js';
import { gql } from './support/graphql.js';
import {
  assertHealthy,
  checkResult,
  fuzzParameters,
  leakIn,
  readMetric,
  Tally,
  waitFor,
} from './support/hostile-input.js';
import { type Collected, subscribeSse, subscribeWs, wsClient } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

/** One message to publish onto the event stream, and whether it is an event. */
interface Publication {
  kind: string;
  /** The subject's type token, or a whole subject after the prefix when `rawSubject`. */
  token: string;
  body: Buffer;
  isEvent: boolean;
  msgId?: string;
}

const TYPES = ['page view', 'signup', 'a.b', 'x*>'];
const textOf = (value: unknown) => Buffer.from(JSON.stringify(value));
// Text built as text: a nesting this deep would overflow JSON.stringify in the test itself.
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

let validSerial = 0;
const validEvent: fc.Arbitrary<Publication> = fc
  .record({
    type: fc.constantFrom(...TYPES),
    userId: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }).filter((s) => s.trim() !== ''),
    properties: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  })
  .map(({ type, userId, properties }) => {
    const id = `raw-${process.pid}-${validSerial++}`;
    const now = new Date().toISOString();
    return {
      kind: 'valid event',
      token: encodeToken(type),
      body: textOf({ id, type, userId, anonymousId: null, properties, occurredAt: now, receivedAt: now }),
      isEvent: true,
      msgId: id,
    };
  });

const base = { type: 'garbage', userId: 'u1' };
// Each of these is no event by construction; the test checks decodeEvent agrees before sending.
const garbage: fc.Arbitrary<Publication> = fc.oneof(
  fc
    .string({ unit: 'binary', maxLength: 60 })
    .map((text) => ({ kind: 'not JSON', token: 'garbage', body: Buffer.from(`\u0001${text}`), isEvent: false })),
  fc.uint8Array({ maxLength: 60 }).map((bytes) => ({
    kind: 'not UTF-8',
    token: 'garbage',
    body: Buffer.concat([Buffer.from([0xff]), bytes]),
    isEvent: false,
  })),
  fc
    .array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 })
    .map((items) => ({ kind: 'a JSON array', token: 'garbage', body: textOf(items), isEvent: false })),
  fc
    .oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.boolean(), fc.constant(null))
    .map((value) => ({ kind: 'a JSON scalar', token: 'garbage', body: textOf(value), isEvent: false })),
  fc
    .record({
      field: fc.constantFrom('type', 'userId', 'anonymousId', 'properties', 'occurredAt', 'receivedAt', 'id'),
      value: fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({ x: 1 })),
    })
    .map(({ field, value }) => {
      // A number, boolean, list or object where a string (or, for properties, an object) goes.
      const bad = field === 'properties' && typeof value === 'object' && !Array.isArray(value) ? 5 : value;
      return {
        kind: `wrong type of ${field}`,
        token: 'garbage',
        body: textOf({ ...base, [field]: bad }),
        isEvent: false,
      };
    }),
  fc
    .constantFrom(
      { ...base, userId: null, anonymousId: null },
      { ...base, userId: '' },
      { ...base, id: 'a\u0000b' },
      { ...base, occurredAt: 'yesterday' },
      { ...base, type: '' },
    )
    .map((body) => ({
      kind: 'an invalid value',
      token: encodeToken(String(body.type)),
      body: textOf(body),
      isEvent: false,
    })),
  fc.constantFrom(...TYPES).map((type) => ({
    kind: 'body and subject types differ',
    token: encodeToken(`${type}-other`),
    body: textOf({ ...base, type }),
    isEvent: false,
  })),
  fc
    .constantFrom('garbage.extra', '~ZZ', '~2', '%41', 'garbage.>')
    .map((token) => ({ kind: 'a subject that names no type', token, body: textOf(base), isEvent: false })),
  fc.integer({ min: 33, max: 5_000 }).map((depth) => ({
    kind: 'properties nested too deep',
    token: 'garbage',
    body: Buffer.from(`{"type":"garbage","userId":"u1","properties":${nested(depth)}}`),
    isEvent: false,
  })),
  fc.integer({ min: 100_000, max: 900_000 }).map((size) => ({
    kind: 'huge',
    token: 'garbage',
    body: Buffer.from(`{"type":"garbage","userId":12345,"pad":"${'p'.repeat(size)}"}`),
    isEvent: false,
  })),
);

function isEventInWireFormat(p: Publication, subjects: EventSubjects, subject: string): boolean {
  try {
    decodeEvent({ subject, data: p.body, seq: 1, timestampMs: Date.now(), msgId: p.msgId }, subjects.typeOf);
    return true;
  } catch {
    return false;
  }
}

describe('hostile input over NATS: garbage never becomes an event', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let subjects: EventSubjects;
  let stream: string;
  let deadLetterStream: string;

  before(async () => {
    nats = await startNats();
    const env = testEnv(nats.url);
    pulse = await startTestPulse(env);
    const settings = loadSettings(env);
    subjects = eventSubjects(settings.stream.subjectPrefix);
    stream = settings.stream.name;
    deadLetterStream = settings.projections.deadLetterStream;
    nc = await connect({ servers: nats.url, name: 'hostile-publisher' });
    js = jetstream(nc);
  });
  after(async () => {
    await nc?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  test('raw garbage on event subjects is dead-lettered by the projector and skipped by the live feed', async () => {
    const tally = new Tally('nats: raw garbage on event subjects');
    const client = wsClient(pulse.url, { isLazy: false });
    const started = new Date(Date.now() - 1000).toISOString();
    const viaWs = subscribeWs(client, 'subscription { events { id type } }');
    const viaSse = subscribeSse(pulse.url, 'subscription { events { id type } }');
    let replay: Collected | undefined;
    try {
      await waitFor('both live subscriptions', async () => {
        const ws = await readMetric(pulse.url, /^pulse_live_subscribers\{transport="ws"\} (\d+)$/m);
        const sse = await readMetric(pulse.url, /^pulse_live_subscribers\{transport="sse"\} (\d+)$/m);
        return ws >= 1 && sse >= 1;
      });
      const sent = new Map<number, Publication & { subject: string }>();
      const validIds: string[] = [];
      await fc.assert(
        fc.asyncProperty(
          fc.oneof({ weight: 1, arbitrary: validEvent }, { weight: 4, arbitrary: garbage }),
          async (p) => {
            const subject = `${subjects.prefix}.${p.token}`;
            assert.equal(isEventInWireFormat(p, subjects, subject), p.isEvent, `${p.kind}: ${p.body.subarray(0, 200)}`);
            const h = natsHeaders();
            if (p.msgId) h.set('Nats-Msg-Id', p.msgId);
            tally.sent++;
            const ack = await js.publish(subject, p.body, { headers: h, timeout: 10_000 });
            sent.set(ack.seq, { ...p, subject });
            tally.count(tally.kinds, p.kind);
            if (p.isEvent) validIds.push(p.msgId as string);
          },
        ),
        fuzzParameters(1000),
      );
      const lastSeq = Math.max(...sent.keys());
      const garbageCount = [...sent.values()].filter((p) => !p.isEvent).length;

      // The projector reaches the end of the stream: every event applied, every other message a dead letter.
      let status: { position: number; deadLetters: number; applied: number } | undefined;
      await waitFor('the projector at the end of the stream', async () => {
        const res = await gql(pulse.url, '{ projections { position deadLetters applied } }');
        status = res.data?.projections?.[0];
        return status?.position === lastSeq;
      });
      assert.deepEqual(status, { position: lastSeq, deadLetters: garbageCount, applied: validIds.length });

      // Each dead letter: the original bytes, where they came from, and why.
      const jsm = await jetstreamManager(nc);
      const letters = (await jsm.streams.info(deadLetterStream)).state;
      assert.equal(letters.messages, garbageCount, 'one dead letter per message that is no event');
      for (let seq = letters.first_seq; seq <= letters.last_seq; seq++) {
        const letter = await jsm.streams.getMessage(deadLetterStream, { seq });
        assert.ok(letter);
        const from = Number(letter.header.get(DEAD_LETTER_HEADERS.sequence));
        const original = sent.get(from);
        assert.ok(original && !original.isEvent, `dead letter ${seq} names garbage (seq ${from})`);
        assert.equal(letter.header.get(DEAD_LETTER_HEADERS.subject), original.subject);
        assert.equal(letter.header.get(DEAD_LETTER_HEADERS.stream), stream);
        assert.notEqual(letter.header.get(DEAD_LETTER_HEADERS.reason), '');
        assert.ok(Buffer.from(letter.data).equals(original.body), `dead letter ${seq} holds the original bytes`);
        tally.count(tally.codes, 'dead-lettered');
      }

      // Live subscribers got the events and nothing else; so does a replay from before the first.
      replay = subscribeSse(pulse.url, 'subscription($since: DateTime) { events(since: $since) { id type } }', {
        since: started,
      });
      for (const [name, live] of [
        ['ws', viaWs],
        ['sse', viaSse],
        ['sse replay', replay],
      ] as const) {
        await live.waitForEvents(validIds.length, 30_000);
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.deepEqual(
          live.events.map((e) => e.id),
          validIds,
          `${name}: exactly the events, in order`,
        );
        assert.deepEqual(live.errors, [], name);
        tally.count(tally.kinds, `delivered over ${name}`, live.events.length);
      }
      assert.equal(await readMetric(pulse.url, /^pulse_live_malformed_messages_total (\d+)$/m), garbageCount);
      assert.equal(await readMetric(pulse.url, /^pulse_projector_dead_letters_total (\d+)$/m), garbageCount);

      // The read models hold only the events' types and counts.
      const types = await gql(pulse.url, '{ eventTypes { type count } }');
      assert.equal(types.errors, undefined);
      const counted = types.data.eventTypes as Array<{ type: string; count: number }>;
      assert.ok(
        counted.every((t) => TYPES.includes(t.type)),
        JSON.stringify(counted),
      );
      assert.equal(
        counted.reduce((sum, t) => sum + t.count, 0),
        validIds.length,
      );
      tally.answered = tally.sent;
      tally.stored = validIds.length;
    } finally {
      viaWs.stop();
      viaSse.stop();
      replay?.stop();
      await client.dispose();
    }
    await assertHealthy(pulse.url);
    tally.print();
  });

  test('the NATS service endpoints answer garbage with Nats-Service-Error and a JSON error body', async () => {
    const tally = new Tally('nats: service endpoints with garbage bodies');
    const jsm = await jetstreamManager(nc);
    const storedBefore = (await jsm.streams.info(stream)).state.messages;
    const notJson = fc.oneof(
      fc.constant(Buffer.alloc(0)),
      fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.concat([Buffer.from([0xff]), bytes])),
      fc.string({ unit: 'binary', maxLength: 80 }).map((text) => Buffer.from(`\u0001${text}`)),
      fc.constant(Buffer.from('{"type":')),
    );
    const scalar = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.boolean(), fc.constant(null)).map(textOf);
    // An unknown field makes any event invalid, whatever else it holds.
    const badEvent = fc
      .tuple(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), fc.nat())
      .map(([fields, n]) => ({ ...fields, [`unknown${n}`]: 1 }));
    const deep = fc.integer({ min: 33, max: 20_000 }).map((depth) => Buffer.from(nested(depth)));
    const huge = fc.integer({ min: 100_000, max: 900_000 }).map((size) => textOf({ pad: 'p'.repeat(size) }));
    const bodies = {
      track: fc.oneof(
        notJson,
        scalar,
        deep,
        huge,
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }).map(textOf),
        badEvent.map(textOf),
        fc
          .record({ type: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())), userId: fc.string() })
          .map(textOf),
        fc.oneof(scalar, fc.constant('[]')).map((event) => Buffer.from(`{"event":${event}}`)),
        fc.constant(textOf({ event: { type: 'x', userId: 'u' }, sentAt: 'not a time' })),
        fc.constant(textOf({ event: { type: 'x', userId: 'u' }, extra: 1 })),
      ),
      trackBatch: fc.oneof(
        notJson,
        scalar,
        deep,
        huge,
        fc.array(fc.oneof(badEvent, fc.integer(), fc.constant(null)), { minLength: 1, maxLength: 4 }).map(textOf),
        fc
          .jsonValue({ maxDepth: 2 })
          .filter((v) => !Array.isArray(v))
          .map((events) => textOf({ events })),
        fc.constant(textOf({ events: [{ type: 'x', userId: 'u' }], extra: 1 })),
        fc.constant(textOf({ events: [{ type: 'x', userId: 'u' }], sentAt: 5 })),
      ),
      graphql: fc.oneof(
        notJson,
        scalar,
        deep,
        huge,
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }).map(textOf),
        fc
          .dictionary(
            fc.string({ maxLength: 8 }).filter((k) => k !== 'query'),
            fc.jsonValue({ maxDepth: 2 }),
            { maxKeys: 3 },
          )
          .map(textOf),
        fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())).map((query) => textOf({ query })),
        fc.constantFrom(
          textOf({ query: 'mutation {' }),
          textOf({ query: '{ nope }' }),
          textOf({ query: 'subscription { events { id } }' }),
          textOf({ query: 'mutation($e: TrackEventInput!) { track(event: $e) { duplicate } }', variables: { e: 5 } }),
          textOf({ query: 'mutation { track(event: { type: "x" }) { duplicate } }' }),
          textOf({ query: `{${'a{'.repeat(3000)}b${'}'.repeat(3000)}}` }),
          textOf({ query: `{ ${Array.from({ length: 3000 }, (_, i) => `a${i}: __typename`).join(' ')} }` }),
          textOf({ query: '{ __typename }', variables: [1] }),
        ),
      ),
    };
    const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
    const request = fc.oneof(
      ...(Object.keys(bodies) as Array<keyof typeof bodies>).map((endpoint) =>
        fc.record({
          endpoint: fc.constant(endpoint),
          body: bodies[endpoint],
          authorization: fc.option(printable, { nil: undefined }),
          requestId: fc.option(printable, { nil: undefined }),
        }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ endpoint, body, authorization, requestId }) => {
        const context = `pulse.${endpoint} ${JSON.stringify(body.subarray(0, 200).toString())} (${body.length} bytes)`;
        const h = natsHeaders();
        if (authorization !== undefined) h.set('Authorization', authorization);
        if (requestId !== undefined) h.set('X-Request-Id', requestId);
        tally.sent++;
        const reply = await nc.request(`pulse.${endpoint}`, body, { timeout: 10_000, headers: h });
        tally.answered++;
        const description = reply.headers?.get('Nats-Service-Error') ?? '';
        const status = Number(reply.headers?.get('Nats-Service-Error-Code'));
        assert.notEqual(description, '', `${context}: no Nats-Service-Error header`);
        assert.ok(status >= 400 && status < 500, `${context}: Nats-Service-Error-Code ${status}`);
        assert.equal(leakIn(description), undefined, `${context}: ${description}`);
        tally.count(tally.statuses, `${endpoint} ${status}`);
        const json = JSON.parse(reply.string()) as { error?: { code?: unknown; message?: unknown }; errors?: unknown };
        const codes =
          endpoint === 'graphql'
            ? checkResult(json, `${context} -> ${reply.string().slice(0, 300)}`)
            : // track and trackBatch answer { error: { code, message, ...details } }.
              checkResult(
                { errors: [{ message: json.error?.message, extensions: json.error }] },
                `${context} -> ${reply.string().slice(0, 300)}`,
              );
        for (const code of codes) tally.count(tally.codes, code);
      }),
      fuzzParameters(1500),
    );
    assert.equal((await jsm.streams.info(stream)).state.messages, storedBefore, 'nothing was stored');
    await assertHealthy(pulse.url);
    tally.print();
  });
});
