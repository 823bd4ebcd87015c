// Browser-facing protections: CORS for the configured origins only, Yoga's CSRF prevention (with
// EventSource's header-less GET subscriptions let through, Last-Event-ID included), and the Origin
// check of WebSocket upgrades. Raw HTTP first, then a real Chromium on pages of a listed and of an
// unlisted origin (served by the test itself; every request but those to Pulse is blocked).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { createOriginPolicy } from '../src/http/index.js';
import { browserSkip, launchChromium } from './support/browser.js';
import { openRawSse, track, wsUrl } from './support/live-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

// Pages on other loopback addresses, served by the test: cross-origin to Pulse, and in the same
// address space, so that Chromium's local-network rules (a public page may not call loopback) do
// not come into it. Their ports are known once they listen.
let APP = 'http://127.0.0.2';
let EVIL = 'http://127.0.0.3';

/** Whether a WebSocket upgrade with these headers is accepted (101) or refused (the status). */
function upgrade(baseUrl: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(baseUrl), 'graphql-transport-ws', { headers });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no answer to the upgrade in 5 s'));
    }, 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => {});
  });
}

/** A page server on a loopback address: an empty page at every path. */
async function servePages(host: string): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>app</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { origin: `http://${host}:${(server.address() as { port: number }).port}`, server };
}

describe('browser protections', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let closedByDefault: Awaited<ReturnType<typeof startTestPulse>>;
  const pageServers: Server[] = [];

  before(async () => {
    const app = await servePages('127.0.0.2');
    const evil = await servePages('127.0.0.3');
    pageServers.push(app.server, evil.server);
    APP = app.origin;
    EVIL = evil.origin;
    nats = await startNats();
    const quiet = { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off' };
    pulse = await startTestPulse(
      testEnv(nats.url, { ...quiet, PULSE_CORS_ORIGINS: `${APP}, https://other.example:8443` }),
    );
    closedByDefault = await startTestPulse(testEnv(nats.url, quiet));
  });

  after(async () => {
    await closedByDefault?.close();
    await pulse?.close();
    await nats?.destroy();
    for (const server of pageServers) server.closeAllConnections();
    for (const server of pageServers) await new Promise((resolve) => server.close(resolve));
  });

  describe('CORS', () => {
    test('a listed origin gets CORS headers on the preflight and the answer; others get none', async () => {
      const preflight = (url: string, origin: string) =>
        fetch(`${url}/graphql`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization, content-type',
          },
        });
      const allowed = await preflight(pulse.url, APP);
      assert.equal(allowed.status, 204);
      assert.equal(allowed.headers.get('access-control-allow-origin'), APP);
      assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /authorization/);
      assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /content-type/);
      assert.equal(allowed.headers.get('access-control-allow-credentials'), null, 'keys are headers, never cookies');

      const refused = await preflight(pulse.url, EVIL);
      assert.equal(refused.headers.get('access-control-allow-origin'), null);

      const post = (url: string, origin: string) =>
        fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { origin, 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ __typename }' }),
        });
      const answered = await post(pulse.url, APP);
      assert.equal(answered.headers.get('access-control-allow-origin'), APP);
      assert.match(answered.headers.get('access-control-expose-headers') ?? '', /retry-after/);
      assert.equal((await post(pulse.url, EVIL)).headers.get('access-control-allow-origin'), null);
    });

    test('with no origins configured, no origin gets CORS headers', async () => {
      for (const origin of [APP, EVIL, 'null']) {
        const res = await fetch(`${closedByDefault.url}/graphql`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST' },
        });
        assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      }
    });

    test('`*` allows any origin; origins compare without case or a trailing slash', () => {
      const any = createOriginPolicy(['*']);
      assert.equal(any.allowsCrossOrigin('https://anything.example'), true);
      const listed = createOriginPolicy(['https://App.example']);
      assert.equal(listed.allowsCrossOrigin('https://app.example'), true);
      assert.equal(listed.allowsCrossOrigin('https://app.example:444'), false);
      assert.equal(createOriginPolicy([]).allowsCrossOrigin('https://app.example'), false);
    });
  });

  describe('CSRF prevention', () => {
    test('a GET, a form or a text/plain POST needs the CSRF header; a JSON POST does not', async () => {
      const get = (headers: Record<string, string>) =>
        fetch(`${pulse.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
          headers: { accept: 'application/json', ...headers },
        });
      const bare = await get({});
      assert.equal(bare.status, 403);
      const refusal = (await bare.json()) as { errors: Array<{ extensions: { code: string } }> };
      assert.equal(refusal.errors[0].extensions.code, 'BAD_REQUEST');
      const withHeader = await get({ 'x-graphql-yoga-csrf': '1' });
      assert.equal(withHeader.status, 200);
      assert.deepEqual(await withHeader.json(), { data: { __typename: 'Query' } });

      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const res = await fetch(`${pulse.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': type },
          body: type === 'text/plain' ? '{"query":"{ __typename }"}' : 'query=%7B__typename%7D',
        });
        assert.equal(res.status, 403, type);
      }
      const json = await fetch(`${pulse.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      assert.equal(json.status, 200);
    });

    test('an EventSource-style GET subscription needs no header, and resumes with Last-Event-ID', async () => {
      const query = 'subscription { events(filter: { types: ["csrf-sse"] }) { id type } }';
      const first = await openRawSse(pulse.url, query);
      assert.equal(first.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const a = await track(pulse.url, { type: 'csrf-sse', userId: 'u1' });
      await first.waitForFrames((f) => f.some((x) => x.event === 'next'), 'the first event');
      const lastEventId = first.frames.find((f) => f.event === 'next')?.id;
      assert.equal(lastEventId, a.cursor);
      await first.close();

      const b = await track(pulse.url, { type: 'csrf-sse', userId: 'u2' });
      const resumed = await openRawSse(pulse.url, query, undefined, { 'last-event-id': lastEventId as string });
      await resumed.waitForFrames((f) => f.some((x) => x.event === 'next'), 'the event after the last one seen');
      assert.deepEqual(
        resumed.events().map((e) => e.id),
        [b.id],
      );
      await resumed.close();
    });

    test('GraphiQL is served to a browser GET without the header', async () => {
      const res = await fetch(`${pulse.url}/graphql`, { headers: { accept: 'text/html' } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    });
  });

  describe('WebSocket Origin', () => {
    test('no Origin, the same origin and listed origins may upgrade; any other origin gets 403', async () => {
      const host = new URL(pulse.url).host;
      assert.equal(await upgrade(pulse.url, {}), 101, 'no Origin: not a browser');
      assert.equal(await upgrade(pulse.url, { origin: `http://${host}` }), 101, 'same origin');
      assert.equal(await upgrade(pulse.url, { origin: APP }), 101, 'listed');
      assert.equal(await upgrade(pulse.url, { origin: EVIL }), 403);
      assert.equal(await upgrade(closedByDefault.url, { origin: APP }), 403, 'nothing listed by default');
      const defaultHost = new URL(closedByDefault.url).host;
      assert.equal(await upgrade(closedByDefault.url, { origin: `http://${defaultHost}` }), 101);
    });
  });

  describe('in Chromium', {
    skip: browserSkip,
  }, () => {
    let browser: Browser;
    before(async () => {
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
    });

    /** A page at `origin`; every request that does not stay on loopback is blocked. */
    async function pageAt(origin: string): Promise<Page> {
      const page = await browser.newPage();
      await page.route('**/*', (route) => {
        const target = new URL(route.request().url());
        if (target.hostname.startsWith('127.')) return route.continue();
        return route.abort('blockedbyclient');
      });
      await page.goto(`${origin}/`);
      return page;
    }

    /** What a page manages against Pulse: a JSON POST, an EventSource event, a WebSocket. */
    function tryEverything(page: Page, pulseUrl: string) {
      return page.evaluate(async (base) => {
        const outcome: { fetch: string; eventSource: string; webSocket: string } = {
          fetch: '',
          eventSource: '',
          webSocket: '',
        };
        try {
          const res = await fetch(`${base}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ __typename }' }),
          });
          outcome.fetch = JSON.stringify(await res.json());
        } catch (error) {
          outcome.fetch = `failed: ${(error as Error).name}`;
        }
        outcome.eventSource = await new Promise<string>((resolve) => {
          const query = encodeURIComponent('subscription { events(filter: { types: ["browser"] }) { type } }');
          const source = new EventSource(`${base}/graphql?query=${query}`);
          const timer = setTimeout(() => {
            source.close();
            resolve('no event');
          }, 8000);
          source.addEventListener('open', () => {
            void fetch(`${base}/graphql`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                query: 'mutation { track(event: { type: "browser", userId: "b" }) { duplicate } }',
              }),
            }).catch(() => {});
          });
          source.addEventListener('next', (event) => {
            clearTimeout(timer);
            source.close();
            resolve((event as MessageEvent).data as string);
          });
          source.addEventListener('error', () => {
            clearTimeout(timer);
            source.close();
            resolve('error');
          });
        });
        outcome.webSocket = await new Promise<string>((resolve) => {
          const ws = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
          ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }));
          ws.onmessage = (message) => {
            resolve(JSON.parse(message.data as string).type);
            ws.close();
          };
          ws.onerror = () => resolve('error');
        });
        return outcome;
      }, pulseUrl);
    }

    test('a page of a listed origin reads answers, streams events and opens a WebSocket', async () => {
      const page = await pageAt(APP);
      const outcome = await tryEverything(page, pulse.url);
      assert.equal(outcome.fetch, JSON.stringify({ data: { __typename: 'Query' } }));
      assert.equal(outcome.eventSource, JSON.stringify({ data: { events: { type: 'browser' } } }));
      assert.equal(outcome.webSocket, 'connection_ack');
      await page.close();
    });

    test('a page of any other origin reads nothing and gets no WebSocket', async () => {
      const page = await pageAt(EVIL);
      const outcome = await tryEverything(page, pulse.url);
      assert.equal(outcome.fetch, 'failed: TypeError');
      assert.equal(outcome.eventSource, 'error');
      assert.equal(outcome.webSocket, 'error');
      await page.close();
    });
  });
});
