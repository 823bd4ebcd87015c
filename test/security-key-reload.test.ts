// Keys reload without a restart: when their file changes (polled) or on SIGHUP. The WebSocket
// connections and SSE streams of a removed key are closed within seconds; the others go on.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bearer, codesOf, gqlWithKey, keyedSocket } from './support/keyed-clients.js';
import { metrics, metricValue, openRawSse, subscribeWs, waitUntil } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { type PulseProcess, spawnPulse, startTestPulse, testEnv } from './support/pulse.js';

const KEEP = 'keep-key-000001';
const GONE = 'gone-key-000001';
const LATER = 'later-key-00001';
const TRACK = 'mutation ($e: TrackEventInput!) { track(event: $e) { duplicate } }';
const EVENTS = 'subscription { events { id type } }';

describe('key reload', () => {
  let nats: TestNats;
  let dir: string;

  before(async () => {
    nats = await startNats();
    dir = await mkdtemp(join(tmpdir(), 'pulse-keys-reload-'));
  });

  after(async () => {
    await nats?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('removing a key from the file closes its WebSocket (4403) and SSE streams within seconds; others go on', async (t) => {
    const file = join(dir, 'keys-polled');
    await writeFile(file, `# the keys of this test\n${KEEP}=ingest+read\n${GONE}=read\n`);
    // The default poll interval (1 s): what a deployment gets.
    const pulse = await startTestPulse(testEnv(nats.url, { PULSE_API_KEYS_FILE: file, PULSE_PROJECTOR: 'off' }));
    const cleanups: Array<() => unknown> = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
      await pulse.close();
    });

    const goneSocket = keyedSocket(pulse.url, { authorization: `Bearer ${GONE}` });
    const keptSocket = keyedSocket(pulse.url, { apiKey: KEEP });
    cleanups.push(
      () => goneSocket.dispose(),
      () => keptSocket.dispose(),
    );
    await goneSocket.waitForConnected();
    await keptSocket.waitForConnected();
    const goneWs = subscribeWs(goneSocket.client, EVENTS);
    const keptWs = subscribeWs(keptSocket.client, EVENTS);
    const goneSse = await openRawSse(pulse.url, EVENTS, undefined, bearer(GONE));
    const keptSse = await openRawSse(pulse.url, EVENTS, undefined, bearer(KEEP));
    cleanups.push(
      () => goneSse.close(),
      () => keptSse.close(),
    );
    // Every subscription is attached once the process counts it.
    let subscribers = 0;
    for (let i = 0; i < 50 && subscribers < 4; i++) {
      const text = await metrics(pulse.url);
      subscribers =
        metricValue(text, 'pulse_live_subscribers', 'transport="ws"') +
        metricValue(text, 'pulse_live_subscribers', 'transport="sse"');
      if (subscribers < 4) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(subscribers, 4);

    const removedAt = Date.now();
    await writeFile(file, `${KEEP}=ingest+read\n${LATER}=read\n`);
    const closed = await goneSocket.waitForClose(5000);
    assert.equal(closed.code, 4403);
    assert.match(closed.reason, /^FORBIDDEN: the API key was removed/);
    await goneSse.waitForFrames((f) => f.some((x) => x.event === 'complete'), 'the SSE stream to complete', 5000);
    const tookMs = Date.now() - removedAt;
    assert.ok(tookMs < 5000, `closed after ${tookMs} ms`);

    // The removed key is refused from now on; the new one works without a restart.
    const refused = await gqlWithKey(pulse.url, GONE, '{ eventTypes { type } }');
    assert.equal(refused.status, 401);
    assert.deepEqual(codesOf(refused), ['UNAUTHENTICATED']);
    const added = await gqlWithKey(pulse.url, LATER, '{ eventTypes { type } }');
    assert.equal(added.status, 200);

    // The kept key's subscriptions still deliver.
    await gqlWithKey(pulse.url, KEEP, TRACK, { e: { type: 'after-removal', userId: 'u' } });
    await keptWs.waitForEvents(1);
    await keptSse.waitForFrames((f) => f.some((x) => x.event === 'next'), 'an event for the kept key');
    assert.equal(keptSocket.closed, undefined);
    assert.equal(goneWs.events.length, 0);
    assert.equal(goneSse.events().length, 0);

    // A broken file keeps the keys there were.
    await writeFile(file, `${KEEP}=ingest+read\nnot a valid line\n`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await gqlWithKey(pulse.url, LATER, '{ eventTypes { type } }')).status, 200);
  });

  test('SIGHUP re-reads the file at once', async (t) => {
    const file = join(dir, 'keys-hup');
    await writeFile(file, `${KEEP}=read\n`);
    // Polled hourly: only the signal can make the change count within this test.
    let pulse: PulseProcess | undefined;
    t.after(async () => {
      await pulse?.stop();
    });
    pulse = await spawnPulse(
      testEnv(nats.url, {
        PULSE_API_KEYS_FILE: file,
        PULSE_API_KEYS_POLL: '1h',
        PULSE_PROJECTOR: 'off',
        PULSE_LOG_LEVEL: 'info',
      }),
    );
    const url = pulse.url;
    await writeFile(file, `${KEEP}=read\n${LATER}=read\n`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await gqlWithKey(url, LATER, '{ eventTypes { type } }')).status, 401, 'not re-read yet');
    pulse.child.kill('SIGHUP');
    await waitUntil('the new key to work', () => pulse?.output().includes('API keys reloaded') ?? false, 5000);
    assert.equal((await gqlWithKey(url, LATER, '{ eventTypes { type } }')).status, 200);
    assert.equal(pulse.child.exitCode, null, 'SIGHUP does not stop Pulse');
  });
});
