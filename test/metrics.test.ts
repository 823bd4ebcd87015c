// /metrics after a known workload: every counter matches what was done, exactly.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bearer, gqlWithKey, keyedSocket } from './support/keyed-clients.js';
import { metrics, metricValue, openRawSse, subscribeWs } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const INGEST = 'metrics-ingest-01';
const READ = 'metrics-read-0001';
const TRACK = 'mutation Track($e: TrackEventInput!) { track(event: $e) { duplicate } }';
const BATCH = 'mutation Batch($es: [TrackEventInput!]!) { trackBatch(events: $es) { accepted } }';
const EVENTS = 'subscription Live { events { id } }';

describe('metrics', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  const cleanups: Array<() => unknown> = [];

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(
      testEnv(nats.url, { PULSE_API_KEYS: `${INGEST}=ingest,${READ}=read`, PULSE_SERVICE: 'off' }),
    );
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await pulse?.close();
    await nats?.destroy();
  });

  test('after a known workload the counters match it exactly', async () => {
    const socket = keyedSocket(pulse.url, { apiKey: READ });
    cleanups.push(() => socket.dispose());
    await socket.waitForConnected();
    const ws = subscribeWs(socket.client, EVENTS);
    cleanups.push(() => ws.stop());
    const sse = await openRawSse(pulse.url, EVENTS, undefined, bearer(READ));
    cleanups.push(() => sse.close());
    let text = '';
    // Both are open once the process counts them.
    for (let i = 0; i < 100; i++) {
      text = await metrics(pulse.url);
      if (
        metricValue(text, 'pulse_live_subscribers', 'transport="ws"') === 1 &&
        metricValue(text, 'pulse_live_subscribers', 'transport="sse"') === 1
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // 3 new events and 1 repeat through track, 4 through one trackBatch: 7 stored, 1 duplicate.
    for (const id of ['m-1', 'm-2', 'm-3', 'm-1']) {
      await gqlWithKey(pulse.url, INGEST, TRACK, { e: { id, type: 'metered', userId: 'u' } });
    }
    const four = ['m-4', 'm-5', 'm-6', 'm-7'].map((id) => ({ id, type: 'metered', userId: 'u' }));
    await gqlWithKey(pulse.url, INGEST, BATCH, { es: four });
    // 2 queries; 1 refused for the scope; 1 without a key; 1 invalid document.
    await gqlWithKey(pulse.url, READ, 'query Types { eventTypes { type } }');
    await gqlWithKey(pulse.url, READ, 'query Types { eventTypes { type } }');
    await gqlWithKey(pulse.url, INGEST, 'query Sneaky { eventTypes { type } }');
    await gqlWithKey(pulse.url, undefined, 'mutation Track($e: TrackEventInput!) { track(event: $e) { duplicate } }', {
      e: { type: 'metered', userId: 'u' },
    });
    await gqlWithKey(pulse.url, READ, 'query Typo { eventTyps { type } }');

    await ws.waitForEvents(7);
    await sse.waitForFrames((f) => f.filter((x) => x.event === 'next').length >= 7, '7 events over SSE');
    await new Promise((resolve) => setTimeout(resolve, 300));
    text = await metrics(pulse.url);
    const value = (name: string, labels?: string) => metricValue(text, name, labels);

    assert.equal(value('pulse_events_published_total'), 7);
    assert.equal(value('pulse_events_duplicate_total'), 1);
    assert.equal(value('pulse_publish_duration_seconds_count'), 8, 'each publish observed, the repeat too');
    assert.equal(value('pulse_publish_retries_total'), 0);
    assert.equal(value('pulse_publish_failures_total'), 0);

    assert.equal(value('pulse_graphql_operations_total', 'type="mutation",name="Track"'), 5);
    assert.equal(value('pulse_graphql_operations_total', 'type="mutation",name="Batch"'), 1);
    assert.equal(value('pulse_graphql_operations_total', 'type="query",name="Types"'), 2);
    assert.equal(value('pulse_graphql_operations_total', 'type="query",name="Sneaky"'), 1);
    assert.equal(value('pulse_graphql_operations_total', 'type="query",name="Typo"'), 1);
    assert.equal(value('pulse_graphql_operations_total', 'type="subscription",name="Live"'), 2);
    assert.equal(value('pulse_graphql_errors_total', 'type="query",code="FORBIDDEN"'), 1);
    assert.equal(value('pulse_graphql_errors_total', 'type="mutation",code="UNAUTHENTICATED"'), 1);
    assert.equal(value('pulse_graphql_errors_total', 'type="query",code="GRAPHQL_VALIDATION_FAILED"'), 1);

    assert.equal(value('pulse_live_subscribers', 'transport="ws"'), 1);
    assert.equal(value('pulse_live_subscribers', 'transport="sse"'), 1);
    assert.equal(value('pulse_live_deliveries_total', 'transport="ws"'), 7);
    assert.equal(value('pulse_live_deliveries_total', 'transport="sse"'), 7);
    assert.equal(value('pulse_live_slow_subscribers_closed_total', 'transport="ws"'), 0);
    assert.equal(value('pulse_live_connections'), 2);
    assert.equal(value('pulse_nats_connected'), 1);
    assert.equal(value('pulse_nats_reconnects_total'), 0);

    // The projector applies all 7; its lag comes back to 0.
    for (let i = 0; i < 100 && value('pulse_projector_applied_events_total') < 7; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      text = await metrics(pulse.url);
    }
    assert.equal(value('pulse_projector_applied_events_total'), 7);
  });

  test('operation names are bounded: past the first 100, others count as "other"', async () => {
    for (let i = 0; i < 105; i++) await gqlWithKey(pulse.url, READ, `query Name${i} { __typename }`);
    const text = await metrics(pulse.url);
    assert.equal(metricValue(text, 'pulse_graphql_operations_total', 'type="query",name="Name0"'), 1);
    // Track, Batch, Types, Sneaky, Typo, Live took 6 of the 100 names.
    assert.equal(metricValue(text, 'pulse_graphql_operations_total', 'type="query",name="Name93"'), 1);
    assert.equal(metricValue(text, 'pulse_graphql_operations_total', 'type="query",name="other"'), 11);
    assert.equal(text.includes('name="Name94"'), false);
  });

  test('a NATS reconnect is counted', async () => {
    await nats.stop();
    await nats.restart();
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await metrics(pulse.url);
      if (metricValue(text, 'pulse_nats_reconnects_total') >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(metricValue(text, 'pulse_nats_reconnects_total'), 1);
    assert.equal(metricValue(text, 'pulse_nats_connected'), 1);
  });
});
