import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const KEYS = 'dash-ingest-key-1=ingest,dash-read-key-22=read';

let nats: TestNats | undefined;
let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
let browser: Browser | undefined;

before(async () => {
  if (!hasChromium) return;
  nats = await startNats();
  pulse = await startTestPulse(testEnv(nats.url, { PULSE_API_KEYS: KEYS, PULSE_SERVICE: 'off' }));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});
after(async () => {
  await browser?.close();
  await pulse?.close();
  await nats?.destroy();
});

test('with API keys the dashboard asks for a read key, refuses an ingest key, and keeps the key for the session', {
  skip: hasChromium ? false : `${CHROMIUM} is missing (apt-get install -y chromium)`,
}, async () => {
  const url = (pulse as NonNullable<typeof pulse>).url;
  const context = await (browser as Browser).newContext();
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    return host === '127.0.0.1' || route.request().url().startsWith('data:') ? route.continue() : route.abort();
  });
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
  await context.close();
});
