// Abuse limits, each tripped with its error code, then the server shown healthy: document bounds
// (tokens, depth, aliases, directives, cost), body size, batch and properties size, per-key
// event and subscription rates (with recovery after the refill), live connections per key.
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
import { openRawSse, subscribeWs } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const KEY = 'limits-key-0001';
const OTHER = 'limits-key-0002';
const NATS_KEY = 'limits-key-0003';
const SUBSCRIBER = 'limits-key-0004';
const HOLDER = 'limits-key-0005';
const BATCHER = 'limits-key-0006';
const FATTER = 'limits-key-0007';
const KEYS = [KEY, OTHER, NATS_KEY, SUBSCRIBER, HOLDER, BATCHER, FATTER].map((k) => `${k}=admin`).join(',');

const TRACK = 'mutation ($e: TrackEventInput!) { track(event: $e) { duplicate } }';
const BATCH = 'mutation ($es: [TrackEventInput!]!) { trackBatch(events: $es) { accepted } }';
const EVENTS = 'subscription { events { id } }';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('abuse limits', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let stream: StreamInspector;
  let nc: NatsConnection;
  const cleanups: Array<() => Promise<void> | void> = [];

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(
      testEnv(nats.url, {
        PULSE_API_KEYS: KEYS,
        PULSE_MAX_TOKENS: '300',
        PULSE_MAX_DEPTH: '4',
        PULSE_MAX_ALIASES: '3',
        PULSE_MAX_DIRECTIVES: '3',
        PULSE_MAX_COST: '200',
        PULSE_MAX_BODY: '64KiB',
        PULSE_MAX_BATCH: '50',
        PULSE_MAX_PROPERTIES_BYTES: '1KiB',
        // Slow enough that the refill while a batch is published stays below one event.
        PULSE_RATE_LIMIT_EVENTS: '2',
        PULSE_RATE_LIMIT_EVENTS_BURST: '20',
        PULSE_RATE_LIMIT_SUBSCRIPTIONS: '4',
        PULSE_RATE_LIMIT_SUBSCRIPTIONS_BURST: '3',
        PULSE_MAX_CONNECTIONS_PER_KEY: '2',
      }),
    );
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

  async function assertHealthy(): Promise<void> {
    assert.equal((await fetch(`${pulse.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${pulse.url}/readyz`)).status, 200);
    const answer = await gqlWithKey(pulse.url, OTHER, '{ system { nats { connected } } }');
    assert.equal(answer.data?.system.nats.connected, true, JSON.stringify(answer));
  }

  describe('documents', () => {
    const cases: Array<{ bound: string; setting: string; query: string }> = [
      { bound: 'maxTokens', setting: 'PULSE_MAX_TOKENS', query: `{ ${'__typename '.repeat(400)}}` },
      {
        bound: 'maxDepth',
        setting: 'PULSE_MAX_DEPTH',
        query: '{ __type(name: "Query") { fields { type { ofType { ofType { name } } } } } }',
      },
      {
        bound: 'maxAliases',
        setting: 'PULSE_MAX_ALIASES',
        query: '{ a: eventTypes { type } b: eventTypes { type } c: eventTypes { type } d: eventTypes { type } }',
      },
      {
        bound: 'maxDirectives',
        setting: 'PULSE_MAX_DIRECTIVES',
        query: '{ eventTypes @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) { type } }',
      },
      {
        bound: 'maxCost',
        setting: 'PULSE_MAX_COST',
        query: '{ recentEvents(last: 50) { id type userId anonymousId properties occurredAt receivedAt cursor } }',
      },
    ];

    for (const { bound, setting, query } of cases) {
      test(`a document over ${bound} is refused with LIMIT_EXCEEDED naming ${setting}`, async () => {
        const answer = await gqlWithKey(pulse.url, KEY, query);
        const limit = answer.errors?.find((e) => e.extensions?.code === 'LIMIT_EXCEEDED');
        assert.ok(limit, JSON.stringify(answer));
        assert.equal(limit.extensions?.limit, bound);
        assert.equal(limit.extensions?.setting, setting);
        assert.equal(answer.data ?? undefined, undefined);
        await assertHealthy();
      });
    }

    test('the same bounds apply over WebSocket', async () => {
      const socket = keyedSocket(pulse.url, { apiKey: KEY });
      cleanups.push(() => socket.dispose());
      await socket.waitForConnected();
      const results = await runOverSocket(socket.client, `{ ${'__typename '.repeat(400)}}`);
      const errors = results.flatMap((r) => r.errors ?? []);
      assert.equal(errors[0]?.extensions?.code, 'LIMIT_EXCEEDED', JSON.stringify(results));
      assert.equal(errors[0]?.extensions?.setting, 'PULSE_MAX_TOKENS');
      assert.equal(socket.closed, undefined);
    });
  });

  describe('bodies, batches and properties', () => {
    test('a body over PULSE_MAX_BODY is answered 413 REQUEST_ENTITY_TOO_LARGE', async () => {
      const events = Array.from({ length: 40 }, (_, i) => ({
        type: 'big',
        userId: `u${i}`,
        properties: { pad: 'x'.repeat(2000) },
      }));
      const res = await fetch(`${pulse.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(KEY) },
        body: JSON.stringify({ query: BATCH, variables: { es: events } }),
      });
      assert.equal(res.status, 413);
      const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
      assert.equal(body.errors[0].extensions.code, 'REQUEST_ENTITY_TOO_LARGE');
      await assertHealthy();
    });

    test('a batch over PULSE_MAX_BATCH and properties over PULSE_MAX_PROPERTIES_BYTES are BAD_USER_INPUT', async () => {
      const many = Array.from({ length: 51 }, (_, i) => ({ type: 'many', userId: `u${i}` }));
      const batch = await gqlWithKey(pulse.url, BATCHER, BATCH, { es: many });
      assert.deepEqual(codesOf(batch), ['BAD_USER_INPUT']);
      const fat = await gqlWithKey(pulse.url, FATTER, TRACK, {
        e: { type: 'fat', userId: 'u', properties: { pad: 'y'.repeat(1100) } },
      });
      assert.deepEqual(codesOf(fat), ['BAD_USER_INPUT']);
      // The batch was charged before it was validated: it left the key in debt.
      const after = await gqlWithKey(pulse.url, BATCHER, TRACK, { e: { type: 'many', userId: 'u' } });
      assert.deepEqual(codesOf(after), ['RATE_LIMITED']);
      const messages = await stream.messages();
      assert.equal(messages.filter((m) => ['many', 'fat'].includes((m.body as { type: string }).type)).length, 0);
      await assertHealthy();
    });
  });

  describe('per-key rates', () => {
    test('events: a trackBatch of n costs n; past the rate RATE_LIMITED with Retry-After, then the refill lets it through', async () => {
      const twenty = Array.from({ length: 20 }, (_, i) => ({ type: 'rated', userId: `u${i}` }));
      const full = await gqlWithKey(pulse.url, KEY, BATCH, { es: twenty });
      assert.equal(full.data?.trackBatch.accepted, 20, JSON.stringify(full));

      const res = await fetch(`${pulse.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(KEY) },
        body: JSON.stringify({ query: TRACK, variables: { e: { type: 'rated', userId: 'late' } } }),
      });
      assert.equal(res.status, 429);
      const refused = (await res.json()) as { errors: Array<{ extensions: { code: string; retryAfterMs: number } }> };
      assert.equal(refused.errors[0].extensions.code, 'RATE_LIMITED');
      const retryAfterMs = refused.errors[0].extensions.retryAfterMs;
      assert.ok(retryAfterMs > 0 && retryAfterMs <= 500, `one event at 2/s: ${retryAfterMs} ms`);
      assert.equal(res.headers.get('retry-after'), '1');

      // Another key has a bucket of its own.
      const other = await gqlWithKey(pulse.url, OTHER, TRACK, { e: { type: 'rated', userId: 'other' } });
      assert.equal(other.data?.track.duplicate, false);

      await sleep(retryAfterMs + 20);
      const later = await gqlWithKey(pulse.url, KEY, TRACK, { e: { type: 'rated', userId: 'late' } });
      assert.equal(later.data?.track.duplicate, false, JSON.stringify(later));
      const rated = (await stream.messages()).filter((m) => (m.body as { type: string }).type === 'rated');
      assert.equal(rated.length, 22, '20 + the other key + the one after the refill');
      await assertHealthy();
    });

    test('events over the NATS service share the same per-key rate', async () => {
      const twenty = Array.from({ length: 20 }, (_, i) => ({ type: 'nats-rated', userId: `u${i}` }));
      const auth = { Authorization: `Bearer ${NATS_KEY}` };
      const full = await askService(nc, 'pulse.trackBatch', twenty, auth);
      assert.equal(full.body.accepted, 20);
      const refused = await askService(nc, 'pulse.track', { type: 'nats-rated', userId: 'x' }, auth);
      assert.equal(refused.errorCode, 429);
      assert.equal(refused.body.error.code, 'RATE_LIMITED');
      assert.ok(refused.body.error.retryAfterMs > 0);
      // HTTP spends from the same bucket.
      const overHttp = await gqlWithKey(pulse.url, NATS_KEY, TRACK, { e: { type: 'nats-rated', userId: 'y' } });
      assert.deepEqual(codesOf(overHttp), ['RATE_LIMITED']);
      await sleep(refused.body.error.retryAfterMs + 20);
      const later = await askService(nc, 'pulse.track', { type: 'nats-rated', userId: 'x' }, auth);
      assert.equal(later.errorCode, undefined, JSON.stringify(later.body));
    });

    test('subscriptions: past the burst RATE_LIMITED, then the refill lets a new one open', async () => {
      const socket = keyedSocket(pulse.url, { apiKey: SUBSCRIBER });
      cleanups.push(() => socket.dispose());
      await socket.waitForConnected();
      const open = [1, 2, 3].map(() => subscribeWs(socket.client, EVENTS));
      for (const sub of open) cleanups.push(() => sub.stop());
      const fourth = await runOverSocket(socket.client, EVENTS);
      const refusal = fourth.flatMap((r) => r.errors ?? [])[0];
      assert.equal(refusal?.extensions?.code, 'RATE_LIMITED', JSON.stringify(fourth));
      const retryAfterMs = refusal.extensions?.retryAfterMs as number;
      assert.ok(retryAfterMs > 0 && retryAfterMs <= 250, `one subscription at 4/s: ${retryAfterMs} ms`);
      assert.deepEqual(
        open.flatMap((s) => s.errors),
        [],
        'the first three are open',
      );
      await sleep(retryAfterMs + 20);
      const fifth = subscribeWs(socket.client, EVENTS);
      cleanups.push(() => fifth.stop());
      await sleep(300);
      await gqlWithKey(pulse.url, OTHER, TRACK, { e: { type: 'after-refill', userId: 'u' } });
      await fifth.waitForEvents(1);
      assert.deepEqual(fifth.errors, []);
    });
  });

  describe('live connections per key', () => {
    test('WebSocket connections and SSE streams count together; one more is refused with LIMIT_EXCEEDED', async () => {
      const socket = keyedSocket(pulse.url, { apiKey: HOLDER });
      cleanups.push(() => socket.dispose());
      await socket.waitForConnected();
      const sse = await openRawSse(pulse.url, EVENTS, undefined, bearer(HOLDER));
      cleanups.push(() => sse.close());
      assert.equal(sse.status, 200);

      const thirdSse = await openRawSse(pulse.url, EVENTS, undefined, bearer(HOLDER));
      cleanups.push(() => thirdSse.close());
      await thirdSse.waitForFrames((f) => f.some((x) => x.event === 'complete'), 'the refusal');
      assert.equal(thirdSse.status, 429);
      const refusal = JSON.parse(thirdSse.frames[0].data) as { errors: Array<{ extensions: Record<string, unknown> }> };
      assert.equal(refusal.errors[0].extensions.code, 'LIMIT_EXCEEDED');
      assert.equal(refusal.errors[0].extensions.setting, 'PULSE_MAX_CONNECTIONS_PER_KEY');

      const thirdSocket = keyedSocket(pulse.url, { apiKey: HOLDER });
      cleanups.push(() => thirdSocket.dispose());
      const closed = await thirdSocket.waitForClose();
      assert.equal(closed.code, 1013);
      assert.match(closed.reason, /^LIMIT_EXCEEDED/);

      // Giving one back makes room.
      await sse.close();
      await sleep(300);
      const again = await openRawSse(pulse.url, EVENTS, undefined, bearer(HOLDER));
      cleanups.push(() => again.close());
      assert.equal(again.status, 200);
      await sleep(300);
      await gqlWithKey(pulse.url, OTHER, TRACK, { e: { type: 'room-again', userId: 'u' } });
      await again.waitForFrames((f) => f.some((x) => x.event === 'next'), 'an event');
      await again.close();
      await assertHealthy();
    });
  });
});
