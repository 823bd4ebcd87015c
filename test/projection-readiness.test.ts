import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { provisionKvBucket } from '../src/nats/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('/readyz and the projector lag bound', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let leases: KV;
  let holding: NodeJS.Timeout | undefined;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    const env = testEnv(nats.url, { PULSE_PROJECTOR_MAX_LAG: '10', PULSE_PROJECTOR_LEASE_TTL: '2s' });
    // Someone else holds the projector lease: this process's projector stands by and falls behind.
    leases = await provisionKvBucket(jetstream(nc), await jetstreamManager(nc), {
      name: `${env.PULSE_STREAM}_RM_LEASES`,
      replicas: 1,
      ttlMs: 2000,
    });
    let revision = await leases.create('g1', JSON.stringify({ holder: 'the test' }));
    holding = setInterval(async () => {
      revision = await leases.update('g1', JSON.stringify({ holder: 'the test' }), revision);
    }, 400);
    pulse = await startTestPulse(env);
  });
  after(async () => {
    clearInterval(holding);
    await nc?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  test('503 with the reason while the read models lag beyond the bound, 200 once caught up', async () => {
    const events = Array.from({ length: 25 }, (_, i) => ({ type: 'view', userId: `u${i}` }));
    const tracked = await gql(pulse.url, 'mutation($e: [TrackEventInput!]!) { trackBatch(events: $e) { accepted } }', {
      e: events,
    });
    assert.equal(tracked.data?.trackBatch.accepted, 25);

    let body: { status: string; detail?: string; projector?: string } | undefined;
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${pulse.url}/readyz`);
      body = await res.json();
      if (res.status === 503) break;
      await sleep(100);
    }
    assert.equal(body?.status, 'unavailable');
    assert.equal(body?.projector, 'lagging');
    assert.match(body?.detail ?? '', /25 events behind the stream; the bound is 10/);
    const metrics = await (await fetch(`${pulse.url}/metrics`)).text();
    assert.match(metrics, /^pulse_projector_lag_events 25$/m);
    const status = await gql(pulse.url, '{ projections { lag position } }');
    assert.deepEqual(status.data?.projections, [{ lag: 25, position: 0 }]);

    // The other holder goes away: the lease runs out and this projector catches up.
    clearInterval(holding);
    let ready = 0;
    for (let i = 0; i < 100 && ready !== 200; i++) {
      await sleep(100);
      ready = (await fetch(`${pulse.url}/readyz`)).status;
    }
    assert.equal(ready, 200);
    const after = await gql(pulse.url, '{ projections { lag position } eventTypes { count } }');
    assert.deepEqual(after.data, { projections: [{ lag: 0, position: 25 }], eventTypes: [{ count: 25 }] });
  });
});
