import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { gql } from './support/graphql.js';
import { EVENT_FIELDS, seqOf, subscribeSse, subscribeWs, trackInOrder, wsClient } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

let nats: TestNats;
let pulse: Awaited<ReturnType<typeof startTestPulse>>;
before(async () => {
  nats = await startNats();
  pulse = await startTestPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off' }));
});
after(async () => {
  await pulse?.close();
  await nats?.destroy();
});

const QUERY = `subscription ($filter: EventFilter) { events(filter: $filter) { ${EVENT_FIELDS} } }`;

/** Tracks with the same id until Pulse answers: while NATS comes back a publish may time out. */
async function trackUntilStored(url: string, id: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await gql(url, 'mutation ($e: TrackEventInput!) { track(event: $e) { event { id } } }', {
      e: { id, type: 'after-restart', userId: 'r' },
    });
    if (!res.errors) return;
    assert.equal(res.errors[0].extensions?.code, 'EVENT_BUS_UNAVAILABLE', JSON.stringify(res.errors));
    if (Date.now() > deadline) throw new Error(`track ${id} did not succeed within 30 s`);
  }
}

test('a NATS restart keeps subscriptions open, and every event stored meanwhile arrives once, in order', async () => {
  const url = pulse.url;
  const prefix = pulse.env.PULSE_SUBJECT_PREFIX;
  const client = wsClient(url);
  const ws = subscribeWs(client, QUERY);
  const sse = subscribeSse(url, QUERY);
  const typed = subscribeWs(client, QUERY, { filter: { types: ['external'] } });
  await new Promise((r) => setTimeout(r, 300));
  const before = await trackInOrder(
    url,
    Array.from({ length: 5 }, (_, i) => ({ type: 'before-restart', userId: 'r', properties: { i } })),
  );
  await ws.waitForEvents(5);
  await sse.waitForEvents(5);

  await nats.stop();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(ws.isComplete || sse.isComplete || typed.isComplete, false, 'subscriptions stay open during the outage');
  await nats.restart();

  // Stored by another service right away, likely before Pulse is back on NATS.
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const externalIds: string[] = [];
  for (let i = 0; i < 5; i++) {
    const id = `external-${i}`;
    const h = headers();
    h.set('Nats-Msg-Id', id);
    const body = { id, type: 'external', userId: 'svc', properties: { i }, receivedAt: new Date().toISOString() };
    for (let attempt = 0; ; attempt++) {
      try {
        await js.publish(`${prefix}.external`, new TextEncoder().encode(JSON.stringify(body)), {
          headers: h,
          timeout: 2000,
        });
        break;
      } catch (err) {
        // JetStream answers "no responders" for a moment after a restart.
        if (attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    externalIds.push(id);
  }
  await nc.close();
  const trackedIds = Array.from({ length: 5 }, (_, i) => `after-restart-${i}`);
  for (const id of trackedIds) await trackUntilStored(url, id);

  const expected = [...before.map((e) => e.id), ...externalIds, ...trackedIds];
  await ws.waitForEvents(expected.length, 30_000);
  await sse.waitForEvents(expected.length, 30_000);
  await typed.waitForEvents(externalIds.length, 30_000);
  await new Promise((r) => setTimeout(r, 300));
  for (const sub of [ws, sse]) {
    assert.deepEqual(sub.errors, []);
    assert.equal(sub.isComplete, false);
    assert.deepEqual(
      sub.events.map((e) => e.id),
      expected,
    );
    const seqs = sub.events.map((e) => seqOf(e.cursor));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
  }
  assert.deepEqual(
    typed.events.map((e) => e.id),
    externalIds,
  );
  ws.stop();
  sse.stop();
  typed.stop();
  await client.dispose();
});
