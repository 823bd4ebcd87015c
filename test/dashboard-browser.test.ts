import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { blockNonLoopback, browserSkip, launchChromium } from './support/browser.js';
import { track, waitUntil } from './support/live-clients.js';
import { freePort, startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const ARTIFACTS = new URL('../test-artifacts/', import.meta.url);

let nats: TestNats | undefined;
let env: Record<string, string>;
let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
let browser: Browser | undefined;

before(async () => {
  if (browserSkip) return;
  await mkdir(ARTIFACTS, { recursive: true });
  nats = await startNats();
  // A fixed port, so that the page finds Pulse again after the restart.
  env = testEnv(nats.url, { PORT: String(await freePort()), PULSE_SERVICE: 'off' });
  pulse = await startTestPulse(env);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await pulse?.close();
  await nats?.destroy();
});

async function tailIds(page: Page): Promise<string[]> {
  return page.$$eval('#tail-list li', (items) => items.map((item) => (item as HTMLElement).dataset.id ?? ''));
}

async function waitForTail(page: Page, ids: readonly string[]): Promise<void> {
  await page.waitForFunction(
    (wanted) => wanted.every((id) => document.querySelector(`#tail-list li[data-id="${id}"]`)),
    ids,
    { timeout: 20_000 },
  );
}

test('the dashboard shows tracked events live, looks users up, and resumes its tail after a Pulse restart', {
  skip: browserSkip,
}, async () => {
  const url = (pulse as NonNullable<typeof pulse>).url;
  const earlier = await track(url, { type: 'signup', userId: 'early-user', properties: { plan: 'free' } });

  const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  const blocked = await blockNonLoopback(page);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  await page.goto(`${url}/`);
  await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 });
  await waitForTail(page, [earlier.id]);

  // Known events, sent while the page watches.
  const sent = [];
  for (let i = 0; i < 4; i++) {
    sent.push(await track(url, { type: 'purchase', userId: 'dash-user', properties: { revenue: 10 + i } }));
  }
  sent.push(await track(url, { type: 'signup', userId: 'dash-user', properties: { plan: 'pro' } }));
  await waitForTail(
    page,
    sent.map((e) => e.id),
  );

  // Totals count them (the purchase type is new, so its count is exact) and the chart draws both types.
  await page.waitForFunction(
    () => document.querySelector('#totals-body tr[data-type="purchase"] td')?.textContent === '4',
    undefined,
    { timeout: 20_000 },
  );
  const signups = await page.textContent('#totals-body tr[data-type="signup"] td');
  assert.equal(signups, '2');
  await page.waitForFunction(
    () => {
      const series = document.getElementById('chart')?.dataset.series?.split(',') ?? [];
      return series.includes('purchase') && series.includes('signup');
    },
    undefined,
    { timeout: 10_000 },
  );
  assert.ok(await page.$('#chart canvas'), 'the chart is drawn');

  // The user lookup shows the profile from the read model.
  await page.fill('#lookup-id', 'dash-user');
  await page.click('#lookup-form button');
  await page.waitForFunction(
    () => document.querySelector('#lookup-result h3')?.textContent === 'dash-user',
    undefined,
    { timeout: 20_000 },
  );
  const facts = (await page.textContent('#lookup-result .facts')) ?? '';
  assert.match(facts, /Events\s*5/);
  assert.match(facts, /Revenue\s*46/);
  await page.screenshot({ path: new URL('dashboard-live.png', ARTIFACTS).pathname, fullPage: true });

  // Restart Pulse under the open page: the indicator shows the drop, and the tail resumes from its
  // last cursor with every event once.
  await (pulse as NonNullable<typeof pulse>).close();
  await page.waitForSelector('#status:not([data-state="live"])', { timeout: 20_000 });
  await page.screenshot({ path: new URL('dashboard-disconnected.png', ARTIFACTS).pathname });
  pulse = await startTestPulse(env);
  const afterRestart = [];
  for (let i = 0; i < 3; i++) afterRestart.push(await track(url, { type: 'after_restart', anonymousId: `anon-${i}` }));
  await waitForTail(
    page,
    afterRestart.map((e) => e.id),
  );
  await page.waitForSelector('#status[data-state="live"]', { timeout: 20_000 });
  const more = await track(url, { type: 'after_restart', anonymousId: 'anon-live' });
  await waitForTail(page, [more.id]);

  const ids = await tailIds(page);
  assert.equal(new Set(ids).size, ids.length, 'no event shown twice');
  for (const event of [earlier, ...sent, ...afterRestart, more]) assert.ok(ids.includes(event.id), `${event.id} shown`);
  assert.equal(ids.length, 1 + sent.length + afterRestart.length + 1, 'nothing missing, nothing extra');
  await page.screenshot({ path: new URL('dashboard-after-restart.png', ARTIFACTS).pathname, fullPage: true });

  assert.deepEqual(blocked, [], 'the dashboard asked for nothing beyond Pulse');
  assert.deepEqual(pageErrors, []);
  await waitUntil('page closed', () => true);
  await page.close();
});
