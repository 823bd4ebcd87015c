import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertCountedOnce,
  assertStoredOnce,
  printSummary,
  readModelCounts,
  readStoredEvents,
} from './support/fault-ledger.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { inspectStream } from './support/stream-messages.js';
import { loadEvent, retryUntilAcknowledged, startTrackLoad, waitForStatus } from './support/track-load.js';

const EVENTS = 600;
const MAX_BYTES = 64 * 1024;
const DEADLINE_MS = 3000;

test('JetStream out of space (max bytes, discard new): STREAM_FULL at once, no crash, recovery once space frees', async (t) => {
  let nats: TestNats | undefined;
  let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
  t.after(async () => {
    await pulse?.close();
    await nats?.destroy();
  });
  nats = await startNats();
  const env = testEnv(nats.url, {
    PULSE_STREAM_MAX_BYTES: String(MAX_BYTES),
    PULSE_STREAM_DISCARD: 'new',
    PULSE_PUBLISH_DEADLINE: `${DEADLINE_MS}ms`,
    PULSE_SERVICE: 'off',
  });
  pulse = await startTestPulse(env);

  const prefix = 'sf';
  const events = Array.from({ length: EVENTS }, (_, n) => loadEvent(prefix, n));
  const outcomes = await startTrackLoad({ url: pulse.url, events, concurrency: 8, callTimeoutMs: 30_000 }).done;
  const acknowledged = outcomes.filter((o) => o.isAcknowledged);
  const failed = outcomes.filter((o) => !o.isAcknowledged);

  assert.equal(outcomes.length, EVENTS, 'every call answered');
  assert.ok(acknowledged.length > 0 && failed.length > 0, 'the stream filled up part-way');
  assert.deepEqual(
    [...new Set(failed.map((o) => `${o.code}/${o.reason}`))],
    ['EVENT_BUS_UNAVAILABLE/STREAM_FULL'],
    'a refused event is EVENT_BUS_UNAVAILABLE with reason STREAM_FULL',
  );
  // Refused at once: a full stream answers the same on every retry, so none is made.
  const slowestRefusalMs = Math.max(...failed.map((o) => o.elapsedMs));
  assert.ok(slowestRefusalMs < DEADLINE_MS, `refusals do not wait for the deadline (slowest ${slowestRefusalMs} ms)`);
  assert.equal((await fetch(`${pulse.url}/healthz`)).status, 200, 'Pulse is alive');

  let rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const storedWhileFull = assertStoredOnce(rows, events, acknowledged);
  assert.equal(storedWhileFull, acknowledged.length, 'a refused event is not stored');
  assertCountedOnce(await readModelCounts(pulse.url, prefix, storedWhileFull), rows, prefix);

  // Space frees: an operator raises the limit. The refused events go in with their own ids.
  const inspector = await inspectStream(nats.url, env.PULSE_STREAM);
  try {
    const { config } = await inspector.jsm.streams.info(env.PULSE_STREAM);
    await inspector.jsm.streams.update(env.PULSE_STREAM, { ...config, max_bytes: 16 * MAX_BYTES });
  } finally {
    await inspector.close();
  }
  assert.equal(await waitForStatus(`${pulse.url}/readyz`, 200, 10_000), 200, '/readyz is 200');
  const failedIds = new Set(failed.map((o) => o.id));
  const retried = await retryUntilAcknowledged(
    pulse.url,
    events.filter((e) => failedIds.has(e.id)),
    { timeoutMs: 30_000 },
  );
  rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const stored = assertStoredOnce(rows, events, [...acknowledged, ...retried]);
  assert.equal(stored, EVENTS, 'after the retries every sent event is stored exactly once');
  const counts = await readModelCounts(pulse.url, prefix, EVENTS);
  assertCountedOnce(counts, rows, prefix);

  printSummary('stream-full', {
    sent: EVENTS,
    acknowledged: acknowledged.length,
    refusedStreamFull: failed.length,
    slowestRefusalMs,
    storedWhileFull,
    retried: retried.length,
    stored,
    counted: counts.counted,
  });
});
