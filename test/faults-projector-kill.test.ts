import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertCountedOnce,
  assertStoredOnce,
  printSummary,
  readModelCounts,
  readStoredEvents,
} from './support/fault-ledger.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { runningProjectors, spawnProjector } from './support/projector-process.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { type CallOutcome, loadEvent, startTrackLoad } from './support/track-load.js';

const KILLS = 8;
const FIRST = 400;
const PER_RUN = 325;
const EVENTS = FIRST + KILLS * PER_RUN;

async function applied(url: string): Promise<number> {
  const res = await gql(url, '{ projections { applied } }');
  return res.data?.projections?.[0]?.applied ?? -1;
}

test('kill -9 of the projector at random points, again and again, during ingestion: read models exact', async (t) => {
  let nats: TestNats | undefined;
  let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
  t.after(async () => {
    for (const child of runningProjectors()) child.kill('SIGKILL');
    await pulse?.close();
    await nats?.destroy();
  });
  nats = await startNats();
  const env = testEnv(nats.url, {
    PULSE_PROJECTOR_BATCH: '100',
    PULSE_PROJECTOR_LEASE_TTL: '1s',
    PULSE_SERVICE: 'off',
  });
  // The API only ingests and answers queries; the projector runs as processes of its own.
  pulse = await startTestPulse({ ...env, PULSE_PROJECTOR: 'off' });

  const prefix = 'pk';
  const events = Array.from({ length: EVENTS }, (_, n) => loadEvent(prefix, n));
  const outcomes: CallOutcome[] = await startTrackLoad({
    url: pulse.url,
    events: events.slice(0, FIRST),
    concurrency: 16,
    callTimeoutMs: 30_000,
  }).done;

  const appliedAtKill: number[] = [];
  for (let run = 0; run < KILLS; run++) {
    const projector = spawnProjector(env);
    await projector.active;
    // Events keep arriving while it works, so kills land mid-batch, mid-write and mid-commit.
    const from = FIRST + run * PER_RUN;
    const arriving = startTrackLoad({
      url: pulse.url,
      events: events.slice(from, from + PER_RUN),
      concurrency: 16,
      callTimeoutMs: 30_000,
    });
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 700));
    projector.child.kill('SIGKILL');
    assert.equal(await projector.exit, 'SIGKILL');
    appliedAtKill.push(await applied(pulse.url));
    outcomes.push(...(await arriving.done));
  }

  const last = spawnProjector(env);
  await last.active;
  const acknowledged = outcomes.filter((o) => o.isAcknowledged);
  assert.equal(acknowledged.length, EVENTS, 'every call was acknowledged (NATS never failed here)');
  const rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  const stored = assertStoredOnce(rows, events, acknowledged);
  assert.equal(stored, EVENTS);
  const counts = await readModelCounts(pulse.url, prefix, EVENTS);
  assertCountedOnce(counts, rows, prefix);
  last.child.kill('SIGTERM');
  assert.equal(await last.exit, 0, 'the last projector stops cleanly');

  printSummary('projector-kill', {
    sent: EVENTS,
    acknowledged: acknowledged.length,
    kills: KILLS,
    appliedAtKill,
    stored,
    applied: counts.applied,
    counted: counts.counted,
  });
});
