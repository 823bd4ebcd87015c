// API keys and scopes on every transport: HTTP, SSE, WebSocket and the NATS service. Each scope
// is tried allowed and denied, with missing, malformed and unknown keys; a refused operation
// stores nothing and streams nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  askService,
  bearer,
  codesOf,
  gqlWithKey,
  keyedSocket,
  natsClient,
  runOverSocket,
} from './support/keyed-clients.js';
import { openRawSse, subscribeWs, track } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const INGEST = 'ingest-key-0001';
const READ = 'read-key-00001';
const ADMIN = 'admin-key-0001';
const BOTH = 'both-key-00001';
const KEYS = `${INGEST}=ingest,${READ}=read,${ADMIN}=admin,${BOTH}=ingest+read`;

const TRACK = 'mutation ($e: TrackEventInput!) { track(event: $e) { duplicate event { id type cursor } } }';
const BATCH = 'mutation ($es: [TrackEventInput!]!) { trackBatch(events: $es) { accepted } }';
const EVENTS = 'subscription { events { id type } }';

describe('API keys and scopes', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let stream: StreamInspector;
  let nc: NatsConnection;
  const cleanups: Array<() => Promise<void> | void> = [];

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url, { PULSE_API_KEYS: KEYS }));
    stream = await inspectStream(nats.url, pulse.env.PULSE_STREAM);
    nc = await natsClient(nats.url);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await nc?.close();
    await stream?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  /** Events the stream holds of one type. */
  async function stored(type: string): Promise<number> {
    return (await stream.messages()).filter((m) => (m.body as { type: string }).type === type).length;
  }

  describe('over HTTP', () => {
    test('track: no key, a malformed header or an unknown key is UNAUTHENTICATED (401); nothing is stored', async () => {
      const event = { e: { type: 'http-denied', userId: 'u1' } };
      const none = await gqlWithKey(pulse.url, undefined, TRACK, event);
      assert.equal(none.status, 401);
      assert.deepEqual(codesOf(none), ['UNAUTHENTICATED']);
      assert.equal(none.data, undefined);

      const unknown = await gqlWithKey(pulse.url, 'no-such-key-123', TRACK, event);
      assert.equal(unknown.status, 401);
      assert.deepEqual(codesOf(unknown), ['UNAUTHENTICATED']);

      const basic = await fetch(`${pulse.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${INGEST}` },
        body: JSON.stringify({ query: TRACK, variables: event }),
      });
      assert.equal(basic.status, 401);
      assert.deepEqual(codesOf((await basic.json()) as never), ['UNAUTHENTICATED']);

      const readOnly = await gqlWithKey(pulse.url, READ, TRACK, event);
      assert.equal(readOnly.status, 403);
      assert.deepEqual(codesOf(readOnly), ['FORBIDDEN']);
      const batchReadOnly = await gqlWithKey(pulse.url, READ, BATCH, { es: [event.e, event.e] });
      assert.equal(batchReadOnly.status, 403);
      assert.deepEqual(codesOf(batchReadOnly), ['FORBIDDEN']);

      assert.equal(await stored('http-denied'), 0);
    });

    test('track and trackBatch with an ingest, admin or ingest+read key store the events', async () => {
      for (const key of [INGEST, ADMIN, BOTH]) {
        const one = await gqlWithKey(pulse.url, key, TRACK, { e: { type: 'http-allowed', userId: 'u1' } });
        assert.equal(one.status, 200, JSON.stringify(one));
        assert.equal(one.data?.track.duplicate, false);
      }
      const batch = await gqlWithKey(pulse.url, INGEST, BATCH, {
        es: [
          { type: 'http-allowed', userId: 'u2' },
          { type: 'http-allowed', userId: 'u3' },
        ],
      });
      assert.equal(batch.data?.trackBatch.accepted, 2);
      assert.equal(await stored('http-allowed'), 5);
    });

    test('an ingest key reads nothing: no query, not even event(cursor); only its own TrackResult', async () => {
      const own = await gqlWithKey(pulse.url, INGEST, TRACK, { e: { type: 'ingest-only', userId: 'u9' } });
      const cursor = own.data?.track.event.cursor as string;
      assert.equal(own.data?.track.event.type, 'ingest-only', 'the result of its own mutation is readable');
      for (const query of [
        `{ event(cursor: "${cursor}") { id } }`,
        '{ eventTypes { type count } }',
        '{ recentEvents { id } }',
        '{ system { stream { messages } } }',
        '{ projections { name } }',
        '{ user(id: "u9") { id } }',
        'query { ...Spread } fragment Spread on Query { eventTypes { type } }',
        'query { ... on Query { system { subscribers } } }',
      ]) {
        const answer = await gqlWithKey(pulse.url, INGEST, query);
        assert.equal(answer.status, 403, query);
        assert.deepEqual(codesOf(answer), ['FORBIDDEN'], query);
        assert.equal(answer.data, undefined, query);
      }
    });

    test('queries need read (admin implies it); introspection needs a valid key of any scope', async () => {
      for (const key of [READ, ADMIN, BOTH]) {
        const answer = await gqlWithKey(pulse.url, key, '{ system { stream { name } } projections { name } }');
        assert.equal(answer.status, 200, key);
        assert.equal(answer.data?.system.stream.name, pulse.env.PULSE_STREAM);
      }
      const introspection = '{ __typename __schema { queryType { name } } }';
      for (const key of [INGEST, READ]) {
        const answer = await gqlWithKey(pulse.url, key, introspection);
        assert.equal(answer.data?.__schema.queryType.name, 'Query', key);
      }
      const anonymous = await gqlWithKey(pulse.url, undefined, introspection);
      assert.equal(anonymous.status, 401);
      assert.deepEqual(codesOf(anonymous), ['UNAUTHENTICATED']);
      const unknown = await gqlWithKey(pulse.url, 'wrong-key-0000', '{ eventTypes { type } }');
      assert.deepEqual(codesOf(unknown), ['UNAUTHENTICATED']);
    });
  });

  describe('over SSE', () => {
    test('a subscription without a key or with an ingest key is refused before it starts', async () => {
      const none = await openRawSse(pulse.url, EVENTS);
      cleanups.push(() => none.close());
      await none.waitForFrames((f) => f.some((x) => x.event === 'complete'), 'the refusal');
      assert.equal(none.status, 401);
      assert.match(none.frames[0].data, /UNAUTHENTICATED/);

      const ingest = await openRawSse(pulse.url, EVENTS, undefined, bearer(INGEST));
      cleanups.push(() => ingest.close());
      await ingest.waitForFrames((f) => f.some((x) => x.event === 'complete'), 'the refusal');
      assert.equal(ingest.status, 403);
      assert.match(ingest.frames[0].data, /FORBIDDEN/);
      await track(pulse.url, { type: 'sse-after-refusal', userId: 'u1' }).catch(() => undefined);
      assert.equal(ingest.events().length, 0);
    });

    test('a read key subscribes and receives events', async () => {
      const sse = await openRawSse(pulse.url, EVENTS, undefined, bearer(READ));
      cleanups.push(() => sse.close());
      assert.equal(sse.status, 200);
      // The subscription is attached once the first comment arrived; then an event follows live.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await gqlWithKey(pulse.url, INGEST, TRACK, { e: { type: 'sse-live', userId: 'u1' } });
      await sse.waitForFrames((f) => f.some((x) => x.event === 'next'), 'an event');
      assert.equal(sse.events()[0].type, 'sse-live');
      await sse.close();
    });
  });

  describe('over WebSocket', () => {
    test('connection_init without a key, or with an unknown one, is closed with 4401', async () => {
      for (const params of [undefined, {}, { authorization: 'Bearer not-a-real-key' }, { apiKey: 'not-a-real-key' }]) {
        const socket = keyedSocket(pulse.url, params);
        cleanups.push(() => socket.dispose());
        const closed = await socket.waitForClose();
        assert.equal(closed.code, 4401, JSON.stringify(params));
        assert.match(closed.reason, /^UNAUTHENTICATED/);
        assert.equal(socket.isConnected, false);
      }
    });

    test('an ingest key connects and may track, but every subscription and query is FORBIDDEN', async () => {
      const socket = keyedSocket(pulse.url, { authorization: `Bearer ${INGEST}` });
      cleanups.push(() => socket.dispose());
      await socket.waitForConnected();
      const tracked = await runOverSocket(socket.client, TRACK, { e: { type: 'ws-ingest', userId: 'u1' } });
      assert.equal((tracked[0].data as { track: { duplicate: boolean } }).track.duplicate, false);

      const sub = await runOverSocket(socket.client, EVENTS);
      assert.deepEqual(
        sub.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code),
        ['FORBIDDEN'],
      );
      const query = await runOverSocket(socket.client, '{ eventTypes { type } }');
      assert.deepEqual(
        query.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code),
        ['FORBIDDEN'],
      );
      assert.equal(await stored('ws-ingest'), 1);
      assert.equal(socket.closed, undefined, 'a refused operation leaves the connection open');
    });

    test('a read key (as apiKey) subscribes and receives events, and may not track', async () => {
      const socket = keyedSocket(pulse.url, { apiKey: READ });
      cleanups.push(() => socket.dispose());
      await socket.waitForConnected();
      const denied = await runOverSocket(socket.client, TRACK, { e: { type: 'ws-read-denied', userId: 'u1' } });
      assert.deepEqual(
        denied.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code),
        ['FORBIDDEN'],
      );
      const live = subscribeWs(socket.client, EVENTS);
      cleanups.push(() => live.stop());
      await new Promise((resolve) => setTimeout(resolve, 200));
      await gqlWithKey(pulse.url, INGEST, TRACK, { e: { type: 'ws-live', userId: 'u1' } });
      await live.waitForEvents(1);
      assert.equal(live.events[0].type, 'ws-live');
      assert.deepEqual(live.errors, []);
      assert.equal(await stored('ws-read-denied'), 0);
    });
  });

  describe('over the NATS service', () => {
    test('pulse.track and pulse.trackBatch need the ingest scope', async () => {
      const event = { type: 'nats-keyed', userId: 'u1' };
      const none = await askService(nc, 'pulse.track', event);
      assert.equal(none.errorCode, 401);
      assert.equal(none.body.error.code, 'UNAUTHENTICATED');
      const unknown = await askService(nc, 'pulse.track', event, { Authorization: 'Bearer nobody-at-all' });
      assert.equal(unknown.body.error.code, 'UNAUTHENTICATED');
      const readOnly = await askService(nc, 'pulse.trackBatch', [event], { Authorization: `Bearer ${READ}` });
      assert.equal(readOnly.errorCode, 403);
      assert.equal(readOnly.body.error.code, 'FORBIDDEN');
      // A body that cannot be read is refused for the key first.
      const garbled = await askService(nc, 'pulse.track', '{not json');
      assert.equal(garbled.body.error.code, 'UNAUTHENTICATED');
      assert.equal(await stored('nats-keyed'), 0);

      const one = await askService(nc, 'pulse.track', event, { Authorization: `Bearer ${INGEST}` });
      assert.equal(one.errorCode, undefined, JSON.stringify(one.body));
      const batch = await askService(nc, 'pulse.trackBatch', [event, event], { Authorization: `Bearer ${ADMIN}` });
      assert.equal(batch.body.accepted, 2);
      assert.equal(await stored('nats-keyed'), 3);
    });

    test('pulse.graphql applies the same scopes as HTTP', async () => {
      const query = { query: '{ eventTypes { type } }' };
      const none = await askService(nc, 'pulse.graphql', query);
      assert.equal(none.errorCode, 401);
      assert.deepEqual(codesOf(none.body), ['UNAUTHENTICATED']);
      const ingest = await askService(nc, 'pulse.graphql', query, { Authorization: `Bearer ${INGEST}` });
      assert.equal(ingest.errorCode, 403);
      assert.deepEqual(codesOf(ingest.body), ['FORBIDDEN']);
      const read = await askService(nc, 'pulse.graphql', query, { Authorization: `Bearer ${READ}` });
      assert.equal(read.errorCode, undefined);
      assert.ok(Array.isArray(read.body.data.eventTypes));

      const mutation = { query: TRACK, variables: { e: { type: 'nats-graphql', userId: 'u1' } } };
      const denied = await askService(nc, 'pulse.graphql', mutation, { Authorization: `Bearer ${READ}` });
      assert.deepEqual(codesOf(denied.body), ['FORBIDDEN']);
      const allowed = await askService(nc, 'pulse.graphql', mutation, { Authorization: `Bearer ${INGEST}` });
      assert.equal(allowed.body.data.track.duplicate, false);
      assert.equal(await stored('nats-graphql'), 1);
    });
  });
});
