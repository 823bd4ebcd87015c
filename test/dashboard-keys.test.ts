import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { blockNonLoopback, browserSkip, launchChromium } from './support/browser.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const KEYS = 'dash-ingest-key-1=ingest,dash-read-key-22=read';

let nats: TestNats | undefined;
let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
let browser: Browser | undefined;

before(async () => {
  if (browserSkip) return;
  nats = await startNats();
  pulse = await startTestPulse(testEnv(nats.url, { PULSE_API_KEYS: KEYS, PULSE_SERVICE: 'off' }));
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await pulse?.close();
  await nats?.destroy();
});

test('with API keys the dashboard asks for a read key, refuses an ingest key, and keeps the key for the session', {
  skip: browserSkip,
}, async () => {
  const url = (pulse as NonNullable<typeof pulse>).url;
  const context = await (browser as Browser).newContext();
  const blocked = await blockNonLoopback(context);
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.waitForSelector('#key-dialog[open]', { timeout: 20_000 });

  await page.fill('#key-input', 'dash-ingest-key-1');
  await page.click('#key-form button');
  await page.waitForFunction(
    () => /cannot read/.test(document.getElementById('key-error')?.textContent ?? ''),
    undefined,
    {
      timeout: 20_000,
    },
  );
  assert.ok(await page.$('#key-dialog[open]'), 'an ingest key is refused and the dialog stays');

  await page.fill('#key-input', 'dash-read-key-22');
  await page.click('#key-form button');
  await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 });
  assert.equal(await page.$('#key-dialog[open]'), null);

  const res = await gql(
    url,
    'mutation { track(event: { type: "keyed_event", userId: "k1" }) { event { id } } }',
    {},
    { authorization: 'Bearer dash-ingest-key-1' },
  );
  const id = res.data.track.event.id as string;
  await page.waitForSelector(`#tail-list li[data-id="${id}"]`, { timeout: 20_000 });

  // The key is kept for the browser session: a reload goes straight to live data.
  await page.reload();
  await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 });
  assert.equal(await page.$('#key-dialog[open]'), null);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('pulse.dashboard.apiKey')), 'dash-read-key-22');
  assert.deepEqual(blocked, [], 'the dashboard asked for nothing beyond Pulse');
  await context.close();
});
