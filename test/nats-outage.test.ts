import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream } from './support/stream-messages.js';

const TRACK = `mutation($event: TrackEventInput!) { track(event: $event) { duplicate event { id cursor } } }`;
const TRACK_BATCH = `mutation($events: [TrackEventInput!]!) {
  trackBatch(events: $events) { accepted duplicates results { duplicate event { id } } }
}`;
const DEADLINE_MS = 1500;

/** Polls url until it answers with status, within timeoutMs; returns the last status seen. */
async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<number> {
  const giveUpAt = Date.now() + timeoutMs;
  let last = 0;
  while (Date.now() < giveUpAt) {
    last = await fetch(url).then(
      (res) => res.status,
      () => 0,
    );
    if (last === status) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

describe('NATS goes away and comes back under a running Pulse', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url, { PULSE_PUBLISH_DEADLINE: `${DEADLINE_MS}ms` }));
  });
  after(async () => {
    await pulse?.close();
    await nats?.destroy();
  });

  test('the API stays up, says 503 on /readyz, fails mutations after the deadline, then serves again', async () => {
    const first = await gql(pulse.url, TRACK, { event: { id: 'before-outage', type: 'click', userId: 'u' } });
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    assert.equal((await fetch(`${pulse.url}/readyz`)).status, 200);

    await nats.stop();

    assert.equal(await waitForStatus(`${pulse.url}/readyz`, 503, 10_000), 503, '/readyz says 503 while NATS is away');
    const ready = (await (await fetch(`${pulse.url}/readyz`)).json()) as { ready: boolean; status: string };
    assert.equal(ready.ready, false);
    const health = await fetch(`${pulse.url}/healthz`);
    assert.equal(health.status, 200, 'the process itself is alive');
    const plainQuery = await gql(pulse.url, '{ __typename }');
    assert.deepEqual(plainQuery.data, { __typename: 'Query' }, 'GraphQL still answers');

    const startedAt = Date.now();
    const during = await gql(pulse.url, TRACK, { event: { id: 'during-outage', type: 'click', userId: 'u' } });
    const tookMs = Date.now() - startedAt;
    assert.equal(during.errors?.[0].extensions?.code, 'EVENT_BUS_UNAVAILABLE', JSON.stringify(during.errors));
    assert.match(during.errors[0].message, /retry with the same id/);
    assert.equal(during.data, null);
    assert.ok(tookMs >= DEADLINE_MS - 100, `failed only after the deadline (took ${tookMs} ms)`);
    assert.ok(tookMs < DEADLINE_MS + 2000, `failed soon after the deadline (took ${tookMs} ms)`);

    const batchEvents = [
      { id: 'batch-outage-1', type: 'view', userId: 'u' },
      { type: 'view', userId: 'u' },
    ];
    const batch = await gql(pulse.url, TRACK_BATCH, { events: batchEvents });
    assert.equal(batch.errors?.[0].extensions?.code, 'EVENT_BUS_UNAVAILABLE');
    const ids = batch.errors[0].extensions?.ids as string[];
    assert.equal(ids.length, 2, 'the error gives the id of every event so that a retry reuses them');
    assert.equal(ids[0], 'batch-outage-1');

    await nats.restart();

    assert.equal(await waitForStatus(`${pulse.url}/readyz`, 200, 20_000), 200, '/readyz is 200 again');
    const afterwards = await gql(pulse.url, TRACK, { event: { id: 'after-outage', type: 'click', userId: 'u' } });
    assert.equal(afterwards.errors, undefined, JSON.stringify(afterwards.errors));
    assert.equal(afterwards.data.track.duplicate, false);

    // Retrying the failed calls with the same ids stores each event once, whatever reached NATS before.
    const retry = await gql(pulse.url, TRACK, { event: { id: 'during-outage', type: 'click', userId: 'u' } });
    assert.equal(retry.errors, undefined, JSON.stringify(retry.errors));
    const batchRetry = await gql(pulse.url, TRACK_BATCH, {
      events: batchEvents.map((event, index) => ({ ...event, id: ids[index] })),
    });
    assert.equal(batchRetry.errors, undefined, JSON.stringify(batchRetry.errors));
    assert.equal(batchRetry.data.trackBatch.accepted + batchRetry.data.trackBatch.duplicates, 2);

    const stream = await inspectStream(nats.url, pulse.env.PULSE_STREAM);
    try {
      const stored = (await stream.messages()).map((m) => (m.body as { id: string }).id);
      assert.deepEqual(
        [...stored].sort(),
        ['after-outage', 'batch-outage-1', 'before-outage', 'during-outage', ids[1]].sort(),
        'the event stored before the outage survived, and every retried id is stored exactly once',
      );
    } finally {
      await stream.close();
    }
  });
});
