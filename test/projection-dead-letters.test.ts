import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { DEAD_LETTER_HEADERS } from '../src/projections/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

describe('dead letters: a message that is not an event never blocks the projector', () => {
  let nats: TestNats;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let nc: NatsConnection;
  let prefix: string;
  let stream: string;

  before(async () => {
    nats = await startNats();
    const env = testEnv(nats.url);
    prefix = env.PULSE_SUBJECT_PREFIX;
    stream = env.PULSE_STREAM;
    pulse = await startTestPulse(env);
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  test('garbage published with a plain NATS client goes to the dead-letter stream with why and where from', async () => {
    const track = (type: string) =>
      gql(pulse.url, 'mutation($t: String!) { track(event: { type: $t, userId: "u1" }) { event { cursor } } }', {
        t: type,
      });
    await track('before');
    // Core publishes straight onto event subjects: the stream stores them like any message.
    nc.publish(`${prefix}.garbage`, 'this is not JSON');
    const h = headers();
    h.set('Nats-Msg-Id', 'foreign-1');
    nc.publish(`${prefix}.signup`, JSON.stringify({ type: 'purchase', userId: 'u1' }), { headers: h });
    nc.publish(`${prefix}.signup`, JSON.stringify({ type: 'signup' }));
    await nc.flush();
    const last = await track('after');
    const wait = await gql(pulse.url, 'query($c: String) { user(id: "u1", minCursor: $c) { id } }', {
      c: last.data?.track.event.cursor,
    });
    assert.equal(wait.errors, undefined, JSON.stringify(wait.errors));
    const res = await gql(
      pulse.url,
      '{ eventTypes { type count } user(id: "u1") { eventCount } projections { position lag deadLetters applied } }',
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.deepEqual(res.data.eventTypes, [
      { type: 'after', count: 1 },
      { type: 'before', count: 1 },
    ]);
    assert.equal(res.data.user.eventCount, 2);
    assert.deepEqual(res.data.projections, [{ position: 5, lag: 0, deadLetters: 3, applied: 2 }]);

    const jsm = await jetstreamManager(nc);
    const letters = [];
    for (let seq = 1; seq <= 3; seq++) letters.push(await jsm.streams.getMessage(`${stream}_DEAD_LETTERS`, { seq }));
    const seen = letters.map((m) => {
      assert.ok(m, 'the dead letter is stored');
      return {
        subject: m.header.get(DEAD_LETTER_HEADERS.subject),
        sequence: m.header.get(DEAD_LETTER_HEADERS.sequence),
        stream: m.header.get(DEAD_LETTER_HEADERS.stream),
        reason: m.header.get(DEAD_LETTER_HEADERS.reason),
        body: m.string(),
      };
    });
    assert.deepEqual(seen, [
      {
        subject: `${prefix}.garbage`,
        sequence: '2',
        stream,
        reason: 'the body is not UTF-8 JSON',
        body: 'this is not JSON',
      },
      {
        subject: `${prefix}.signup`,
        sequence: '3',
        stream,
        reason: `the subject "${prefix}.signup" does not name the type "purchase"`,
        body: JSON.stringify({ type: 'purchase', userId: 'u1' }),
      },
      {
        subject: `${prefix}.signup`,
        sequence: '4',
        stream,
        reason: 'neither userId nor anonymousId is set',
        body: JSON.stringify({ type: 'signup' }),
      },
    ]);
    const metrics = await (await fetch(`${pulse.url}/metrics`)).text();
    assert.match(metrics, /^pulse_projector_dead_letters_total 3$/m);
    assert.match(metrics, /^pulse_projector_applied_events_total 2$/m);
  });
});
