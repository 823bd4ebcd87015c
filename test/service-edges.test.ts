// The NATS service at its edges: an event bus that does not store events, and a batch whose
// reply would not fit in one NATS message.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const MAX_PAYLOAD = 64 * 1024;
let dir: string;
let nats: TestNats;
let nc: NatsConnection;
let pulse: Awaited<ReturnType<typeof startTestPulse>>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pulse-svc-edges-'));
  const conf = join(dir, 'server.conf');
  await writeFile(conf, `max_payload: ${MAX_PAYLOAD}\n`);
  nats = await startNats({ extraArgs: ['-c', conf] });
  pulse = await startTestPulse(
    testEnv(nats.url, { PULSE_PUBLISH_DEADLINE: '800ms', PULSE_PUBLISH_ATTEMPT_TIMEOUT: '200ms' }),
  );
  nc = await connect({ servers: nats.url });
});

after(async () => {
  await nc?.close();
  await pulse?.close();
  await nats?.destroy();
  await rm(dir, { recursive: true, force: true });
});

async function ask(subject: string, body: unknown) {
  const msg = await nc.request(subject, JSON.stringify(body), { timeout: 10_000 });
  return {
    code: msg.headers?.get('Nats-Service-Error-Code') ? Number(msg.headers.get('Nats-Service-Error-Code')) : undefined,
    description: msg.headers?.get('Nats-Service-Error'),
    // biome-ignore lint/suspicious/noExplicitAny: the error body is read freely; assertions check it.
    body: JSON.parse(msg.string()) as any,
  };
}

test('a batch whose full reply would exceed max_payload is answered without the properties it sent', async () => {
  const padding = 'x'.repeat(1000);
  const events = Array.from({ length: 58 }, (_, i) => ({
    id: `big-${i}`,
    type: 'big',
    userId: 'u',
    properties: { padding },
  }));
  const body = JSON.stringify(events);
  assert.ok(body.length < MAX_PAYLOAD && body.length > MAX_PAYLOAD * 0.9, 'a request that fits, close to the limit');
  const reply = await ask('pulse.trackBatch', events);
  assert.equal(reply.code, undefined);
  assert.equal(reply.body.accepted, 58);
  assert.equal(reply.body.propertiesOmitted, true);
  assert.deepEqual(
    reply.body.results.map((r: { event: { id: string } }) => r.event.id),
    events.map((e) => e.id),
  );
  assert.equal(reply.body.results[0].event.properties, undefined);
  assert.equal(typeof reply.body.results[0].event.cursor, 'string');

  const small = await ask('pulse.trackBatch', events.slice(0, 2));
  assert.equal(small.body.propertiesOmitted, undefined);
  assert.deepEqual(small.body.results[0].event.properties, { padding });
  assert.equal(small.body.duplicates, 2);
});

test('with no stream to store events, track and trackBatch answer 503 EVENT_BUS_UNAVAILABLE', async () => {
  const before = await ask('pulse.track', { type: 'gone', userId: 'u' });
  assert.equal(before.code, undefined, 'stored while the stream exists');

  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(pulse.env.PULSE_STREAM);

  const one = await ask('pulse.track', { id: 'lost-1', type: 'gone', userId: 'u' });
  assert.equal(one.code, 503);
  assert.equal(one.body.error.code, 'EVENT_BUS_UNAVAILABLE');
  assert.match(one.description ?? '', /retry with the same id/);

  const batch = await ask('pulse.trackBatch', [
    { id: 'lost-2', type: 'gone', userId: 'u' },
    { type: 'gone', userId: 'u' },
  ]);
  assert.equal(batch.code, 503);
  assert.equal(batch.body.error.code, 'EVENT_BUS_UNAVAILABLE');
  assert.equal(batch.body.error.ids.length, 2, 'the ids to resend with');
  assert.equal(batch.body.error.ids[0], 'lost-2');
  assert.doesNotMatch(JSON.stringify(batch.body), /\.ts:\d+|\.js:\d+/, 'no stack trace');

  const invalid = await ask('pulse.track', { type: 'gone' });
  assert.equal(invalid.code, 400, 'bad input is still told apart');
});
