import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium; browser tests skip with this reason when it is absent. */
export const CHROMIUM = '/usr/bin/chromium';
export const browserSkip: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing (apt-get install -y chromium)`;

/** Headless Chromium with the flags this machine needs; it downloads nothing. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}

const isLoopback = (host: string) => host.startsWith('127.') || host === 'localhost' || host === '[::1]';

/** Blocks every request that leaves loopback and answers the list of what was blocked. */
export async function blockNonLoopback(target: Page | BrowserContext): Promise<string[]> {
  const blocked: string[] = [];
  await target.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['data:', 'blob:'].includes(url.protocol) || isLoopback(url.hostname)) return route.continue();
    blocked.push(url.href);
    return route.abort('blockedbyclient');
  });
  return blocked;
}
