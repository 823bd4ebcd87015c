import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { blockNonLoopback, browserSkip, launchChromium } from './support/browser.js';
import { metrics, metricValue, track } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

let nats: TestNats | undefined;
let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
let browser: Browser | undefined;
before(async () => {
  if (browserSkip) return;
  nats = await startNats();
  pulse = await startTestPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off' }));
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await pulse?.close();
  await nats?.destroy();
});

test('GraphiQL runs the events subscription over WebSocket and shows events as they arrive, with no internet', {
  skip: browserSkip,
}, async () => {
  const url = (pulse as NonNullable<typeof pulse>).url;
  const page = await (browser as Browser).newPage();
  const blocked = await blockNonLoopback(page);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  const query = 'subscription Live { events { id type userId properties } }';
  await page.goto(`${url}/graphql?query=${encodeURIComponent(query)}`);
  await page.locator('.graphiql-execute-button').click({ timeout: 20_000 });
  // The subscription is open once Pulse counts a WebSocket subscriber.
  let wsSubscribers = 0;
  for (let i = 0; i < 200 && wsSubscribers !== 1; i++) {
    wsSubscribers = metricValue(await metrics(url), 'pulse_live_subscribers', 'transport="ws"');
    if (wsSubscribers !== 1) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(wsSubscribers, 1, 'GraphiQL holds one WebSocket subscription');

  const response = page.locator('.graphiql-response');
  for (const n of [1, 2]) {
    const event = await track(url, { type: 'graphiql_seen', userId: `browser-${n}`, properties: { n } });
    await page.waitForFunction(
      (id) => document.querySelector('.graphiql-response')?.textContent?.includes(id) ?? false,
      event.id,
      { timeout: 20_000 },
    );
    assert.match((await response.textContent()) ?? '', new RegExp(`browser-${n}`));
  }
  assert.deepEqual(blocked, [], 'GraphiQL asked for nothing beyond Pulse');
  assert.deepEqual(pageErrors, []);
  await page.close();
});
