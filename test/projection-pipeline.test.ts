import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { StoredEvent } from '../src/events/index.js';
import { isRevisionConflict, provisionKvBucket } from '../src/nats/index.js';
import { BatchConflict, createBatchApplier } from '../src/projections/batch-applier.js';
import { createKvBatch } from '../src/projections/kv-batch.js';
import { createModels } from '../src/projections/models.js';
import { startNats, type TestNats } from './support/nats-server.js';

const BUCKET = 'PIPELINE_TEST';

function click(seq: number, userId: string): StoredEvent {
  return {
    seq,
    id: `e${seq}`,
    type: 'click',
    userId,
    anonymousId: null,
    properties: { revenue: seq },
    occurredAt: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    receivedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
  };
}

describe('the projector pipeline: the next batch computed while this one is written', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let kv: KV;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    kv = await provisionKvBucket(jetstream(nc), await jetstreamManager(nc), { name: BUCKET, replicas: 1 });
  });
  after(async () => {
    await nc?.close();
    await nats?.destroy();
  });

  const applier = () =>
    createBatchApplier({
      bucket: createKvBatch(nc, { bucket: BUCKET, kv }),
      models: createModels({ recentEvents: 5 }),
      maxInlineEventBytes: 2048,
      cacheBytes: 1024 * 1024,
      position: 0,
    });

  test('KV batches read absent keys as revision 0 and refuse a write at a stale revision', async () => {
    const bucket = createKvBatch(nc, { bucket: BUCKET, kv });
    const [absent] = await bucket.readAll(['x.absent']);
    assert.deepEqual(absent, { data: undefined, revision: 0 });
    const [created] = await bucket.writeAll([{ key: 'x.one', data: Buffer.from('1'), revision: 0 }]);
    assert.ok(created.ok);
    const [read] = await bucket.readAll(['x.one']);
    assert.equal(Buffer.from(read.data as Uint8Array).toString(), '1');
    assert.equal(read.revision, created.revision);
    const [stale] = await bucket.writeAll([{ key: 'x.one', data: Buffer.from('2'), revision: 0 }]);
    assert.equal(stale.ok, false);
    assert.ok(!stale.ok && isRevisionConflict(stale.error), String(!stale.ok && stale.error));
    assert.equal((await kv.get('x.one'))?.string(), '1');
    bucket.close();
  });

  test('a batch planned on top of one that lost a conflict is planned again: every count exact', async () => {
    const first = applier();
    const second = applier();
    const a = [click(1, 'u'), click(2, 'v'), click(3, 'u')];
    const b = [click(4, 'u'), click(5, 'w')];
    const planA = await first.plan(a, 3, 0);
    // Planned from batch a's values while a is not written yet.
    const planB = await first.plan(b, 5, 3);
    // Another writer applies batch a first: the first applier's write of a meets changed revisions.
    await second.write(await second.plan(a, 3, 0));
    await assert.rejects(first.write(planA), BatchConflict);
    await first.write(planA);
    await first.write(planB);
    await first.write(await first.plan([click(6, 'u')], 6, 5));

    const profile = (await kv.get('u.u'))?.json<{
      eventCount: number;
      revenue: number;
      recent: Array<{ id: string }>;
    }>();
    assert.equal(profile?.eventCount, 4);
    assert.equal(profile?.revenue, 1 + 3 + 4 + 6);
    assert.deepEqual(
      profile?.recent.map((entry) => entry.id),
      ['e6', 'e4', 'e3', 'e1'],
    );
    assert.equal((await kv.get('s.t.click'))?.json<{ count: number }>().count, 6);
    const all = (await kv.get('r.all'))?.json<{ entries: Array<{ id: string }> }>();
    assert.deepEqual(
      all?.entries.map((entry) => entry.id),
      ['e6', 'e5', 'e4', 'e3', 'e2'],
    );
  });

  test('a batch is never written before the batch it builds on', async () => {
    const fresh = applier();
    await assert.rejects(fresh.write(await fresh.plan([click(9, 'z')], 9, 7)), /before the batch 7/);
    assert.equal(await kv.get('u.z'), null);
  });
});
