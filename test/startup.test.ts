import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startNats, type TestNats } from './support/nats-server.js';
import { type PulseProcess, spawnPulse, startTestPulse, testEnv } from './support/pulse.js';

/** Every URL the page would fetch for its scripts, styles, fonts or images. */
function fetchedUrls(html: string): string[] {
  const urls: string[] = [];
  for (const match of html.matchAll(
    /<(?:script|link|img|iframe|source)\b[^>]*?\s(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi,
  )) {
    urls.push(match[1]);
  }
  for (const match of html.matchAll(/url\(\s*["']?([^"')\s]+)/gi)) urls.push(match[1]);
  for (const match of html.matchAll(/@import\s+["']([^"']+)/gi)) urls.push(match[1]);
  for (const match of html.matchAll(/\bimport\s*\(\s*["'](https?:[^"']+)/gi)) urls.push(match[1]);
  return urls;
}

const isLocal = (url: string) => url.startsWith('data:') || url.startsWith('blob:') || !/^(https?:)?\/\//i.test(url);

describe('a started Pulse answers health, readiness and GraphiQL', () => {
  let nats: TestNats;
  let pulse: PulseProcess;

  before(async () => {
    nats = await startNats();
    // As `npm start` runs it: its own process.
    pulse = await spawnPulse(testEnv(nats.url));
  });
  after(async () => {
    await pulse?.stop();
    await nats?.destroy();
  });

  test('/healthz answers 200 with a JSON body', async () => {
    const res = await fetch(`${pulse.url}/healthz`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('/readyz answers 200 with a JSON body while NATS and the stream are usable', async () => {
    const res = await fetch(`${pulse.url}/readyz`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { status: 'ready', ready: true, nats: 'connected', stream: 'ok' });
  });

  test("a browser's GET /graphql gets GraphiQL with every script and style served inline", async () => {
    const res = await fetch(`${pulse.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    assert.match(html, /<title>Pulse<\/title>/);
    assert.match(html, /graphiql/i);
    assert.match(html, /<script>/, 'the code is inline');
    const remote = fetchedUrls(html).filter((url) => !isLocal(url));
    assert.deepEqual(remote, [], 'nothing is fetched from another host');
    assert.doesNotMatch(html, /unpkg\.com|jsdelivr|cdnjs|esm\.sh|skypack|fonts\.googleapis|fonts\.gstatic/i);
  });

  test('a JSON client on the same path gets GraphQL', async () => {
    // A GET carries the CSRF prevention header (a JSON POST needs none).
    const res = await fetch(`${pulse.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { data: { __typename: 'Query' } });
  });
});

test('with PULSE_GRAPHIQL=off a browser gets no GraphiQL page', async (t) => {
  const nats = await startNats();
  let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
  t.after(async () => {
    await pulse?.close();
    await nats.destroy();
  });
  pulse = await startTestPulse(testEnv(nats.url, { PULSE_GRAPHIQL: 'off' }));
  const res = await fetch(`${pulse.url}/graphql`, { headers: { accept: 'text/html' } });
  const body = await res.text();
  assert.doesNotMatch(body, /<html/i);
});
