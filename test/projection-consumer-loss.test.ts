import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { consumerName } from '../src/projections/projector.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

let nats: TestNats;
let pulse: Awaited<ReturnType<typeof startTestPulse>>;
let nc: NatsConnection;
let stream: string;

before(async () => {
  nats = await startNats();
  const env = testEnv(nats.url);
  stream = env.PULSE_STREAM;
  pulse = await startTestPulse(env);
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc?.close();
  await pulse?.close();
  await nats?.destroy();
});

const track = async (n: number) => {
  const res = await gql(
    pulse.url,
    'mutation($n: Int!) { track(event: { type: "lost", userId: "u1", properties: { n: $n } }) { duplicate } }',
    { n },
  );
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
};

async function projection(): Promise<{ position: number; lag: number; applied: number }> {
  const res = await gql(pulse.url, '{ projections { position lag applied } }');
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.projections[0];
}

test('a projector whose consumer is lost (deleted, or gone with its node) takes up again from its position', async () => {
  for (let n = 0; n < 5; n++) await track(n);
  const deadline = Date.now() + 10_000;
  while ((await projection()).applied < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await projection()).applied, 5);

  // The durable consumer disappears under the running projector; the client library alone would
  // ask after it forever. Events keep coming.
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.delete(stream, consumerName(1));
  for (let n = 5; n < 10; n++) await track(n);

  const caughtUpBy = Date.now() + 30_000;
  let last = await projection();
  while (!(last.applied === 10 && last.lag === 0) && Date.now() < caughtUpBy) {
    await new Promise((r) => setTimeout(r, 200));
    last = await projection();
  }
  assert.deepEqual(last, { position: 10, lag: 0, applied: 10 }, 'every event applied once after the loss');
  const res = await gql(pulse.url, '{ user(id: "u1") { eventCount } }');
  assert.equal(res.data.user.eventCount, 10);
});
