// The production switch (GraphiQL, introspection and field suggestions off), errors masked on
// every transport, secrets kept out of logs and setting errors, and the one start-up warning of
// an open Pulse.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { NatsConnection } from '@nats-io/transport-node';
import { loadSettings } from '../src/config/index.js';
import { askService, codesOf, gqlWithKey, keyedSocket, natsClient, runOverSocket } from './support/keyed-clients.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { type PulseProcess, spawnPulse, startTestPulse, testEnv } from './support/pulse.js';
import { runPulseToExit } from './support/run-to-exit.js';

const KEY = 'prod-admin-key-01';
// What must never reach a client: stack frames, file paths, exception names, parser internals.
const INTERNALS = /\n\s+at |node_modules|\/work\/|\.ts:\d+|SyntaxError|TypeError|originalError|stack/;

describe('the production switch', () => {
  test('PULSE_ENV=production turns GraphiQL, introspection, suggestions and pretty logs off; each setting still wins', () => {
    const development = loadSettings({});
    assert.equal(development.environment, 'development');
    assert.equal(development.http.graphiql, true);
    assert.equal(development.graphql.introspection, true);
    assert.equal(development.graphql.fieldSuggestions, true);

    const production = loadSettings({ PULSE_ENV: 'production', PULSE_LOG_PRETTY: 'auto' });
    assert.equal(production.http.graphiql, false);
    assert.equal(production.graphql.introspection, false);
    assert.equal(production.graphql.fieldSuggestions, false);
    assert.equal(production.log.pretty, false);

    const overridden = loadSettings({ PULSE_ENV: 'production', PULSE_INTROSPECTION: 'on', PULSE_GRAPHIQL: 'on' });
    assert.equal(overridden.graphql.introspection, true);
    assert.equal(overridden.http.graphiql, true);
    assert.equal(overridden.graphql.fieldSuggestions, false);
    assert.throws(() => loadSettings({ PULSE_ENV: 'prod' }), /PULSE_ENV/);
    assert.throws(() => loadSettings({ PULSE_CORS_ORIGINS: 'app.example.com' }), /PULSE_CORS_ORIGINS/);
  });

  describe('a running Pulse', () => {
    let nats: TestNats;
    let production: Awaited<ReturnType<typeof startTestPulse>>;
    let development: Awaited<ReturnType<typeof startTestPulse>>;

    before(async () => {
      nats = await startNats();
      const quiet = { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off' };
      production = await startTestPulse(testEnv(nats.url, { ...quiet, PULSE_ENV: 'production' }));
      development = await startTestPulse(testEnv(nats.url, quiet));
    });
    after(async () => {
      await production?.close();
      await development?.close();
      await nats?.destroy();
    });

    test('no GraphiQL page in production', async () => {
      const dev = await fetch(`${development.url}/graphql`, { headers: { accept: 'text/html' } });
      assert.match(dev.headers.get('content-type') ?? '', /text\/html/);
      const prod = await fetch(`${production.url}/graphql`, { headers: { accept: 'text/html' } });
      assert.doesNotMatch(prod.headers.get('content-type') ?? '', /text\/html/);
      assert.doesNotMatch(await prod.text(), /graphiql/i);
    });

    test('introspection is refused in production, over HTTP and WebSocket; __typename still answers', async () => {
      const query = '{ __schema { queryType { name } } }';
      assert.equal((await gqlWithKey(development.url, undefined, query)).data?.__schema.queryType.name, 'Query');
      const refused = await gqlWithKey(production.url, undefined, query);
      // One error per introspection field (__schema, queryType).
      assert.deepEqual(new Set(codesOf(refused)), new Set(['GRAPHQL_VALIDATION_FAILED']));
      assert.equal(refused.data ?? undefined, undefined);
      const byType = await gqlWithKey(production.url, undefined, '{ __type(name: "Query") { name } }');
      assert.deepEqual(new Set(codesOf(byType)), new Set(['GRAPHQL_VALIDATION_FAILED']));
      assert.deepEqual((await gqlWithKey(production.url, undefined, '{ __typename }')).data, { __typename: 'Query' });

      const socket = keyedSocket(production.url, {});
      await socket.waitForConnected();
      const overWs = await runOverSocket(socket.client, query);
      assert.deepEqual(
        new Set(overWs.flatMap((r) => r.errors ?? []).map((e) => e.extensions?.code)),
        new Set(['GRAPHQL_VALIDATION_FAILED']),
      );
      await socket.dispose();
    });

    test('no field or value suggestions in production, in validation or in variables', async () => {
      const typo = '{ eventTyps { type } }';
      assert.match((await gqlWithKey(development.url, undefined, typo)).errors?.[0].message ?? '', /Did you mean/);
      const answer = await gqlWithKey(production.url, undefined, typo);
      assert.deepEqual(codesOf(answer), ['GRAPHQL_VALIDATION_FAILED']);
      assert.doesNotMatch(answer.errors?.[0].message ?? '', /Did you mean|eventTypes/);

      const byVariable = await gqlWithKey(
        production.url,
        undefined,
        'query ($i: Interval!) { eventCounts(from: "2024-01-01T00:00:00Z", interval: $i) { type } }',
        { i: 'MINUT' },
      );
      assert.deepEqual(codesOf(byVariable), ['BAD_USER_INPUT']);
      assert.doesNotMatch(byVariable.errors?.[0].message ?? '', /Did you mean|MINUTE/);
      const field = await gqlWithKey(
        production.url,
        undefined,
        'mutation ($e: TrackEventInput!) { track(event: $e) { duplicate } }',
        { e: { type: 't', userId: 'u', userID: 'x' } },
      );
      assert.doesNotMatch(field.errors?.[0].message ?? '', /Did you mean/);
    });
  });
});

describe('masked errors on every transport', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let nc: NatsConnection;

  before(async () => {
    nats = await startNats();
    pulse = await startTestPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_API_KEYS: `${KEY}=admin` }));
    nc = await natsClient(nats.url);
  });
  after(async () => {
    await nc?.close().catch(() => {});
    await pulse?.close();
    await nats?.destroy();
  });

  test('malformed JSON is BAD_REQUEST without the parser message, over HTTP (plain and compressed) and NATS', async () => {
    const plain = await fetch(`${pulse.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: '{"query": "{ __typename }", ',
    });
    // Not read by Pulse's own body reader: Yoga's parser answers, whose error carried the exception's text.
    const compressed = await fetch(`${pulse.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        accept: 'application/graphql-response+json',
        authorization: `Bearer ${KEY}`,
      },
      body: gzipSync('{"query": "{ __typename }", '),
    });
    for (const res of [plain, compressed]) {
      assert.equal(res.status, 400);
      const text = await res.text();
      assert.doesNotMatch(text, INTERNALS);
      assert.equal(
        (JSON.parse(text) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code,
        'BAD_REQUEST',
      );
    }
    const overNats = await askService(nc, 'pulse.graphql', '{"query": "{ __typename }", ', {
      Authorization: `Bearer ${KEY}`,
    });
    assert.equal(overNats.errorCode, 400);
    assert.doesNotMatch(JSON.stringify(overNats.body), INTERNALS);
    assert.deepEqual(codesOf(overNats.body), ['BAD_REQUEST']);
  });

  test('an unexpected failure is INTERNAL_SERVER_ERROR with a request id and no internals, over HTTP, SSE and WebSocket', async () => {
    const socket = keyedSocket(pulse.url, { apiKey: KEY });
    await socket.waitForConnected();
    // With NATS gone, reading the stream's state fails in a way no error code describes.
    await nats.stop();
    try {
      const query = '{ system { stream { messages } } }';
      const [http, sse, ws] = await Promise.all([
        fetch(`${pulse.url}/graphql`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${KEY}`,
            'x-request-id': 'req-masked-1',
          },
          body: JSON.stringify({ query }),
        }).then(async (res) => ({ status: res.status, text: await res.text() })),
        fetch(`${pulse.url}/graphql?query=${encodeURIComponent(query)}`, {
          headers: { accept: 'text/event-stream', authorization: `Bearer ${KEY}` },
        }).then((res) => res.text()),
        runOverSocket(socket.client, query, undefined, 20_000),
      ]);
      const httpError = (
        JSON.parse(http.text) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> }
      ).errors[0];
      assert.equal(httpError.extensions.code, 'INTERNAL_SERVER_ERROR');
      assert.equal(httpError.extensions.requestId, 'req-masked-1');
      assert.doesNotMatch(http.text, INTERNALS);

      const sseData = sse
        .split('\n')
        .find((line) => line.startsWith('data: {'))
        ?.slice('data: '.length);
      const sseError = (JSON.parse(sseData as string) as { errors: Array<{ extensions: Record<string, unknown> }> })
        .errors[0];
      assert.equal(sseError.extensions.code, 'INTERNAL_SERVER_ERROR');
      assert.equal(typeof sseError.extensions.requestId, 'string');
      assert.doesNotMatch(sse, INTERNALS);

      const wsError = ws.flatMap((r) => r.errors ?? [])[0];
      assert.equal(wsError?.extensions?.code, 'INTERNAL_SERVER_ERROR', JSON.stringify(ws));
      assert.equal(typeof wsError.extensions?.requestId, 'string');
      assert.doesNotMatch(JSON.stringify(ws), INTERNALS);
    } finally {
      await socket.dispose();
      await nats.restart();
    }
  });
});

describe('start-up and secrets', () => {
  let nats: TestNats;
  const PASS = 'nats-Pa55word-never-logged';
  const API_KEY = 'api-key-never-logged-42';

  before(async () => {
    nats = await startNats({ extraArgs: ['--user', 'pulse', '--pass', PASS] });
  });
  after(async () => {
    await nats?.destroy();
  });

  test('an open Pulse says so in one warning line; with keys it does not', async (t) => {
    let open: PulseProcess | undefined;
    let keyed: PulseProcess | undefined;
    t.after(async () => {
      await open?.stop();
      await keyed?.stop();
    });
    const env = { NATS_USER: 'pulse', NATS_PASS: PASS, PULSE_LOG_LEVEL: 'info', PULSE_PROJECTOR: 'off' };
    open = await spawnPulse(testEnv(nats.url, env));
    const warnings = open
      .output()
      .split('\n')
      .filter((line) => line.includes('"level":40'));
    assert.equal(warnings.length, 1, open.output());
    assert.match(warnings[0], /no API keys are configured.*open/);

    keyed = await spawnPulse(testEnv(nats.url, { ...env, PULSE_API_KEYS: `${API_KEY}=admin` }));
    assert.doesNotMatch(keyed.output(), /no API keys are configured/);
  });

  test('NATS passwords and API keys appear in no log line, even at trace level and on refused requests', async (t) => {
    let pulse: PulseProcess | undefined;
    t.after(async () => {
      await pulse?.stop();
    });
    pulse = await spawnPulse(
      testEnv(nats.url, {
        NATS_USER: 'pulse',
        NATS_PASS: PASS,
        PULSE_API_KEYS: `${API_KEY}=read`,
        PULSE_LOG_LEVEL: 'trace',
        PULSE_PROJECTOR: 'off',
      }),
    );
    await gqlWithKey(pulse.url, API_KEY, 'mutation { track(event: { type: "t", userId: "u" }) { duplicate } }');
    await gqlWithKey(pulse.url, `${API_KEY}-wrong`, '{ eventTypes { type } }');
    const socket = keyedSocket(pulse.url, { authorization: `Bearer ${API_KEY}-wrong` });
    await socket.waitForClose();
    await socket.dispose();
    await pulse.stop();
    const output = pulse.output();
    assert.ok(output.length > 0);
    assert.equal(output.includes(PASS), false, 'the NATS password was logged');
    assert.equal(output.includes(API_KEY), false, 'an API key was logged');
  });

  test('a NATS token appears in no log line either', async (t) => {
    const TOKEN = 'nats-token-never-logged-7';
    const tokenNats = await startNats({ extraArgs: ['--auth', TOKEN] });
    let pulse: PulseProcess | undefined;
    t.after(async () => {
      await pulse?.stop();
      await tokenNats.destroy();
    });
    pulse = await spawnPulse(
      testEnv(tokenNats.url, { NATS_TOKEN: TOKEN, PULSE_LOG_LEVEL: 'trace', PULSE_PROJECTOR: 'off' }),
    );
    await gqlWithKey(pulse.url, undefined, '{ system { nats { connected } } }');
    await pulse.stop();
    assert.match(pulse.output(), /connected to NATS/);
    assert.equal(pulse.output().includes(TOKEN), false, 'the NATS token was logged');
  });

  test('setting errors name the variable and never print the secret in it', async () => {
    const badKey = await runPulseToExit({ NATS_URL: nats.url, PULSE_API_KEYS: 'a-secret-entry-without-scope' });
    assert.equal(badKey.code, 2);
    assert.match(badKey.stderr, /PULSE_API_KEYS/);
    assert.equal(badKey.stderr.includes('secret'), false, badKey.stderr);

    const badUrl = await runPulseToExit({ NATS_URL: 'nats://pulse:url-secret-pw@bad host:14222' });
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /NATS_URL/);
    assert.equal(badUrl.stderr.includes('url-secret-pw'), false, badUrl.stderr);
  });
});
