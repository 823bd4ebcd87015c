import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import {
  assertCountedOnce,
  assertDeliveredOnce,
  assertStoredOnce,
  maxDeliveryLagMs,
  printSummary,
  readModelCounts,
  readStoredEvents,
} from './support/fault-ledger.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { type ResumingSubscriber, resumingSubscriber } from './support/resuming-subscriber.js';
import { loadEvent, retryUntilAcknowledged, startTrackLoad, trackOnce, waitForStatus } from './support/track-load.js';

const EVENTS = 3000;
const CONCURRENCY = 16;
const DEADLINE_MS = 2000;
// A failed call answers within the deadline plus this: the last attempt's timer, the HTTP round
// trip and a loaded event loop.
const SLACK_MS = 1500;
const OUTAGE_MS = 3000;

test('kill -9 of the nats-server during sustained ingestion: acknowledged events are stored and counted once', async (t) => {
  let nats: TestNats | undefined;
  let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
  const subscribers: ResumingSubscriber[] = [];
  // One hook, registered before anything can throw: Pulse closes while its server is still there.
  t.after(async () => {
    for (const subscriber of subscribers) await subscriber.stop();
    await pulse?.close();
    await nats?.destroy();
  });
  nats = await startNats();
  const env = testEnv(nats.url, {
    PULSE_PUBLISH_DEADLINE: `${DEADLINE_MS}ms`,
    PULSE_PUBLISH_ATTEMPT_TIMEOUT: '500ms',
  });
  pulse = await startTestPulse(env);

  const prefix = 'nk';
  const events = Array.from({ length: EVENTS }, (_, n) => loadEvent(prefix, n));
  // Two subscribers follow the whole run from right after the first event.
  const start = await trackOnce(pulse.url, events[0], 10_000);
  assert.ok(start.cursor, JSON.stringify(start));
  subscribers.push(
    resumingSubscriber('ws', pulse.url, start.cursor),
    resumingSubscriber('sse', pulse.url, start.cursor),
  );
  const load = startTrackLoad({
    url: pulse.url,
    events: events.slice(1),
    concurrency: CONCURRENCY,
    callTimeoutMs: 30_000,
  });
  await load.waitForFinished(EVENTS / 3);
  const killedAt = Date.now();
  await nats.stop({ hard: true });
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  await nats.restart();
  const restartedAt = Date.now();
  const readyAgain = waitForStatus(`${pulse.url}/readyz`, 200, 30_000).then((status) => ({
    status,
    afterMs: Date.now() - restartedAt,
  }));
  const outcomes = [start, ...(await load.done)];

  const acknowledged = outcomes.filter((o) => o.isAcknowledged);
  const failed = outcomes.filter((o) => !o.isAcknowledged);
  assert.equal(outcomes.length, EVENTS, 'every call answered');
  assert.ok(failed.length > 0, 'the outage failed some calls (else it tested nothing)');
  assert.deepEqual(
    [...new Set(failed.map((o) => o.code))],
    ['EVENT_BUS_UNAVAILABLE'],
    'every failed call got EVENT_BUS_UNAVAILABLE',
  );
  const slowest = Math.max(...outcomes.map((o) => o.elapsedMs));
  // Nothing hangs: every call, failed or retried to success, answered within the deadline.
  const late = outcomes.filter((o) => o.elapsedMs > DEADLINE_MS + SLACK_MS);
  assert.deepEqual(late, [], `every call answered within ${DEADLINE_MS} + ${SLACK_MS} ms`);
  const outsideOutage = failed.filter((o) => o.startedAt + o.elapsedMs < killedAt);
  assert.deepEqual(outsideOutage, [], 'no call failed before the kill');

  const ready = await readyAgain;
  assert.equal(ready.status, 200, '/readyz recovers without a restart');

  let rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const storedAfterFault = assertStoredOnce(rows, events, acknowledged);
  // A publish that timed out may have been stored all the same: those are counted too, once.
  const storedOfFailed = storedAfterFault - acknowledged.length;
  assertCountedOnce(await readModelCounts(pulse.url, prefix, storedAfterFault), rows, prefix);

  // The contract for a failed call: retrying it with the same id is safe. The first few go
  // through the NATS service, which must answer again on the restarted server.
  const failedEvents = events.filter((e) => failed.some((o) => o.id === e.id));
  const overNats = failedEvents.slice(0, 4);
  const nc = await connect({ servers: nats.url });
  try {
    for (const event of overNats) {
      const reply = await nc.request('pulse.track', JSON.stringify({ event }), { timeout: 10_000 });
      const body = reply.json<{ event?: { id: string } }>();
      assert.equal(body.event?.id, event.id, `pulse.track answered ${reply.string()}`);
    }
  } finally {
    await nc.close();
  }
  const retried = await retryUntilAcknowledged(pulse.url, failedEvents.slice(overNats.length));
  rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const stored = assertStoredOnce(rows, events, [...acknowledged, ...retried]);
  assert.equal(stored, EVENTS, 'after the retries every sent event is stored exactly once');
  const counts = await readModelCounts(pulse.url, prefix, EVENTS);
  assertCountedOnce(counts, rows, prefix);
  const delivered = await assertDeliveredOnce(subscribers, rows.slice(1));
  for (const subscriber of subscribers) {
    assert.equal(
      subscriber.connections(),
      1,
      `${subscriber.transport}: the subscription stayed open through the outage`,
    );
  }

  printSummary('nats-kill', {
    sent: EVENTS,
    acknowledged: acknowledged.length,
    failed: failed.length,
    storedOfFailed,
    slowestCallMs: slowest,
    readyAgainMsAfterRestart: ready.afterMs,
    retriedOverNats: overNats.length,
    retriedOverHttp: retried.length,
    stored,
    counted: counts.counted,
    delivered,
    expectedPerSubscriber: rows.length - 1,
    maxDeliveryLagMs: Object.fromEntries(subscribers.map((s) => [s.transport, maxDeliveryLagMs(s, outcomes)])),
  });
});
