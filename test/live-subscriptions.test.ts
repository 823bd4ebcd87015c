import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import type { Client } from 'graphql-ws';
import {
  EVENT_FIELDS,
  metrics,
  metricValue,
  openRawSse,
  seqOf,
  subscribeSse,
  subscribeWs,
  track,
  trackInOrder,
  waitUntil,
  wsClient,
} from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const EVENTS = `subscription ($filter: EventFilter, $after: String, $since: DateTime) {
  events(filter: $filter, after: $after, since: $since) { ${EVENT_FIELDS} }
}`;

let nats: TestNats;
let nc: NatsConnection;
before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc?.close();
  await nats?.destroy();
});

type Pulse = Awaited<ReturnType<typeof startTestPulse>>;

/** Pulse in process with its own stream; stopped after the suite. */
function pulseFor(overrides: Record<string, string> = {}): { get: () => Pulse; clients: Client[] } {
  let pulse: Pulse | undefined;
  const clients: Client[] = [];
  before(async () => {
    pulse = await startTestPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off', ...overrides }));
  });
  after(async () => {
    for (const client of clients) await client.dispose();
    await pulse?.close();
  });
  return { get: () => pulse as Pulse, clients };
}

describe('new events, filters and order', () => {
  const p = pulseFor();

  test('with no position a subscription gets only events stored after it began, in stream order', async () => {
    const url = p.get().url;
    await trackInOrder(url, [{ type: 'old', userId: 'u1' }]);
    const client = wsClient(url);
    p.clients.push(client);
    const sub = subscribeWs(client, EVENTS);
    const sse = subscribeSse(url, EVENTS);
    // Both are open once a probe tracked after them arrives; the tracked events are checked after that.
    for (let i = 0; i < 50 && (sub.events.length === 0 || sse.events.length === 0); i++) {
      await track(url, { type: 'probe', userId: 'u1' });
      await new Promise((r) => setTimeout(r, 50));
    }
    const tracked = await trackInOrder(
      url,
      Array.from({ length: 30 }, (_, i) => ({ type: `t${i % 3}`, userId: `u${i % 2}`, properties: { i } })),
    );
    await waitUntil('all tracked events over WebSocket', () => sub.events.some((e) => e.id === tracked[29].id));
    await waitUntil('all tracked events over SSE', () => sse.events.some((e) => e.id === tracked[29].id));
    for (const got of [sub.events, sse.events]) {
      assert.ok(!got.some((e) => e.type === 'old'), 'an event stored before the subscription is not sent');
      const seqs = got.map((e) => seqOf(e.cursor));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'stream order',
      );
      assert.equal(new Set(seqs).size, seqs.length, 'no duplicates');
      const fromTracked = got.filter((e) => e.type !== 'probe');
      assert.deepEqual(
        fromTracked.map((e) => e.id),
        tracked.map((e) => e.id),
      );
    }
    sub.stop();
    sse.stop();
  });

  test('filters by types, userId and anonymousId, every given field matching', async () => {
    const url = p.get().url;
    const client = wsClient(url);
    p.clients.push(client);
    const filters = {
      oneType: { types: ['click'] },
      twoTypes: { types: ['click', 'view'] },
      user: { userId: 'alice' },
      anon: { anonymousId: 'anon-1' },
      typeAndUser: { types: ['click'], userId: 'alice' },
      nothing: { types: ['click'], anonymousId: 'nobody' },
    };
    const subs = Object.fromEntries(
      Object.entries(filters).map(([name, filter]) => [name, subscribeWs(client, EVENTS, { filter })]),
    );
    const sseTyped = subscribeSse(url, EVENTS, { filter: filters.typeAndUser });
    await new Promise((r) => setTimeout(r, 300));
    const tracked = await trackInOrder(url, [
      { type: 'click', userId: 'alice' },
      { type: 'view', userId: 'bob' },
      { type: 'click', anonymousId: 'anon-1' },
      { type: 'buy', userId: 'alice', anonymousId: 'anon-1' },
      { type: 'view', userId: 'alice' },
      { type: 'click', userId: 'bob' },
      { type: 'end', userId: 'zed' },
    ]);
    const ids = (indexes: number[]) => indexes.map((i) => tracked[i].id);
    const expected: Record<string, string[]> = {
      oneType: ids([0, 2, 5]),
      twoTypes: ids([0, 1, 2, 4, 5]),
      user: ids([0, 3, 4]),
      anon: ids([2, 3]),
      typeAndUser: ids([0]),
      nothing: [],
    };
    for (const [name, sub] of Object.entries(subs)) {
      if (expected[name].length > 0) await sub.waitForEvents(expected[name].length);
    }
    await sseTyped.waitForEvents(1);
    // The last event matches no filter but "nothing"'s neighbours; give stragglers a moment to show.
    await new Promise((r) => setTimeout(r, 200));
    for (const [name, sub] of Object.entries(subs)) {
      assert.deepEqual(
        sub.events.map((e) => e.id),
        expected[name],
        name,
      );
      sub.stop();
    }
    assert.deepEqual(
      sseTyped.events.map((e) => e.id),
      expected.typeAndUser,
    );
    sseTyped.stop();
  });
});

describe('resuming from a position', () => {
  // Small pages make the replay take many reads, so that events tracked meanwhile cross the switch.
  const p = pulseFor({ PULSE_LIVE_REPLAY_PAGE: '4' });

  async function resumeWhileTracking(transport: 'ws' | 'sse', position: 'after' | 'since'): Promise<void> {
    const url = p.get().url;
    const tag = `${transport}-${position}`;
    const first = await trackInOrder(
      url,
      Array.from({ length: 40 }, (_, i) => ({ type: i % 4 === 0 ? 'other' : tag, userId: 'r', properties: { i } })),
    );
    const startAt = first[10];
    const variables =
      position === 'after'
        ? { filter: { types: [tag] }, after: startAt.cursor }
        : { filter: { types: [tag] }, since: startAt.receivedAt };
    const client = transport === 'ws' ? wsClient(url) : undefined;
    if (client) p.clients.push(client);
    const sub = client ? subscribeWs(client, EVENTS, variables) : subscribeSse(url, EVENTS, variables);
    // Tracked while the subscription replays: they arrive either through the replay or live.
    const during = await trackInOrder(
      url,
      Array.from({ length: 40 }, (_, i) => ({
        type: i % 4 === 0 ? 'other' : tag,
        userId: 'r',
        properties: { i: 40 + i },
      })),
    );
    const all = [...first, ...during];
    const fromIndex = position === 'after' ? 11 : 10;
    const expected = all.slice(fromIndex).filter((e) => e.type === tag);
    await sub.waitForEvents(expected.length);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(sub.errors, []);
    assert.equal(sub.events.length, expected.length, 'exactly the matching events: none missing, none twice');
    assert.deepEqual(
      sub.events.map((e) => e.id),
      expected.map((e) => e.id),
      'in stream order',
    );
    sub.stop();
  }

  test('after: every matching event after the cursor, then live, across the switch (WebSocket)', () =>
    resumeWhileTracking('ws', 'after'));
  test('after: every matching event after the cursor, then live, across the switch (SSE)', () =>
    resumeWhileTracking('sse', 'after'));
  test('since: every matching event received at or after the time, then live (WebSocket)', () =>
    resumeWhileTracking('ws', 'since'));
  test('since: every matching event received at or after the time, then live (SSE)', () =>
    resumeWhileTracking('sse', 'since'));

  test('a cursor the feed already reached starts live right after it', async () => {
    const url = p.get().url;
    const client = wsClient(url);
    p.clients.push(client);
    const [last] = await trackInOrder(url, [{ type: 'edge', userId: 'e' }]);
    const sub = subscribeWs(client, EVENTS, { after: last.cursor, filter: { types: ['edge'] } });
    await new Promise((r) => setTimeout(r, 300));
    const next = await trackInOrder(url, [
      { type: 'edge', userId: 'e' },
      { type: 'edge', userId: 'e' },
    ]);
    await sub.waitForEvents(2);
    assert.deepEqual(
      sub.events.map((e) => e.id),
      next.map((e) => e.id),
    );
    sub.stop();
  });
});

describe('positions the stream cannot serve', () => {
  const p = pulseFor();

  test('a cursor before the oldest event held is CURSOR_EXPIRED with the oldest cursor; nothing is skipped silently', async () => {
    const pulse = p.get();
    const url = pulse.url;
    const stored = await trackInOrder(
      url,
      Array.from({ length: 10 }, (_, i) => ({ type: 'gone', userId: 'x', properties: { i } })),
    );
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge(pulse.env.PULSE_STREAM, { keep: 3 });
    const oldest = stored[7];

    const client = wsClient(url);
    p.clients.push(client);
    for (const variables of [{ after: stored[1].cursor }, { since: stored[0].receivedAt }]) {
      const ws = subscribeWs(client, EVENTS, variables);
      const sse = subscribeSse(url, EVENTS, variables);
      for (const sub of [ws, sse]) {
        await sub.waitForEnd();
        assert.equal(sub.events.length, 0);
        assert.equal(sub.errors[0]?.extensions?.code, 'CURSOR_EXPIRED', JSON.stringify(sub.errors));
        assert.equal(sub.errors[0]?.extensions?.oldestCursor, oldest.cursor);
        assert.equal(sub.errors[0]?.extensions?.resumeAfter, stored[6].cursor);
      }
    }
    // Resuming from what the error offers gets every event the stream still holds.
    const resumed = subscribeWs(client, EVENTS, { after: stored[6].cursor });
    await resumed.waitForEvents(3);
    assert.deepEqual(
      resumed.events.map((e) => e.id),
      stored.slice(7).map((e) => e.id),
    );
    resumed.stop();
  });

  test('a garbage cursor, a cursor past the newest event, or after with since is BAD_USER_INPUT', async () => {
    const url = p.get().url;
    const client = wsClient(url);
    p.clients.push(client);
    const future = Buffer.from('v1:999999').toString('base64url');
    for (const variables of [
      { after: 'not-a-cursor' },
      { after: future },
      { after: future, since: new Date().toISOString() },
    ]) {
      for (const sub of [subscribeWs(client, EVENTS, variables), subscribeSse(url, EVENTS, variables)]) {
        await sub.waitForEnd();
        assert.equal(sub.errors[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(sub.errors));
      }
    }
  });
});

describe('events other services publish to the stream', () => {
  const p = pulseFor();

  test('a valid event in the wire format arrives like a tracked one; an invalid message is skipped and counted', async () => {
    const pulse = p.get();
    const url = pulse.url;
    const prefix = pulse.env.PULSE_SUBJECT_PREFIX;
    const client = wsClient(url);
    p.clients.push(client);
    const live = subscribeWs(client, EVENTS);
    await new Promise((r) => setTimeout(r, 300));
    const [before] = await trackInOrder(url, [{ type: 'mark', userId: 'm' }]);
    await live.waitForEvents(1);

    const js = jetstream(nc);
    const h = headers();
    h.set('Nats-Msg-Id', 'external-1');
    const external = {
      id: 'external-1',
      type: 'order.paid',
      userId: 'shop-7',
      anonymousId: null,
      properties: { revenue: 12.5 },
      occurredAt: '2026-01-01T00:00:00.000Z',
      receivedAt: new Date().toISOString(),
    };
    await js.publish(`${prefix}.bad`, new TextEncoder().encode('{not json'));
    await js.publish(
      `${prefix}.mismatch`,
      new TextEncoder().encode(JSON.stringify({ ...external, id: 'x', type: 'other' })),
    );
    await js.publish(`${prefix}.order~2Epaid`, new TextEncoder().encode(JSON.stringify(external)), { headers: h });
    const [afterwards] = await trackInOrder(url, [{ type: 'mark', userId: 'm' }]);

    await live.waitForEvents(3);
    assert.deepEqual(
      live.events.map((e) => e.id),
      [before.id, 'external-1', afterwards.id],
    );
    assert.deepEqual(live.events[1].properties, { revenue: 12.5 });
    assert.equal(live.events[1].type, 'order.paid');
    const text = await metrics(url);
    assert.equal(metricValue(text, 'pulse_live_malformed_messages_total'), 2);

    // A replay over the same stretch skips them the same way.
    const replay = subscribeSse(url, EVENTS, { after: before.cursor });
    await replay.waitForEvents(2);
    assert.deepEqual(
      replay.events.map((e) => e.id),
      ['external-1', afterwards.id],
    );
    live.stop();
    replay.stop();
  });

  test('events of every size arrive whole over WebSocket and SSE (each WebSocket frame-length form)', async () => {
    const pulse = p.get();
    const url = pulse.url;
    const prefix = pulse.env.PULSE_SUBJECT_PREFIX;
    const client = wsClient(url);
    p.clients.push(client);
    const variables = { filter: { types: ['sized'] } };
    const overWs = subscribeWs(client, EVENTS, variables);
    const overSse = subscribeSse(url, EVENTS, variables);
    await new Promise((r) => setTimeout(r, 300));
    // Frames under 126 bytes are too short for an event; then 16-bit and 64-bit lengths.
    const sizes = [10, 1_000, 70_000, 200_000];
    const js = jetstream(nc);
    for (const [index, size] of sizes.entries()) {
      const body = {
        id: `sized-${index}`,
        type: 'sized',
        userId: 'u',
        anonymousId: null,
        properties: { blob: 'x'.repeat(size) },
        occurredAt: '2026-01-01T00:00:00.000Z',
        receivedAt: '2026-01-01T00:00:00.000Z',
      };
      await js.publish(`${prefix}.sized`, new TextEncoder().encode(JSON.stringify(body)));
    }
    for (const live of [overWs, overSse]) {
      await live.waitForEvents(sizes.length);
      assert.deepEqual(
        live.events.map((e) => (e.properties as { blob: string }).blob.length),
        sizes,
      );
      live.stop();
    }
  });

  test('messages of types no subscriber wants are passed over undecoded: not counted, and later events still arrive', async () => {
    const pulse = p.get();
    const url = pulse.url;
    const prefix = pulse.env.PULSE_SUBJECT_PREFIX;
    const client = wsClient(url);
    p.clients.push(client);
    const live = subscribeWs(client, EVENTS, { filter: { types: ['mark'] } });
    await new Promise((r) => setTimeout(r, 300));
    const counted = metricValue(await metrics(url), 'pulse_live_malformed_messages_total');

    const js = jetstream(nc);
    await js.publish(`${prefix}.unwatched`, new TextEncoder().encode('{not json'));
    await js.publish(`${prefix}.mark`, new TextEncoder().encode('{not json either'));
    const tracked = await trackInOrder(url, [
      { type: 'unwatched', userId: 'n' },
      { type: 'mark', userId: 'n' },
    ]);

    await live.waitForEvents(1);
    assert.deepEqual(
      live.events.map((e) => e.id),
      [tracked[1].id],
    );
    // The garbage of the type the subscriber wants was decoded and counted; the other was not.
    assert.equal(metricValue(await metrics(url), 'pulse_live_malformed_messages_total'), counted + 1);
    live.stop();
  });
});

describe('limits', () => {
  const p = pulseFor({
    PULSE_LIVE_MAX_CONNECTIONS: '3',
    PULSE_LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
    PULSE_LIVE_MAX_REPLAY: '5',
  });

  test('subscriptions per connection, connections in total and replay length are limited with clear errors', async () => {
    const url = p.get().url;
    const stored = await trackInOrder(
      url,
      Array.from({ length: 10 }, () => ({ type: 'lim', userId: 'l' })),
    );

    // A replay longer than PULSE_LIVE_MAX_REPLAY is refused; a shorter one is served.
    const tooLong = subscribeSse(url, EVENTS, { after: stored[0].cursor });
    await tooLong.waitForEnd();
    assert.equal(tooLong.errors[0]?.extensions?.code, 'LIMIT_EXCEEDED');
    assert.equal(tooLong.errors[0]?.extensions?.setting, 'PULSE_LIVE_MAX_REPLAY');
    const shortEnough = subscribeSse(url, EVENTS, { after: stored[5].cursor });
    await shortEnough.waitForEvents(4);
    shortEnough.stop();

    const client = wsClient(url);
    p.clients.push(client);
    const a = subscribeWs(client, EVENTS);
    const b = subscribeWs(client, EVENTS);
    const c = subscribeWs(client, EVENTS);
    await c.waitForEnd();
    assert.equal(c.errors[0]?.extensions?.code, 'LIMIT_EXCEEDED');
    assert.equal(c.errors[0]?.extensions?.setting, 'PULSE_LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION');
    assert.equal(a.isComplete || b.isComplete, false);

    // Two more connections fill the three slots: one WebSocket and one SSE subscription.
    const second = wsClient(url);
    p.clients.push(second);
    const onSecond = subscribeWs(second, EVENTS);
    const sse = subscribeSse(url, EVENTS);
    let connections = 0;
    for (let i = 0; i < 100 && connections !== 3; i++) {
      connections = metricValue(await metrics(url), 'pulse_live_connections');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(connections, 3);

    const closes: unknown[] = [];
    const third = wsClient(url, { onClosed: (event) => closes.push(event) });
    p.clients.push(third);
    const refused = subscribeWs(third, EVENTS);
    await refused.waitForEnd();
    await waitUntil('the refused socket to close', () => closes.length > 0);
    const close = closes[0] as { code: number; reason: string };
    assert.equal(close.code, 1013);
    assert.match(close.reason, /maximum of 3 live connections/);
    const sseRefused = subscribeSse(url, EVENTS);
    await sseRefused.waitForEnd();
    assert.equal(sseRefused.errors[0]?.extensions?.code, 'LIMIT_EXCEEDED');
    assert.equal(sseRefused.errors[0]?.extensions?.setting, 'PULSE_LIVE_MAX_CONNECTIONS');

    for (const sub of [a, b, onSecond, sse]) sub.stop();
  });
});

describe('SSE ids and Last-Event-ID', () => {
  const p = pulseFor();

  test("each SSE event's id is its cursor, and a reconnect with Last-Event-ID resumes right after it", async () => {
    const url = p.get().url;
    const query = `subscription { events(filter: { types: ["sse"] }) { ${EVENT_FIELDS} } }`;
    const first = await openRawSse(url, query);
    assert.equal(first.status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const batch1 = await trackInOrder(
      url,
      Array.from({ length: 5 }, (_, i) => ({ type: 'sse', userId: 's', properties: { i } })),
    );
    await first.waitForFrames((f) => f.filter((x) => x.event === 'next').length >= 5, 'five events');
    const nextFrames = first.frames.filter((f) => f.event === 'next');
    assert.deepEqual(
      nextFrames.map((f) => f.id),
      batch1.map((e) => e.cursor),
    );
    // The client goes away after the third event; more are stored while it is gone.
    await first.close();
    const lastSeen = nextFrames[2].id as string;
    const batch2 = await trackInOrder(
      url,
      Array.from({ length: 5 }, (_, i) => ({ type: 'sse', userId: 's', properties: { i: 5 + i } })),
    );
    // As an EventSource reconnects: the same URL, with the id of the last event it saw.
    const second = await openRawSse(url, query, undefined, { 'last-event-id': lastSeen });
    await second.waitForFrames((f) => f.filter((x) => x.event === 'next').length >= 7, 'seven events');
    await new Promise((r) => setTimeout(r, 200));
    const expected = [...batch1.slice(3), ...batch2];
    assert.deepEqual(
      second.events().map((e) => e.id),
      expected.map((e) => e.id),
    );
    assert.deepEqual(
      second.frames.filter((f) => f.event === 'next').map((f) => f.id),
      expected.map((e) => e.cursor),
    );
    const third = await trackInOrder(url, [{ type: 'sse', userId: 's' }]);
    await second.waitForFrames((f) => f.some((x) => x.id === third[0].cursor), 'a live event after the replay');
    await second.close();
  });
});
