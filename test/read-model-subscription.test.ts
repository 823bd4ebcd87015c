import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadSettings } from '../src/config/index.js';
import { encodeEvent } from '../src/events/index.js';
import { createLogger } from '../src/log/index.js';
import { createStreamReader, eventSubjects, provisionEventStream } from '../src/nats/index.js';
import {
  type LiveCountsMessage,
  openReadModels,
  type Projector,
  type ReadModels,
  runRebuild,
  startProjectorService,
} from '../src/projections/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { startTestPulse, testEnv } from './support/pulse.js';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads one GraphQL-over-SSE response (Yoga's "distinct connections" mode) message by message. */
async function subscribeSse(url: string, query: string) {
  const abort = new AbortController();
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query }),
    signal: abort.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    // biome-ignore lint/suspicious/noExplicitAny: the payload's shape is what the test asserts.
    async next(timeoutMs = 10_000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('\n');
          if (!data || !block.split('\n').some((line) => line === 'event: next' || line.startsWith('data:'))) continue;
          const payload = JSON.parse(data);
          assert.equal(payload.errors, undefined, JSON.stringify(payload.errors));
          return payload.data.liveCounts;
        }
        const left = deadline - Date.now();
        assert.ok(left > 0, 'no message in time');
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<{ done: true; value: undefined }>((resolve) => {
          timer = setTimeout(() => resolve({ done: true, value: undefined }), left);
        });
        const chunk = await Promise.race([reader.read(), timeout]);
        clearTimeout(timer);
        assert.ok(!chunk.done, 'the stream ended');
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    close: () => abort.abort(),
  };
}

describe('liveCounts: the live read model', () => {
  let nats: TestNats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.destroy();
  });

  test('over SSE: the current state first, then every change once, matching eventCounts', async (t) => {
    const pulse = await startTestPulse(testEnv(nats.url));
    let sse: Awaited<ReturnType<typeof subscribeSse>> | undefined;
    // The stream is closed first, so that the server has no request in flight when it stops.
    t.after(async () => {
      sse?.close();
      await pulse.close();
    });
    const track = async (type: string, count: number) => {
      const events = Array.from({ length: count }, (_, i) => ({ type, userId: `u${i % 3}` }));
      const res = await gql(
        pulse.url,
        'mutation($e: [TrackEventInput!]!) { trackBatch(events: $e) { results { event { cursor } } } }',
        { e: events },
      );
      return res.data?.trackBatch.results.at(-1).event.cursor as string;
    };
    const first = await track('click', 3);
    await gql(pulse.url, 'query($c: String) { eventTypes(minCursor: $c) { type } }', { c: first });

    sse = await subscribeSse(
      pulse.url,
      `subscription { liveCounts(types: ["click", "view"], interval: MINUTE, buckets: 3) {
        position cursor snapshot interval totals { type count uniqueUsers } buckets { type start count } } }`,
    );
    const snapshot = await sse.next();
    assert.equal(snapshot.snapshot, true);
    assert.equal(snapshot.interval, 'MINUTE');
    assert.equal(snapshot.cursor, first);
    assert.deepEqual(snapshot.totals, [
      { type: 'click', count: 3, uniqueUsers: 3 },
      { type: 'view', count: 0, uniqueUsers: 0 },
    ]);
    assert.equal(snapshot.buckets.length, 6, 'three buckets of each type, empty ones included');
    const state = new Map<string, number>(
      snapshot.buckets.map((b: { type: string; start: string; count: number }) => [`${b.type}|${b.start}`, b.count]),
    );
    const totals = new Map<string, number>(
      snapshot.totals.map((x: { type: string; count: number }) => [x.type, x.count]),
    );
    assert.equal(
      [...state.values()].reduce((a, b) => a + b, 0),
      3,
    );

    await track('other', 2); // not followed: never shows up
    let last = '';
    for (const [type, count] of [
      ['view', 2],
      ['click', 1],
      ['view', 4],
    ] as const)
      last = await track(type, count);
    const lastSeq = Number(Buffer.from(last, 'base64url').toString().split(':')[1]);
    let position = snapshot.position;
    while (position < lastSeq) {
      const change = await sse.next();
      assert.equal(change.snapshot, false);
      assert.ok(change.position > position, 'positions only move forward');
      position = change.position;
      for (const b of change.buckets) {
        assert.ok(b.type === 'click' || b.type === 'view');
        const key = `${b.type}|${b.start}`;
        // Counts only grow: a change sent twice would repeat a value already held.
        assert.ok(b.count > (state.get(key) ?? 0), `${key} went from ${state.get(key)} to ${b.count}`);
        state.set(key, b.count);
      }
      for (const x of change.totals) {
        assert.ok(x.count > (totals.get(x.type) ?? 0));
        totals.set(x.type, x.count);
      }
    }
    assert.equal(position, lastSeq);
    assert.deepEqual(Object.fromEntries(totals), { click: 4, view: 6 });
    const starts = [...new Set([...state.keys()].map((key) => key.split('|')[1]))].sort();
    const counts = await gql(
      pulse.url,
      'query($f: DateTime!, $to: DateTime!) { eventCounts(types: ["click", "view"], from: $f, to: $to, interval: MINUTE) { type buckets { start count } } }',
      { f: starts[0], to: new Date(Date.parse(starts.at(-1) as string) + MINUTE).toISOString() },
    );
    for (const series of counts.data?.eventCounts ?? []) {
      for (const bucket of series.buckets) assert.equal(state.get(`${series.type}|${bucket.start}`) ?? 0, bucket.count);
    }
  });

  test('a slow subscriber gets the latest value of each bucket, not a queue; a rebuild sends the state again', async (t) => {
    const settings = loadSettings(testEnv(nats.url));
    const log = createLogger(settings.log);
    const nc: NatsConnection = await connect({ servers: nats.url });
    t.after(() => nc.close());
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const subjects = eventSubjects(settings.stream.subjectPrefix);
    await provisionEventStream(jsm, { ...settings.stream, subject: subjects.all }, log);
    const options = { js, jsm, stream: settings.stream, subjects, settings: settings.projections, log };
    const readModels: ReadModels = await openReadModels({
      ...options,
      streamReader: createStreamReader(jsm, settings.stream.name),
    });
    t.after(() => readModels.close());
    const projector: Projector = await startProjectorService(options);
    t.after(() => projector.stop());

    const subscription = readModels.liveCounts.open({ types: ['click'], interval: 'MINUTE', buckets: 2 });
    t.after(() => subscription.close());
    const snapshot = (await subscription.next()) as LiveCountsMessage;
    assert.equal(snapshot.isSnapshot, true);
    assert.equal(snapshot.position, 0);
    const bucket = snapshot.buckets.at(-1)?.start as number;

    // Ten separate batches, each applied and committed, while the subscriber reads nothing.
    let seq = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) {
        const event = {
          id: `r${round}-${i}`,
          type: 'click',
          userId: `u${i}`,
          anonymousId: null,
          properties: {},
          occurredAt: new Date(bucket + 1000).toISOString(),
          receivedAt: new Date().toISOString(),
        };
        seq = (await js.publish(subjects.forType('click'), encodeEvent(event), { msgID: event.id })).seq;
      }
      for (let i = 0; i < 200 && readModels.reader.position().seq < seq; i++) await sleep(25);
      assert.equal(readModels.reader.position().seq, seq);
    }
    const next = (await subscription.next()) as LiveCountsMessage;
    assert.equal(next.isSnapshot, false);
    assert.equal(next.position, 50);
    assert.deepEqual(next.buckets, [{ type: 'click', start: bucket, count: 50 }]);
    assert.deepEqual(
      next.totals.map(({ type, count, uniqueUsers }) => ({ type, count, uniqueUsers })),
      [{ type: 'click', count: 50, uniqueUsers: 5 }],
    );
    const following = subscription.next();
    const more = await Promise.race([following, sleep(300).then(() => 'nothing')]);
    assert.equal(more, 'nothing', 'every change was in that one message');

    // A rebuild switches the read models: the subscriber gets the whole state again, from them.
    const rebuilt = await runRebuild({ ...options, settings: { ...settings.projections, retireAfterMs: 100 } });
    assert.equal(rebuilt.generation, 2);
    const again = (await following) as LiveCountsMessage;
    assert.equal(again.isSnapshot, true);
    assert.equal(again.position, 50);
    assert.deepEqual(
      again.buckets.filter((b) => b.count > 0),
      [{ type: 'click', start: bucket, count: 50 }],
    );
  });
});
