import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, TimeoutError } from '@nats-io/transport-node';
import { EventBusUnavailable } from '../src/ingest/errors.js';
import { createPublisher, createTracker } from '../src/ingest/index.js';
import { backoffMs } from '../src/ingest/retry.js';
import {
  createAckPublisher,
  createStreamReader,
  eventSubjects,
  type JetStreamPublisher,
  NoStreamResponders,
} from '../src/nats/index.js';
import { startNats, type TestNats } from './support/nats-server.js';

const data = (text: string) => new TextEncoder().encode(text);

describe('the publisher: acks, retries within a deadline, pipelining', () => {
  let nats: TestNats;
  let nc: NatsConnection;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'], duplicate_window: 60e9 });
    await jsm.streams.add({ name: 'FULL', subjects: ['full.>'], max_msgs: 1, discard: DiscardPolicy.New });
  });
  after(async () => {
    await nc?.close();
    await nats?.destroy();
  });

  test('resolves with the stream sequence once JetStream acknowledged, and a repeated id as duplicate', async () => {
    const publisher = createPublisher(createAckPublisher(nc), { stream: 'PUB' });
    const first = await publisher.publish('pub.a', data('{"n":1}'), 'id-1');
    const again = await publisher.publish('pub.a', data('{"n":2}'), 'id-1');
    assert.equal(first.duplicate, false);
    assert.deepEqual(again, { seq: first.seq, duplicate: true, attempts: 1 });
    const stored = await (await jetstreamManager(nc)).streams.getMessage('PUB', { seq: first.seq });
    assert.equal(stored?.header.get('Nats-Msg-Id'), 'id-1');
    assert.equal(new TextDecoder().decode(stored?.data), '{"n":1}');
  });

  test('the ack publisher fails as nats.js would: no stream answers, another stream expected', async () => {
    const ack = createAckPublisher(nc);
    await assert.rejects(
      ack.publish('nowhere.x', data('{}'), { msgID: 'x', timeout: 1000, expect: { streamName: 'PUB' } }),
      NoStreamResponders,
    );
    await assert.rejects(
      ack.publish('pub.x', data('{}'), { msgID: 'y', timeout: 1000, expect: { streamName: 'OTHER' } }),
      (err: Error) => err.name === 'JetStreamApiError' && /expected stream does not match/i.test(err.message),
    );
  });

  test('transient failures are retried with backoff until the deadline, then EVENT_BUS_UNAVAILABLE', async () => {
    const retries: number[] = [];
    const publisher = createPublisher(createAckPublisher(nc), {
      stream: 'LATER',
      deadlineMs: 800,
      onRetry: (_err, attempt) => retries.push(attempt),
    });
    const startedAt = Date.now();
    await assert.rejects(publisher.publish('later.x', data('{}'), 'later-1'), (err: Error) => {
      assert.ok(err instanceof EventBusUnavailable);
      assert.equal(err.code, 'EVENT_BUS_UNAVAILABLE');
      assert.ok(err.cause instanceof NoStreamResponders);
      return true;
    });
    const tookMs = Date.now() - startedAt;
    assert.ok(tookMs <= 950, `gave up by the deadline (took ${tookMs} ms)`);
    // A backoff that would pass the deadline is cut short, not a reason to give up early.
    assert.ok(tookMs >= 700, `kept trying until near the deadline (took ${tookMs} ms)`);
    assert.ok(retries.length >= 3, `retried (${retries.length} times)`);
    assert.deepEqual(
      retries,
      retries.map((_, i) => i + 1),
    );
  });

  test('a stream that appears within the deadline takes the retried publish', async () => {
    const retries: number[] = [];
    const publisher = createPublisher(createAckPublisher(nc), {
      stream: 'SOON',
      deadlineMs: 5000,
      onRetry: (_err, attempt) => retries.push(attempt),
    });
    const pending = publisher.publish('soon.x', data('{}'), 'soon-1');
    await new Promise((r) => setTimeout(r, 300));
    await (await jetstreamManager(nc)).streams.add({ name: 'SOON', subjects: ['soon.>'] });
    const ack = await pending;
    assert.equal(ack.seq, 1);
    assert.ok(retries.length >= 1);
  });

  test('a failure that answers the same every time is not retried', async () => {
    const retries: number[] = [];
    const publisher = createPublisher(createAckPublisher(nc), {
      stream: 'OTHER',
      deadlineMs: 5000,
      onRetry: (_err, attempt) => retries.push(attempt),
    });
    const startedAt = Date.now();
    await assert.rejects(publisher.publish('pub.y', data('{}'), 'other-1'), EventBusUnavailable);
    assert.ok(Date.now() - startedAt < 1000, 'failed at once');
    assert.deepEqual(retries, []);
  });

  test('a full stream that refuses new messages is reported as STREAM_FULL', async () => {
    const publisher = createPublisher(createAckPublisher(nc), { stream: 'FULL', deadlineMs: 5000 });
    await publisher.publish('full.a', data('{}'), 'full-1');
    await assert.rejects(publisher.publish('full.a', data('{}'), 'full-2'), (err: EventBusUnavailable) => {
      assert.equal(err.details.reason, 'STREAM_FULL');
      return true;
    });
  });

  test('a closed connection fails at once', async () => {
    const closing = await connect({ servers: nats.url });
    const publisher = createPublisher(createAckPublisher(closing), { stream: 'PUB', deadlineMs: 5000 });
    await closing.close();
    const startedAt = Date.now();
    await assert.rejects(publisher.publish('pub.z', data('{}'), 'closed-1'), EventBusUnavailable);
    assert.ok(Date.now() - startedAt < 1000);
  });

  test('many publishes are pipelined with bounded concurrency, each acknowledged once', async () => {
    const publisher = createPublisher(createAckPublisher(nc), { stream: 'PUB', concurrency: 64 });
    const acks = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => publisher.publish('pub.many', data(`{"i":${i}}`), `many-${i}`)),
    );
    await publisher.settled();
    assert.equal(new Set(acks.map((a) => a.seq)).size, 2000);
    assert.ok(acks.every((a) => !a.duplicate));
  });

  test('a call whose first ack was lost is stored once and not answered as a duplicate; a repeat is', async () => {
    // The message really is stored by the first attempt; only its ack is dropped on the way back,
    // as when an ack times out.
    const real = createAckPublisher(nc);
    let dropped = 0;
    const lossy: JetStreamPublisher = {
      async publish(subject, body, options) {
        const ack = await real.publish(subject, body, options);
        if (dropped++ === 0) throw new TimeoutError();
        return ack;
      },
    };
    const subjects = eventSubjects('lost');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'LOST', subjects: ['lost.>'], duplicate_window: 60e9, allow_direct: true });
    const tracker = createTracker({
      publisher: createPublisher(lossy, { stream: 'LOST', deadlineMs: 5000 }),
      subjects,
      reader: createStreamReader(jsm, 'LOST'),
      limits: { maxBatch: 10, maxPropertiesBytes: 1024, maxTypeLength: 64, maxFutureMs: 60_000 },
    });
    const first = await tracker.track({ id: 'lost-ack-1', type: 'a', userId: 'u' });
    assert.equal(dropped, 2, 'the first ack was dropped and the call retried');
    assert.equal(first.duplicate, false, "the call's own earlier attempt is not a duplicate");
    const repeat = await tracker.track({ id: 'lost-ack-1', type: 'a', userId: 'u' });
    assert.equal(repeat.duplicate, true, "a client's repeat is");
    assert.equal(repeat.event.seq, first.event.seq);
    assert.equal((await jsm.streams.info('LOST')).state.messages, 1, 'stored once');
  });

  test("nats.js's JetStreamClient works as the publisher's client too", async () => {
    const publisher = createPublisher(jetstream(nc), { stream: 'PUB' });
    const ack = await publisher.publish('pub.lib', data('{}'), 'lib-1');
    assert.equal((await publisher.publish('pub.lib', data('{}'), 'lib-1')).seq, ack.seq);
  });

  test('backoff grows exponentially with full jitter, capped', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(1000, 25 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const wait = backoffMs(attempt);
        assert.ok(wait >= 0 && wait <= ceiling, `${wait} within [0, ${ceiling}]`);
      }
    }
  });
});
