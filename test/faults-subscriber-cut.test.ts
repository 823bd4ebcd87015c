import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertDeliveredOnce, printSummary, readStoredEvents } from './support/fault-ledger.js';
import { metrics, metricValue, waitUntil } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { type ResumingSubscriber, resumingSubscriber } from './support/resuming-subscriber.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { loadEvent, startTrackLoad, trackOnce } from './support/track-load.js';

const EVENTS = 2000;
const CUTS = 6;

test('subscribers whose sockets are cut, live and mid-replay, resume with `after`: nothing missing, nothing doubled', async (t) => {
  let nats: TestNats | undefined;
  let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
  let proxy: TcpProxy | undefined;
  const subscribers: ResumingSubscriber[] = [];
  t.after(async () => {
    for (const subscriber of subscribers) await subscriber.stop();
    await proxy?.close();
    await pulse?.close();
    await nats?.destroy();
  });
  nats = await startNats();
  // Small replay pages: a resumed subscription catches up in many steps, so a cut can land mid-replay.
  const env = testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off', PULSE_LIVE_REPLAY_PAGE: '64' });
  pulse = await startTestPulse(env);
  const url = pulse.url;
  proxy = await startTcpProxy(Number(new URL(url).port));
  const idle = await metrics(url);
  const idleConsumers = metricValue(idle, 'pulse_live_consumers');

  const prefix = 'sc';
  const events = Array.from({ length: EVENTS }, (_, n) => loadEvent(prefix, n));
  const first = await trackOnce(url, events[0], 10_000);
  assert.ok(first.cursor, JSON.stringify(first));
  // Both subscribe through the proxy, from right after the first event.
  const proxied = proxy;
  subscribers.push(
    resumingSubscriber('ws', proxied.url, first.cursor),
    resumingSubscriber('sse', proxied.url, first.cursor),
    resumingSubscriber('last-event-id', proxied.url, first.cursor),
  );
  const load = startTrackLoad({ url, events: events.slice(1), concurrency: 8, callTimeoutMs: 30_000 });

  // Per cut: how many subscriptions the server still had catching up (pulse_live_replaying).
  const replayingAtCut: number[] = [];
  for (let cut = 0; cut < CUTS; cut++) {
    if (cut % 2 === 0) {
      // Cut while events flow live: every subscription caught up, and some events arrived since.
      const deadline = Date.now() + 30_000;
      while (metricValue(await metrics(url), 'pulse_live_replaying') > 0 && load.finished() < EVENTS - 1) {
        assert.ok(Date.now() < deadline, 'the resumed subscriptions did not catch up');
        await new Promise((r) => setTimeout(r, 25));
      }
      const caughtUpAt = subscribers.map((s) => s.eventsOnCurrent());
      await waitUntil(
        'live events on every current connection',
        () => subscribers.every((s, i) => s.eventsOnCurrent() >= caughtUpAt[i] + 20) || load.finished() === EVENTS - 1,
        30_000,
      );
    } else {
      // Cut as soon as the resumed connections deliver: they are still replaying their backlog.
      await waitUntil(
        'the first replayed event on every current connection',
        () => subscribers.every((s) => s.eventsOnCurrent() >= 1),
        30_000,
      );
    }
    replayingAtCut.push(metricValue(await metrics(url), 'pulse_live_replaying'));
    proxied.cutAll();
    for (const subscriber of subscribers) await subscriber.waitForEnd();
    // Fall behind before resuming, so that the next connection starts with a backlog.
    if (cut % 2 === 0) {
      const behindFrom = load.finished();
      await waitUntil('a backlog', () => load.finished() >= Math.min(behindFrom + 300, EVENTS - 1), 30_000);
    }
    for (const subscriber of subscribers) subscriber.resume(proxied.url);
  }
  assert.ok(
    replayingAtCut.filter((_, i) => i % 2 === 1).some((n) => n > 0),
    `at least one cut landed while subscriptions were replaying (${replayingAtCut})`,
  );
  const outcomes = await load.done;
  assert.equal(outcomes.filter((o) => o.isAcknowledged).length, EVENTS - 1, 'every event was acknowledged');

  const rows = await readStoredEvents(nats.url, env.PULSE_STREAM);
  assert.equal(rows.length, EVENTS);
  const delivered = await assertDeliveredOnce(subscribers, rows.slice(1));

  // The server let go of every cut connection: it holds the ones open, then none.
  const openConnections = metricValue(await metrics(url), 'pulse_live_connections');
  assert.equal(openConnections, subscribers.length, 'cut connections are not held on the server');
  for (const subscriber of subscribers) await subscriber.stop();
  let closed = '';
  const deadline = Date.now() + 10_000;
  for (;;) {
    closed = await metrics(url);
    const isIdle =
      metricValue(closed, 'pulse_live_connections') === 0 &&
      metricValue(closed, 'pulse_live_consumers') === idleConsumers;
    if (isIdle) break;
    assert.ok(Date.now() < deadline, `the server did not let go of its subscribers:\n${closed}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  printSummary('subscriber-cut', {
    sent: EVENTS,
    acknowledged: outcomes.filter((o) => o.isAcknowledged).length + 1,
    stored: rows.length,
    cuts: CUTS,
    replayingAtCut,
    connections: Object.fromEntries(subscribers.map((s) => [s.transport, s.connections()])),
    delivered,
    expectedPerSubscriber: rows.length - 1,
    openConnectionsAtEnd: openConnections,
  });
});
