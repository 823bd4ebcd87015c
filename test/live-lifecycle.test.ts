import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  EVENT_FIELDS,
  type LiveEvent,
  metrics,
  metricValue,
  openRawSse,
  subscribeWs,
  track,
  trackInOrder,
  waitUntil,
  wsClient,
} from './support/live-clients.js';
import { freePort, startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const QUERY = `subscription ($after: String, $filter: EventFilter) { events(after: $after, filter: $filter) { ${EVENT_FIELDS} } }`;

let nats: TestNats;
let monitorPort: number;
let nc: NatsConnection;
let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
before(async () => {
  monitorPort = await freePort();
  nats = await startNats({ extraArgs: ['-m', String(monitorPort)] });
  nc = await connect({ servers: nats.url, name: 'test' });
});
after(async () => {
  await pulse?.close();
  await nc?.close();
  await nats?.destroy();
});

/** Subscriptions the server holds for Pulse's connections (core subscriptions and consumer inboxes). */
async function pulseNatsSubscriptions(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/connz?subs=1`);
  const body = (await res.json()) as { connections: Array<{ name?: string; subscriptions: number }> };
  const own = body.connections.filter((c) => c.name === 'pulse');
  assert.ok(own.length > 0, 'Pulse is connected');
  return own.reduce((sum, c) => sum + c.subscriptions, 0);
}

async function consumersOnStream(stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.consumers.list(stream).next()).length;
}

async function settle(url: string): Promise<void> {
  let open = Number.NaN;
  for (let i = 0; i < 400 && open !== 0; i++) {
    const text = await metrics(url);
    open =
      ['ws', 'sse', 'iterator'].reduce(
        (sum, t) => sum + metricValue(text, 'pulse_live_subscribers', `transport="${t}"`),
        0,
      ) +
      metricValue(text, 'pulse_live_connections') +
      metricValue(text, 'pulse_live_replaying');
    if (open !== 0) await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(open, 0, 'no subscriber, connection or replay is left');
}

function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Deterministic choices, so that a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

test('1,000 connect/disconnect cycles at any moment leave consumers, subscriptions, timers and memory where they were', async () => {
  pulse = await startTestPulse(
    testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off', PULSE_LIVE_REPLAY_PAGE: '2' }),
  );
  const url = pulse.url;
  const stream = pulse.env.PULSE_STREAM;
  const history = await trackInOrder(
    url,
    Array.from({ length: 60 }, (_, i) => ({ type: i % 2 ? 'a' : 'b', userId: 'h' })),
  );

  // Events keep flowing while clients come and go.
  let isTracking = true;
  const tracking = (async () => {
    while (isTracking) {
      await track(url, { type: 'a', userId: 'bg' });
      await new Promise((r) => setTimeout(r, 15));
    }
  })();

  const next = random(7);
  async function cycle(): Promise<void> {
    const roll = next();
    const variables = next() < 0.5 ? { after: history[Math.floor(next() * 50)].cursor } : {};
    if (next() < 0.5) (variables as Record<string, unknown>).filter = { types: ['a'] };
    const phase = Math.floor(next() * 4);
    if (roll < 0.6) {
      const client = wsClient(url);
      const sub = subscribeWs(client, QUERY, variables);
      if (phase >= 1) await new Promise((r) => setTimeout(r, 2));
      if (phase >= 2) await sub.waitForEvents(1, 5000).catch(() => {});
      if (phase === 3) sub.stop();
      // An abrupt drop (no close handshake) once connected; a clean close otherwise.
      if (next() < 0.5 && sub.events.length > 0) client.terminate();
      else await client.dispose();
    } else {
      const sse = await openRawSse(url, QUERY, variables);
      if (phase >= 2)
        await sse.waitForFrames((f) => f.some((x) => x.event === 'next'), 'an event', 5000).catch(() => {});
      await sse.close();
    }
  }
  async function cycles(count: number): Promise<void> {
    for (let done = 0; done < count; done += 10) await Promise.all(Array.from({ length: 10 }, cycle));
  }

  await cycles(100);
  await settle(url);
  const baseline = {
    consumers: await consumersOnStream(stream),
    subscriptions: await pulseNatsSubscriptions(),
    timers: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
    heap: heapAfterGc(),
  };
  await cycles(1000);
  isTracking = false;
  await tracking;
  await settle(url);
  let consumers = Number.NaN;
  for (let i = 0; i < 100 && consumers !== baseline.consumers; i++) {
    consumers = await consumersOnStream(stream);
    if (consumers !== baseline.consumers) await new Promise((r) => setTimeout(r, 50));
  }
  const afterwards = {
    consumers,
    subscriptions: await pulseNatsSubscriptions(),
    timers: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length,
    heap: heapAfterGc(),
  };
  assert.equal(baseline.consumers, 1, 'the shared feed is the one consumer left');
  assert.equal(afterwards.consumers, baseline.consumers, 'consumers on the stream');
  assert.equal(afterwards.subscriptions, baseline.subscriptions, 'NATS subscriptions of Pulse');
  assert.ok(afterwards.timers <= baseline.timers + 2, `timers: ${baseline.timers} → ${afterwards.timers}`);
  const grownKiB = (afterwards.heap - baseline.heap) / 1024;
  assert.ok(grownKiB < 4096, `heap grew by ${grownKiB.toFixed(0)} KiB over 1,000 cycles`);
  const text = await metrics(url);
  assert.equal(metricValue(text, 'pulse_live_consumers'), 1);
});

test('live subscribers share one feed: consumers and NATS subscriptions do not grow with their number', async () => {
  const current = pulse ?? (await startTestPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off' })));
  pulse = current;
  const url = current.url;
  const stream = current.env.PULSE_STREAM;
  await settle(url);
  const idle = { consumers: await consumersOnStream(stream), subscriptions: await pulseNatsSubscriptions() };

  const clients = Array.from({ length: 5 }, () => wsClient(url));
  const subs = clients.flatMap((client, i) =>
    Array.from({ length: 10 }, (_, j) => subscribeWs(client, QUERY, j % 2 ? { filter: { types: [`t${i}`] } } : {})),
  );
  const streams = await Promise.all(Array.from({ length: 20 }, () => openRawSse(url, QUERY)));
  let open = 0;
  for (let i = 0; i < 200 && open !== 70; i++) {
    const text = await metrics(url);
    open =
      metricValue(text, 'pulse_live_subscribers', 'transport="ws"') +
      metricValue(text, 'pulse_live_subscribers', 'transport="sse"');
    if (open !== 70) await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(open, 70);
  const [event] = await trackInOrder(url, [{ type: 't0', userId: 'shared' }]);
  await waitUntil(
    'every untyped subscriber and t0 to get the event',
    () => subs.filter((s) => s.events.some((e) => e.id === event.id)).length === 30,
  );
  assert.equal(await consumersOnStream(stream), idle.consumers, 'consumers on the stream');
  assert.equal(await pulseNatsSubscriptions(), idle.subscriptions, 'NATS subscriptions of Pulse');

  for (const sub of subs) sub.stop();
  for (const client of clients) await client.dispose();
  for (const sse of streams) await sse.close();
  await settle(url);
});

test('on shutdown, subscriptions complete: WebSocket with complete and close 1001, SSE with event: complete', async () => {
  const current = pulse ?? (await startTestPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off' })));
  const url = current.url;
  const stream = current.env.PULSE_STREAM;
  const closes: Array<{ code: number }> = [];
  const client = wsClient(url, { onClosed: (event) => closes.push(event as { code: number }), isLazy: false });
  const ws = subscribeWs(client, QUERY);
  const sse = await openRawSse(url, QUERY);
  await new Promise((r) => setTimeout(r, 300));
  const [event] = await trackInOrder(url, [{ type: 'bye', userId: 'z' }]);
  await ws.waitForEvents(1);
  await sse.waitForFrames((f) => f.some((x) => x.event === 'next'), 'an event');
  assert.ok(ws.events.some((e: LiveEvent) => e.id === event.id));

  const started = Date.now();
  await current.close();
  pulse = undefined;
  await ws.waitForEnd();
  assert.equal(ws.isComplete, true);
  assert.deepEqual(ws.errors, [], 'completed, not failed');
  await waitUntil('the socket to close', () => closes.length > 0);
  assert.equal(closes[0].code, 1001);
  await sse.waitForFrames((f) => f.some((x) => x.event === 'complete'), 'event: complete');
  assert.ok(Date.now() - started < 5000, 'shutdown does not wait out the grace period');
  assert.equal(await consumersOnStream(stream), 0, 'the feed deleted its consumer');
  await sse.close();
  await client.dispose();
});
