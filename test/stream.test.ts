import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { StreamConflict } from '../src/nats/index.js';
import { gql } from './support/graphql.js';
import { freePort, startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';
import { runPulseToExit } from './support/run-to-exit.js';
import { inspectStream, type StreamInspector } from './support/stream-messages.js';

const DAY_NS = nanos(86_400_000);
const TRACK = `mutation($event: TrackEventInput!) { track(event: $event) { event { id } } }`;

describe('stream provisioning', () => {
  let nats: TestNats;
  let inspector: StreamInspector;

  before(async () => {
    nats = await startNats();
    inspector = await inspectStream(nats.url, 'unused');
  });
  after(async () => {
    await inspector?.close();
    await nats?.destroy();
  });

  const info = (name: string) => inspector.jsm.streams.info(name);

  /** A stream made by someone else, holding one message, that Pulse must neither change nor lose. */
  async function foreignStream(config: Partial<StreamConfig> & { name: string; subjects: string[] }) {
    await inspector.jsm.streams.add(config);
    await inspector.js.publish(config.subjects[0].replace('>', 'kept'), 'precious', { msgID: 'precious-1' });
    return (await info(config.name)).config;
  }

  async function assertUntouched(name: string, config: StreamConfig) {
    const now = await info(name);
    assert.deepEqual(now.config, config, 'the stream settings are unchanged');
    assert.equal(now.state.messages, 1, 'its message is still there');
  }

  test('creates the stream when it is missing, with the settings asked for', async () => {
    const env = testEnv(nats.url);
    const pulse = await startTestPulse(env);
    try {
      const { config } = await info(env.PULSE_STREAM);
      assert.deepEqual(config.subjects, [`${env.PULSE_SUBJECT_PREFIX}.>`]);
      assert.equal(config.storage, StorageType.File);
      assert.equal(config.retention, RetentionPolicy.Limits);
      assert.equal(config.max_age, 30 * DAY_NS);
      assert.equal(config.max_bytes, -1);
      assert.equal(config.duplicate_window, nanos(120_000));
      assert.equal(config.num_replicas, 1);
      assert.equal(config.allow_direct, true);
    } finally {
      await pulse.close();
    }
  });

  test('brings safe settings of an existing stream up to date and keeps every message', async () => {
    const env = testEnv(nats.url);
    const first = await startTestPulse(env);
    try {
      for (const id of ['keep-1', 'keep-2', 'keep-3']) {
        const res = await gql(first.url, TRACK, { event: { id, type: 'click', userId: 'u' } });
        assert.equal(res.errors, undefined);
      }
    } finally {
      await first.close();
    }
    const second = await startTestPulse({
      ...env,
      PULSE_STREAM_MAX_AGE: '7d',
      PULSE_STREAM_MAX_BYTES: '1GiB',
      PULSE_DUPLICATE_WINDOW: '5m',
    });
    try {
      const { config, state } = await info(env.PULSE_STREAM);
      assert.equal(config.max_age, 7 * DAY_NS);
      assert.equal(config.max_bytes, 1024 ** 3);
      assert.equal(config.duplicate_window, nanos(300_000));
      assert.equal(state.messages, 3, 'nothing was deleted or purged');
      assert.equal(state.first_seq, 1);
      const res = await gql(second.url, TRACK, { event: { id: 'keep-4', type: 'click', userId: 'u' } });
      assert.equal(res.errors, undefined, 'the updated stream takes events');
    } finally {
      await second.close();
    }
  });

  test('refuses a stream of that name that captures other subjects', async () => {
    const env = testEnv(nats.url);
    const config = await foreignStream({ name: env.PULSE_STREAM, subjects: ['orders.>'] });
    await assert.rejects(startTestPulse(env), (err: Error) => {
      assert.ok(err instanceof StreamConflict);
      assert.match(err.message, new RegExp(`stream ${env.PULSE_STREAM} exists but cannot hold Pulse's events`));
      assert.match(err.message, /orders\.>/);
      return true;
    });
    await assertUntouched(env.PULSE_STREAM, config);
  });

  test('refuses a stream of that name with memory storage or another retention', async () => {
    const memory = testEnv(nats.url);
    const memoryConfig = await foreignStream({
      name: memory.PULSE_STREAM,
      subjects: [`${memory.PULSE_SUBJECT_PREFIX}.>`],
      storage: StorageType.Memory,
    });
    await assert.rejects(startTestPulse(memory), /its storage is memory, not file/);
    await assertUntouched(memory.PULSE_STREAM, memoryConfig);

    const workQueue = testEnv(nats.url);
    const workQueueConfig = await foreignStream({
      name: workQueue.PULSE_STREAM,
      subjects: [`${workQueue.PULSE_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Workqueue,
    });
    await assert.rejects(startTestPulse(workQueue), /its retention is workqueue, not limits/);
    await assertUntouched(workQueue.PULSE_STREAM, workQueueConfig);
  });

  test('refuses to create its stream when another stream already captures its subjects', async () => {
    const env = testEnv(nats.url);
    const other = `OTHER_${env.PULSE_STREAM}`;
    const config = await foreignStream({ name: other, subjects: [`${env.PULSE_SUBJECT_PREFIX}.>`] });
    await assert.rejects(startTestPulse(env), (err: Error) => {
      assert.ok(err instanceof StreamConflict);
      assert.match(err.message, /set PULSE_STREAM or PULSE_SUBJECT_PREFIX/);
      return true;
    });
    await assertUntouched(other, config);
    await assert.rejects(info(env.PULSE_STREAM), /stream not found/);
  });

  test('`serve` exits 1 with one line that says what conflicts', async () => {
    const env = testEnv(nats.url);
    const config = await foreignStream({
      name: env.PULSE_STREAM,
      subjects: [`${env.PULSE_SUBJECT_PREFIX}.>`],
      storage: StorageType.Memory,
    });
    const result = await runPulseToExit(env);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], new RegExp(`^pulse: stream ${env.PULSE_STREAM} exists .*storage is memory`));
    await assertUntouched(env.PULSE_STREAM, config);
  });
});

describe('stream provisioning on a 3-node cluster', () => {
  const servers: TestNats[] = [];

  before(async () => {
    const clusterPorts = [await freePort(), await freePort(), await freePort()];
    const routes = clusterPorts.map((port) => `nats://127.0.0.1:${port}`).join(',');
    const name = `pulse-test-${process.pid}`;
    const started = await Promise.all(
      clusterPorts.map((port, i) =>
        startNats({
          extraArgs: [
            '--cluster_name',
            name,
            '--server_name',
            `n${i}`,
            '--cluster',
            `nats://127.0.0.1:${port}`,
            '--routes',
            routes,
          ],
        }),
      ),
    );
    servers.push(...started);
  });
  after(async () => {
    for (const server of servers) await server.destroy();
  });

  test('raises the replicas of an existing stream (PULSE_STREAM_REPLICAS) and keeps its messages', async () => {
    const env = testEnv(servers.map((s) => s.url).join(','));
    const nc = await connect({ servers: servers.map((s) => s.url) });
    try {
      // A request made while the cluster is still forming goes unanswered: wait until JetStream answers.
      let jsm: JetStreamManager | undefined;
      for (let attempt = 1; !jsm; attempt++) {
        try {
          jsm = await jetstreamManager(nc, { timeout: 1000 });
        } catch (err) {
          if (attempt >= 30) throw err;
        }
      }
      const first = await startTestPulse(env);
      try {
        const res = await gql(first.url, TRACK, { event: { id: 'r1', type: 'click', userId: 'u' } });
        assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      } finally {
        await first.close();
      }
      assert.equal((await jsm.streams.info(env.PULSE_STREAM)).config.num_replicas, 1);

      const second = await startTestPulse({ ...env, PULSE_STREAM_REPLICAS: '3' });
      try {
        const { config, state } = await jsm.streams.info(env.PULSE_STREAM);
        assert.equal(config.num_replicas, 3);
        assert.equal(state.messages, 1);
        const res = await gql(second.url, TRACK, { event: { id: 'r3', type: 'click', userId: 'u' } });
        assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      } finally {
        await second.close();
      }
      const stream = await inspectStream(servers[0].url, env.PULSE_STREAM);
      try {
        assert.deepEqual(
          (await stream.messages()).map((m) => (m.body as { id: string }).id),
          ['r1', 'r3'],
        );
      } finally {
        await stream.close();
      }
    } finally {
      await nc.close();
    }
  });
});
