// Who may call Pulse over NATS: the API key check the service hands each request to, NATS account
// permissions as the outer fence, and the settings that move or switch off the endpoints.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection, NoRespondersError } from '@nats-io/transport-node';
import { Forbidden, type Scope, Unauthenticated } from '../src/auth/index.js';
import { loadSettings } from '../src/config/index.js';
import { decodeCursor, decodeEvent } from '../src/events/index.js';
import { createPulseYoga } from '../src/http/index.js';
import { createPublisher, createTracker } from '../src/ingest/index.js';
import { createLogger } from '../src/log/index.js';
import { connectNats, createStreamReader, eventSubjects, provisionEventStream } from '../src/nats/index.js';
import { type Authorize, graphqlFetchOf, startPulseService } from '../src/service/index.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

// biome-ignore lint/suspicious/noExplicitAny: replies are read freely; the assertions check their shape.
type Json = any;

async function ask(nc: NatsConnection, subject: string, body: unknown, headerValues: Record<string, string> = {}) {
  const h = headers();
  for (const [name, value] of Object.entries(headerValues)) h.set(name, value);
  const msg = await nc.request(subject, JSON.stringify(body), { timeout: 10_000, headers: h });
  const code = msg.headers?.get('Nats-Service-Error-Code');
  return { msg, body: JSON.parse(msg.string()) as Json, errorCode: code ? Number(code) : undefined };
}

const isNoResponders = (err: unknown) =>
  err instanceof NoRespondersError || (err as Error | undefined)?.cause instanceof NoRespondersError;

describe('the API key check', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let stop: () => Promise<void>;
  const checks: Array<[string | undefined, Scope]> = [];
  const seenByGraphQL: Array<{ authorization: string | null; requestId: string | null }> = [];
  let stream: string;
  let prefix: string;

  before(async () => {
    nats = await startNats();
    const settings = loadSettings(testEnv(nats.url));
    stream = settings.stream.name;
    prefix = settings.stream.subjectPrefix;
    const log = createLogger(settings.log);
    // Pulse's own pieces, wired as app.ts wires them, with a key check of the test's own.
    const link = await connectNats({ servers: [nats.url] }, log);
    const jsm = await jetstreamManager(link.nc);
    const subjects = eventSubjects(prefix);
    await provisionEventStream(jsm, { ...settings.stream, subject: subjects.all }, log);
    const reader = createStreamReader(jsm, stream);
    const publisher = createPublisher(jetstream(link.nc), { stream, ...settings.ingest });
    const tracker = createTracker({ publisher, subjects, reader, limits: settings.limits });
    const yoga = createPulseYoga({
      log,
      services: {
        log,
        tracker,
        async eventByCursor(cursor) {
          const message = await reader.get(decodeCursor(cursor) ?? 0);
          return message ? decodeEvent(message, subjects.typeOf) : null;
        },
        async systemStatus() {
          return {
            nats: { connected: link.isConnected(), state: link.state(), reconnects: link.reconnects() },
            stream: { name: stream, ...(await reader.bounds()) },
            subscribers: { ws: 0, sse: 0, total: 0 },
          };
        },
      },
    });
    const viaYoga = graphqlFetchOf(yoga, 1024 * 1024);
    const authorize: Authorize = (authorization, scope) => {
      checks.push([authorization, scope]);
      if (authorization === undefined) throw new Unauthenticated();
      if (authorization !== 'Bearer ingest-key') throw new Forbidden(scope);
    };
    const service = await startPulseService({
      nc: link.nc,
      tracker,
      limits: settings.limits,
      log,
      authorize,
      fetchGraphQL: (url, init) => {
        const headers = new Headers(init.headers);
        seenByGraphQL.push({
          authorization: headers.get('authorization'),
          requestId: headers.get('x-request-id'),
        });
        return viaYoga(url, init);
      },
    });
    stop = async () => {
      await service.stop();
      await publisher.settled();
      await link.drain();
    };
    nc = await connect({ servers: nats.url });
  });

  after(async () => {
    await nc?.close();
    await stop?.();
    await nats?.destroy();
  });

  test('track and trackBatch hand the Authorization header to the check with the ingest scope', async () => {
    const event = { type: 'keyed', userId: 'u' };
    const none = await ask(nc, 'pulse.track', event);
    assert.equal(none.errorCode, 401);
    assert.equal(none.body.error.code, 'UNAUTHENTICATED');

    const wrong = await ask(nc, 'pulse.trackBatch', [event], { Authorization: 'Bearer read-key' });
    assert.equal(wrong.errorCode, 403);
    assert.equal(wrong.body.error.code, 'FORBIDDEN');

    // Header names are matched whatever their case, as over HTTP.
    const good = await ask(nc, 'pulse.track', { ...event, id: 'keyed-1' }, { authorization: 'Bearer ingest-key' });
    assert.equal(good.errorCode, undefined);
    assert.equal(good.body.event.id, 'keyed-1');

    assert.deepEqual(checks, [
      [undefined, 'ingest'],
      ['Bearer read-key', 'ingest'],
      ['Bearer ingest-key', 'ingest'],
    ]);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}.keyed` });
    assert.equal(info.state.subjects?.[`${prefix}.keyed`], 1, 'only the authorized event is stored');
  });

  test('pulse.graphql hands the Authorization header and request id to GraphQL, as HTTP does', async () => {
    const reply = await ask(
      nc,
      'pulse.graphql',
      { query: '{ __typename }' },
      { Authorization: 'Bearer some-key', 'X-Request-Id': 'req-svc-42' },
    );
    assert.deepEqual(reply.body, { data: { __typename: 'Query' } });
    assert.equal(reply.msg.headers?.get('X-Request-Id'), 'req-svc-42');
    assert.deepEqual(seenByGraphQL.at(-1), { authorization: 'Bearer some-key', requestId: 'req-svc-42' });
  });
});

describe('NATS permissions as the outer fence', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pulse-svc-perm-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a client allowed to publish pulse.track and subscribe _INBOX.> can track, and nothing else', async (t) => {
    const conf = join(dir, 'users.conf');
    await writeFile(
      conf,
      `authorization { users = [
        { user: "pulse", password: "pulse-pw" }
        { user: "shop", password: "shop-pw", permissions: { publish: ["pulse.track", "pulse.trackBatch"], subscribe: ["_INBOX.>"] } }
      ] }\n`,
    );
    const nats = await startNats({ extraArgs: ['-c', conf] });
    let pulse: Awaited<ReturnType<typeof startTestPulse>> | undefined;
    let shop: NatsConnection | undefined;
    // One hook, in this order: Pulse must drain while its server is still up.
    t.after(async () => {
      await shop?.close();
      await pulse?.close();
      await nats.destroy();
    });
    pulse = await startTestPulse(testEnv(nats.url, { NATS_USER: 'pulse', NATS_PASS: 'pulse-pw' }));
    shop = await connect({ servers: nats.url, user: 'shop', pass: 'shop-pw' });

    const tracked = await ask(shop, 'pulse.track', { type: 'fenced', userId: 'u' });
    assert.equal(tracked.errorCode, undefined);
    assert.equal(tracked.body.duplicate, false);

    // The same client may not use the GraphQL endpoint: the server refuses the publish.
    await assert.rejects(
      shop.request('pulse.graphql', JSON.stringify({ query: '{ __typename }' }), { timeout: 2000 }),
      /Permissions Violation for Publish to "pulse.graphql"/,
    );
  });
});

describe('settings', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await nats?.destroy();
  });

  test('PULSE_SERVICE_PREFIX moves the endpoints', async (t) => {
    const pulse = await startTestPulse(testEnv(nats.url, { PULSE_SERVICE_PREFIX: 'acme.pulse' }));
    t.after(() => pulse.close());
    const reply = await ask(nc, 'acme.pulse.track', { type: 'moved', userId: 'u' });
    assert.equal(reply.body.event.type, 'moved');
    await assert.rejects(nc.request('pulse.track', '{}', { timeout: 2000 }), isNoResponders);
    const info = (await nc.request('$SRV.INFO.pulse', '', { timeout: 2000 })).json<Json>();
    assert.equal(info.metadata.subject_prefix, 'acme.pulse');
    assert.deepEqual(
      info.endpoints.map((e: Json) => e.subject),
      ['acme.pulse.track', 'acme.pulse.trackBatch', 'acme.pulse.graphql'],
    );
  });

  test('PULSE_SERVICE=off registers no service', async (t) => {
    const pulse = await startTestPulse(testEnv(nats.url, { PULSE_SERVICE: 'off' }));
    t.after(() => pulse.close());
    await assert.rejects(nc.request('$SRV.PING.pulse', '', { timeout: 2000 }), isNoResponders);
    await assert.rejects(nc.request('pulse.track', '{}', { timeout: 2000 }), isNoResponders);
  });

  test('a prefix that is not subject tokens is refused at start-up, naming the variable', () => {
    assert.throws(() => loadSettings({ PULSE_SERVICE_PREFIX: 'pulse.>' }), /PULSE_SERVICE_PREFIX/);
    assert.throws(() => loadSettings({ PULSE_SERVICE_PREFIX: 'a..b' }), /PULSE_SERVICE_PREFIX/);
  });
});
