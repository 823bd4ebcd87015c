import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rebuild: fresh read models from the start of the stream, switched to with no downtime', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let env: Record<string, string>;
  let pulse: Awaited<ReturnType<typeof startTestPulse>>;
  let tracked = 0;
  let lastCursor = '';

  const trackBatch = async (count: number) => {
    const events = Array.from({ length: count }, (_, i) => ({
      type: ['view', 'buy'][i % 2],
      userId: `u${(tracked + i) % 30}`,
      occurredAt: '2024-01-01T12:00:00Z',
    }));
    const res = await gql(
      pulse.url,
      'mutation($e: [TrackEventInput!]!) { trackBatch(events: $e) { accepted results { event { cursor } } } }',
      { e: events },
    );
    assert.equal(res.data?.trackBatch.accepted, count, JSON.stringify(res.errors));
    tracked += count;
    lastCursor = res.data?.trackBatch.results.at(-1).event.cursor;
  };
  const total = (types: Array<{ count: number }>) => types.reduce((sum, t) => sum + t.count, 0);

  before(async () => {
    nats = await startNats();
    env = testEnv(nats.url, { PULSE_REBUILD_RETIRE_AFTER: '1s', PULSE_PROJECTOR_LEASE_TTL: '1s' });
    pulse = await startTestPulse(env);
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await pulse?.close();
    await nats?.destroy();
  });

  test('queries keep answering, never count twice, and move to the new generation', async () => {
    for (let i = 0; i < 6; i++) await trackBatch(500);
    await gql(pulse.url, 'query($c: String) { eventTypes(minCursor: $c) { count } }', { c: lastCursor });

    // Queries run all along: every answer complete, never more than was tracked, never going back.
    let isRebuilding = true;
    const answers = { count: 0, generations: new Set<number>() };
    const querying = (async () => {
      let highest = 0;
      for (let i = 0; i < 5000 && isRebuilding; i++) {
        const trackedBefore = tracked;
        const res = await gql(pulse.url, '{ eventTypes { count } projections { generation live } }');
        assert.equal(res.errors, undefined, JSON.stringify(res.errors));
        const seen = total(res.data.eventTypes);
        assert.ok(seen <= Math.max(trackedBefore, tracked), `${seen} counted, ${tracked} tracked`);
        assert.ok(seen >= highest, `the count went back from ${highest} to ${seen}`);
        highest = seen;
        answers.count++;
        for (const p of res.data.projections) if (p.live) answers.generations.add(p.generation);
        await sleep(20);
      }
    })();

    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'rebuild'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Ingestion goes on during the rebuild.
      for (let i = 0; i < 4; i++) {
        await trackBatch(250);
        await sleep(200);
      }
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      isRebuilding = false;
      await querying;
    }
    assert.ok(answers.count > 10, `queries ran during the rebuild (${answers.count})`);
    assert.deepEqual([...answers.generations].sort(), [1, 2]);

    await trackBatch(100); // applied to the new generation by the process's own projector
    const res = await gql(
      pulse.url,
      'query($c: String) { eventTypes(minCursor: $c) { type count } u0: user(id: "u0", minCursor: $c) { eventCount } }',
      { c: lastCursor },
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.deepEqual(res.data.eventTypes, [
      { type: 'buy', count: tracked / 2 },
      { type: 'view', count: tracked / 2 },
    ]);
    assert.equal(res.data.u0.eventCount, Math.ceil(tracked / 30)); // events 0, 30, 60, …
    const status = await gql(pulse.url, '{ projections { generation live position applied } }');
    assert.deepEqual(status.data?.projections, [{ generation: 2, live: true, position: tracked, applied: tracked }]);

    // The replaced generation is gone: its bucket and its consumer.
    const jsm = await jetstreamManager(nc);
    const streams: string[] = [];
    for await (const name of jsm.streams.names()) streams.push(name);
    assert.ok(streams.includes(`KV_${env.PULSE_STREAM}_RM_G2`));
    assert.ok(!streams.includes(`KV_${env.PULSE_STREAM}_RM_G1`));
    const consumers: string[] = [];
    for await (const info of jsm.consumers.list(env.PULSE_STREAM)) consumers.push(info.name);
    assert.deepEqual(
      consumers.filter((name) => name.startsWith('RM_')),
      ['RM_G2'],
    );
  });
});
