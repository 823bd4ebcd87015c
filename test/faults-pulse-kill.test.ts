import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertCountedOnce,
  assertDeliveredOnce,
  assertStoredOnce,
  printSummary,
  readModelCounts,
  readStoredEvents,
} from './support/fault-ledger.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { type PulseProcess, spawnPulse, testEnv } from './support/pulse.js';
import { type ResumingSubscriber, resumingSubscriber } from './support/resuming-subscriber.js';
import { loadEvent, retryUntilAcknowledged, startTrackLoad, trackOnce } from './support/track-load.js';

const EVENTS = 3000;

test('kill -9 of a Pulse process under load: no acknowledged event lost, resumed subscribers see each event once, in order', async (t) => {
  let nats: TestNats | undefined;
  const processes: PulseProcess[] = [];
  const subscribers: ResumingSubscriber[] = [];
  t.after(async () => {
    for (const subscriber of subscribers) await subscriber.stop();
    for (const pulse of processes) await pulse.stop('SIGKILL');
    await nats?.destroy();
  });
  nats = await startNats();
  const env = testEnv(nats.url, { PULSE_SERVICE: 'off' });
  const first = await spawnPulse(env);
  processes.push(first);

  const prefix = 'pp';
  const events = Array.from({ length: EVENTS }, (_, n) => loadEvent(prefix, n));
  const start = await trackOnce(first.url, events[0], 10_000);
  assert.ok(start.cursor, JSON.stringify(start));
  subscribers.push(
    resumingSubscriber('ws', first.url, start.cursor),
    resumingSubscriber('sse', first.url, start.cursor),
  );
  const load = startTrackLoad({ url: first.url, events: events.slice(1), concurrency: 16, callTimeoutMs: 30_000 });
  await load.waitForFinished(EVENTS / 3);
  const killedAt = Date.now();
  first.child.kill('SIGKILL');
  assert.equal(await first.stop(), 'SIGKILL');
  const outcomes = [start, ...(await load.done)];
  for (const subscriber of subscribers) await subscriber.waitForEnd();
  const deliveredBeforeKill = Object.fromEntries(subscribers.map((s) => [s.transport, s.events().length]));

  const acknowledged = outcomes.filter((o) => o.isAcknowledged);
  const failed = outcomes.filter((o) => !o.isAcknowledged);
  assert.deepEqual([...new Set(failed.map((o) => o.code))], ['NETWORK'], 'calls after the kill found no server');

  // The stream holds every acknowledged event once, before any Pulse is back.
  let rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const storedAtKill = assertStoredOnce(rows, events, acknowledged);

  // A new process on the same stream; subscribers resume there from their last cursor, and the
  // calls that got no answer are sent again with their ids.
  const second = await spawnPulse(env);
  processes.push(second);
  for (const subscriber of subscribers) subscriber.resume(second.url);
  const failedIds = new Set(failed.map((o) => o.id));
  const retried = await retryUntilAcknowledged(
    second.url,
    events.filter((e) => failedIds.has(e.id)),
    { concurrency: 16 },
  );
  rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const stored = assertStoredOnce(rows, events, [...acknowledged, ...retried]);
  assert.equal(stored, EVENTS, 'after the retries every sent event is stored exactly once');
  const counts = await readModelCounts(second.url, prefix, EVENTS);
  assertCountedOnce(counts, rows, prefix);

  const delivered = await assertDeliveredOnce(subscribers, rows.slice(1));

  printSummary('pulse-kill', {
    sent: EVENTS,
    acknowledgedBeforeKill: acknowledged.length,
    inFlightAtKill: failed.filter((o) => o.startedAt < killedAt).length,
    unanswered: failed.length,
    storedAtKill,
    storedOfUnanswered: storedAtKill - acknowledged.length,
    retried: retried.length,
    retriedAnsweredDuplicate: retried.filter((o) => o.duplicate).length,
    stored,
    counted: counts.counted,
    deliveredBeforeKill,
    delivered,
    expectedPerSubscriber: rows.length - 1,
  });
});
