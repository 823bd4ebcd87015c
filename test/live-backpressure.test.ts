import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { gql } from './support/graphql.js';
import {
  EVENT_FIELDS,
  type LiveEvent,
  metrics,
  metricValue,
  subscribeWs,
  waitUntil,
  wsClient,
  wsUrl,
} from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

let nats: TestNats;
let pulse: Awaited<ReturnType<typeof startTestPulse>>;
before(async () => {
  nats = await startNats();
  // A small socket allowance and buffer, so that a client that stops reading is found out soon.
  pulse = await startTestPulse(
    testEnv(nats.url, {
      PULSE_PROJECTOR: 'off',
      PULSE_SERVICE: 'off',
      PULSE_LIVE_SOCKET_BUFFER: '16KiB',
      PULSE_LIVE_BUFFER: '50',
    }),
  );
});
after(async () => {
  await pulse?.close();
  await nats?.destroy();
});

const QUERY = `subscription ($after: String) { events(after: $after) { ${EVENT_FIELDS} } }`;
const TOTAL = 3000;

/** A graphql-ws conversation held by hand, so that the test can stop reading the socket. */
async function rawWsSubscriber(url: string) {
  const ws = new WebSocket(wsUrl(url), 'graphql-transport-ws');
  const messages: Array<{ id?: string; type: string; payload?: { data?: { events: LiveEvent }; errors?: unknown[] } }> =
    [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'connection_init' }));
  await waitUntil('connection_ack', () => messages.some((m) => m.type === 'connection_ack'));
  return {
    ws,
    messages,
    subscribe(id: string, variables?: Record<string, unknown>) {
      ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: QUERY, variables } }));
    },
    events: (id: string) =>
      messages
        .filter((m) => m.id === id && m.type === 'next' && m.payload?.data)
        .map((m) => m.payload?.data?.events as LiveEvent),
  };
}

/** An SSE client over a raw HTTP request whose response can stop being read. */
function rawSseSubscriber(url: string) {
  let text = '';
  const target = new URL(`${url}/graphql`);
  target.searchParams.set('query', QUERY);
  const req = request(target, { headers: { accept: 'text/event-stream' } });
  const response = new Promise<import('node:http').IncomingMessage>((resolve) => req.on('response', resolve));
  req.end();
  return {
    response,
    text: () => text,
    async start() {
      const res = await response;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
    },
    destroy: () => req.destroy(),
  };
}

async function trackMany(url: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  const pad = 'x'.repeat(2000);
  for (let start = 0; start < count; start += 200) {
    const events = Array.from({ length: Math.min(200, count - start) }, (_, i) => ({
      type: 'bulk',
      userId: 'u',
      properties: { i: start + i, pad },
    }));
    const res = await gql(
      url,
      'mutation ($events: [TrackEventInput!]!) { trackBatch(events: $events) { results { event { id } } } }',
      {
        events,
      },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    for (const r of res.data.trackBatch.results) ids.push(r.event.id);
  }
  return ids;
}

test('a subscriber that stops reading is closed with SLOW_SUBSCRIBER and its last cursor, while a fast one gets every event', async () => {
  const url = pulse.url;
  const fastClient = wsClient(url);
  const fast = subscribeWs(fastClient, QUERY);
  const slow = await rawWsSubscriber(url);
  slow.subscribe('slow');
  const sse = rawSseSubscriber(url);
  await sse.start();
  await new Promise((r) => setTimeout(r, 300));

  const [firstId] = await trackMany(url, 1);
  await waitUntil(
    'the first event everywhere',
    () => slow.events('slow').length === 1 && fast.events.length === 1 && sse.text().includes(firstId),
  );
  // Both slow clients stop reading; TCP backpressure fills their sockets.
  slow.ws.pause();
  (await sse.response).pause();

  const ids = [firstId, ...(await trackMany(url, TOTAL - 1))];
  await fast.waitForEvents(TOTAL, 60_000);
  assert.deepEqual(
    fast.events.map((e) => e.id),
    ids,
    'the fast subscriber got every event, in order',
  );
  assert.deepEqual(fast.errors, []);

  const text = await metrics(url);
  assert.equal(metricValue(text, 'pulse_live_slow_subscribers_closed_total', 'transport="ws"'), 1);
  assert.equal(metricValue(text, 'pulse_live_slow_subscribers_closed_total', 'transport="sse"'), 1);

  // Reading again, the slow WebSocket client finds the events it was sent, then the error and the completion.
  slow.ws.resume();
  await waitUntil(
    'the slow subscription to complete',
    () => slow.messages.some((m) => m.id === 'slow' && m.type === 'complete'),
    30_000,
  );
  const got = slow.events('slow');
  const failure = slow.messages.find((m) => m.id === 'slow' && m.payload?.errors);
  const error = failure?.payload?.errors?.[0] as { extensions: { code: string; lastCursor: string } };
  assert.equal(error.extensions.code, 'SLOW_SUBSCRIBER');
  assert.ok(got.length < TOTAL, 'it was closed before the end');
  assert.deepEqual(
    got.map((e) => e.id),
    ids.slice(0, got.length),
    'what it got has no gap',
  );
  assert.equal(error.extensions.lastCursor, got[got.length - 1].cursor, 'the error names the last event it was sent');

  // Resuming with `after: lastCursor` delivers exactly the rest.
  slow.subscribe('again', { after: error.extensions.lastCursor });
  await waitUntil('the rest after resuming', () => slow.events('again').length === TOTAL - got.length, 30_000);
  assert.deepEqual(
    [...got, ...slow.events('again')].map((e) => e.id),
    ids,
  );

  // The SSE client, reading again, finds the same: events, the error with its cursor, `complete`.
  (await sse.response).resume();
  await waitUntil('the SSE stream to complete', () => sse.text().includes('event: complete'), 30_000);
  const blocks = sse.text().split('\n\n');
  const sseEvents = blocks.filter((b) => b.includes('"events"'));
  const errorBlock = blocks.find((b) => b.includes('SLOW_SUBSCRIBER')) as string;
  const lastId = /^id: (.*)$/m.exec(sseEvents[sseEvents.length - 1])?.[1];
  const sseError = JSON.parse(errorBlock.slice(errorBlock.indexOf('data: ') + 6)).errors[0];
  assert.equal(sseError.extensions.lastCursor, lastId);
  assert.ok(sseEvents.length < TOTAL);

  fast.stop();
  await fastClient.dispose();
  slow.ws.close();
  sse.destroy();
  let open = Number.NaN;
  for (let i = 0; i < 200 && open !== 0; i++) {
    const now = await metrics(url);
    open =
      metricValue(now, 'pulse_live_subscribers', 'transport="ws"') +
      metricValue(now, 'pulse_live_subscribers', 'transport="sse"');
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(open, 0, 'every subscription was released');
});
