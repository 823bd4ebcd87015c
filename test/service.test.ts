// Pulse as a NATS service: two Pulse processes on one nats-server and one stream, answering
// pulse.track, pulse.trackBatch and pulse.graphql in one queue group.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AckPolicy, DeliverPolicy, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection, NoRespondersError } from '@nats-io/transport-node';
import { decodeCursor } from '../src/events/index.js';
import { gql } from './support/graphql.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { type PulseProcess, spawnPulse, testEnv } from './support/pulse.js';

let nats: TestNats;
let env: Record<string, string>;
let first: PulseProcess;
let second: PulseProcess;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  nats = await startNats();
  env = testEnv(nats.url);
  // One after the other: the first creates the stream, the second finds it.
  first = await spawnPulse(env);
  second = await spawnPulse(env);
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});

after(async () => {
  await nc?.close();
  await second?.stop('SIGKILL');
  await first?.stop('SIGKILL');
  await nats?.destroy();
});

interface Reply {
  msg: Msg;
  // biome-ignore lint/suspicious/noExplicitAny: replies are read freely; the assertions check their shape.
  body: any;
  instance: string;
  errorCode?: number;
  errorText?: string;
}

async function request(subject: string, body: unknown, timeout = 10_000): Promise<Reply> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  const msg = await nc.request(subject, data, { timeout });
  const code = msg.headers?.get('Nats-Service-Error-Code');
  return {
    msg,
    body: JSON.parse(msg.string()),
    instance: msg.headers?.get('Pulse-Instance') ?? '',
    errorCode: code ? Number(code) : undefined,
    errorText: msg.headers?.get('Nats-Service-Error') || undefined,
  };
}

const eventSubject = (type: string) => `${env.PULSE_SUBJECT_PREFIX}.${type}`;

/** Every message the stream holds on one subject, read by a consumer deleted afterwards. */
async function storedOn(subject: string): Promise<Array<{ msgId: string; seq: number; body: unknown }>> {
  const info = await jsm.streams.info(env.PULSE_STREAM, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  const { name } = await jsm.consumers.add(env.PULSE_STREAM, {
    filter_subject: subject,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: 60_000_000_000,
  });
  try {
    const consumer = await jetstream(nc).consumers.get(env.PULSE_STREAM, name);
    const messages: Array<{ msgId: string; seq: number; body: unknown }> = [];
    for (let round = 0; round < 20 && messages.length < count; round++) {
      const batch = await consumer.fetch({ max_messages: count - messages.length, expires: 2000 });
      for await (const m of batch) {
        messages.push({ msgId: m.headers?.get('Nats-Msg-Id') ?? '', seq: m.seq, body: m.json() });
      }
    }
    return messages;
  } finally {
    await jsm.consumers.delete(env.PULSE_STREAM, name);
  }
}

const EVENT_FIELDS = 'id type userId anonymousId properties occurredAt receivedAt cursor';

test('pulse.track stores the event and answers what the track mutation answers', async () => {
  const sent = { id: 'svc-track-1', type: 'svc_click', userId: 'u-1', properties: { button: 'buy', n: 2 } };
  const reply = await request('pulse.track', sent);
  assert.equal(reply.errorCode, undefined);
  assert.ok(reply.instance.length > 0, 'the reply names the instance that answered');
  assert.deepEqual(Object.keys(reply.body), ['event', 'duplicate']);
  assert.deepEqual(Object.keys(reply.body.event), EVENT_FIELDS.split(' '));
  assert.equal(reply.body.duplicate, false);
  assert.equal(reply.body.event.id, sent.id);
  assert.equal(reply.body.event.anonymousId, null);
  assert.deepEqual(reply.body.event.properties, sent.properties);

  const stored = await storedOn(eventSubject('svc_click'));
  assert.equal(stored.length, 1);
  assert.equal(stored[0].msgId, sent.id);
  assert.equal(stored[0].seq, decodeCursor(reply.body.event.cursor));

  // The same event read back over HTTP looks exactly like the NATS reply's event.
  const http = await gql(first.url, `query($c: String!) { event(cursor: $c) { ${EVENT_FIELDS} } }`, {
    c: reply.body.event.cursor,
  });
  assert.deepEqual(http.data?.event, reply.body.event);

  // And the mutation over HTTP answers in the same shape.
  const mutation = await gql(
    second.url,
    `mutation($e: TrackEventInput!) { track(event: $e) { event { ${EVENT_FIELDS} } duplicate } }`,
    { e: { ...sent, id: 'svc-track-2' } },
  );
  assert.deepEqual(Object.keys(mutation.data?.track), Object.keys(reply.body));
  assert.deepEqual(Object.keys(mutation.data?.track.event), Object.keys(reply.body.event));
});

test('a repeated id is answered as a duplicate with the original event, and stored once', async () => {
  const sent = { id: 'svc-dup-1', type: 'svc_dup', anonymousId: 'anon-1', properties: { v: 1 } };
  const original = await request('pulse.track', sent);
  const again = await request('pulse.track', { event: { ...sent, properties: { v: 2 } } });
  assert.equal(original.body.duplicate, false);
  assert.equal(again.body.duplicate, true);
  assert.deepEqual(again.body.event, original.body.event, 'the duplicate answers with the event as first stored');
  const stored = await storedOn(eventSubject('svc_dup'));
  assert.deepEqual(
    stored.map((m) => m.msgId),
    ['svc-dup-1'],
  );
});

test('pulse.trackBatch takes a bare array or { events, sentAt } and answers like trackBatch', async () => {
  const bare = await request('pulse.trackBatch', [
    { id: 'svc-b-1', type: 'svc_batch', userId: 'u-1' },
    { id: 'svc-b-2', type: 'svc_batch', anonymousId: 'a-2', properties: { k: 'v' } },
  ]);
  assert.equal(bare.errorCode, undefined);
  assert.deepEqual(Object.keys(bare.body), ['results', 'accepted', 'duplicates']);
  assert.equal(bare.body.accepted, 2);
  assert.equal(bare.body.duplicates, 0);
  assert.deepEqual(
    bare.body.results.map((r: { event: { id: string } }) => r.event.id),
    ['svc-b-1', 'svc-b-2'],
  );

  // sentAt an hour ahead of occurredAt: the client's clock is off, occurredAt is corrected for it.
  const wrapped = await request('pulse.trackBatch', {
    events: [
      { id: 'svc-b-2', type: 'svc_batch', anonymousId: 'a-2' },
      { id: 'svc-b-3', type: 'svc_batch', userId: 'u-3', occurredAt: '2030-01-01T10:00:00.000Z' },
    ],
    sentAt: '2030-01-01T11:00:00.000Z',
  });
  assert.equal(wrapped.body.accepted, 1);
  assert.equal(wrapped.body.duplicates, 1);
  assert.equal(wrapped.body.results[0].duplicate, true);
  const corrected = wrapped.body.results[1].event;
  assert.equal(Date.parse(corrected.receivedAt) - Date.parse(corrected.occurredAt), 3_600_000);

  const stored = await storedOn(eventSubject('svc_batch'));
  assert.deepEqual(stored.map((m) => m.msgId).sort(), ['svc-b-1', 'svc-b-2', 'svc-b-3']);
});

test('invalid requests get the error headers (400) and BAD_USER_INPUT with every invalid item; nothing is stored', async () => {
  const malformed = await request('pulse.track', '{"type": "svc_bad",');
  assert.equal(malformed.errorCode, 400);
  assert.equal(malformed.body.error.code, 'BAD_USER_INPUT');
  assert.match(malformed.errorText ?? '', /not UTF-8 JSON/);

  const noUser = await request('pulse.track', { type: 'svc_bad' });
  assert.equal(noUser.errorCode, 400);
  assert.equal(noUser.body.error.code, 'BAD_USER_INPUT');
  assert.deepEqual(noUser.body.error.invalid, [
    { index: 0, field: 'userId', message: 'at least one of userId and anonymousId is required' },
  ]);
  assert.equal(noUser.errorText, noUser.body.error.message);

  const batch = await request('pulse.trackBatch', {
    events: [
      { type: 'svc_bad', userId: 'ok' },
      { type: 'svc_bad', userID: 'typo' },
      { type: 'svc_bad', userId: 'u', occurredAt: 'yesterday' },
      'not an event',
    ],
  });
  assert.equal(batch.errorCode, 400);
  assert.equal(batch.body.error.code, 'BAD_USER_INPUT');
  assert.match(batch.body.error.message, /^3 of 4 events are invalid; nothing was published/);
  const invalid = batch.body.error.invalid as Array<{ index: number; field: string }>;
  assert.deepEqual(
    invalid.map((item) => `${item.index}:${item.field}`),
    ['1:userID', '1:userId', '2:occurredAt', '3:event'],
  );

  const notArray = await request('pulse.trackBatch', { events: 'x' });
  assert.equal(notArray.errorCode, 400);
  const stack = JSON.stringify([malformed.body, noUser.body, batch.body, notArray.body]);
  assert.doesNotMatch(stack, /at .*\.(ts|js):\d+/, 'no stack trace');

  assert.deepEqual(await storedOn(eventSubject('svc_bad')), []);
});

test('pulse.graphql answers a query with the same JSON as HTTP; failures carry the error headers', async () => {
  const tracked = await request('pulse.track', { id: 'svc-gql-1', type: 'svc_gql', userId: 'u-g' });
  const query = {
    query: `query One($c: String!) { event(cursor: $c) { ${EVENT_FIELDS} } }`,
    variables: { c: tracked.body.event.cursor },
    operationName: 'One',
  };
  const overNats = await request('pulse.graphql', query);
  const overHttp = await gql(second.url, query.query, query.variables);
  assert.equal(overNats.errorCode, undefined);
  assert.deepEqual(overNats.body, { data: overHttp.data });
  assert.deepEqual(overNats.body.data.event, tracked.body.event);

  const mutation = await request('pulse.graphql', {
    query: 'mutation($e: TrackEventInput!) { track(event: $e) { duplicate event { id type } } }',
    variables: { e: { id: 'svc-gql-2', type: 'svc_gql', userId: 'u-g' } },
  });
  assert.deepEqual(mutation.body, {
    data: { track: { duplicate: false, event: { id: 'svc-gql-2', type: 'svc_gql' } } },
  });

  const invalidInput = await request('pulse.graphql', {
    query: 'mutation($e: TrackEventInput!) { track(event: $e) { duplicate } }',
    variables: { e: { type: 'svc_gql' } },
  });
  assert.equal(invalidInput.errorCode, 400);
  assert.equal(invalidInput.body.data, null);
  assert.equal(invalidInput.body.errors[0].extensions.code, 'BAD_USER_INPUT');
  assert.equal(invalidInput.errorText, invalidInput.body.errors[0].message);

  const unknownField = await request('pulse.graphql', { query: '{ nothingHere }' });
  const unknownOverHttp = await gql(first.url, '{ nothingHere }');
  assert.equal(unknownField.errorCode, 400);
  assert.deepEqual(unknownField.body.errors, unknownOverHttp.errors);

  const subscription = await request('pulse.graphql', { query: 'subscription { events { id } }' });
  assert.equal(subscription.errorCode, 400);
  assert.equal(subscription.body.errors[0].extensions.code, 'OPERATION_NOT_SUPPORTED');
  assert.match(subscription.body.errors[0].message, /SSE or WebSocket/);

  const stored = await storedOn(eventSubject('svc_gql'));
  assert.deepEqual(stored.map((m) => m.msgId).sort(), ['svc-gql-1', 'svc-gql-2']);
});

test('pulse.graphql answers a body that is not a GraphQL request object with BAD_REQUEST, as HTTP does', async () => {
  for (const body of ['{"query": ', '[{"query": "{ __typename }"}]', '{}', '"{ __typename }"']) {
    const reply = await request('pulse.graphql', body);
    assert.equal(reply.errorCode, 400, body);
    assert.equal(reply.body.errors?.[0]?.extensions?.code, 'BAD_REQUEST', body);
  }
  // A request object goes in parsed; its answer is the same as with the body read by GraphQL.
  const parsed = await request('pulse.graphql', { query: '{ __typename }' });
  assert.equal(parsed.errorCode, undefined);
  assert.deepEqual(parsed.body, { data: { __typename: 'Query' } });
});

// biome-ignore lint/suspicious/noExplicitAny: $SRV answers are JSON read freely; assertions check them.
type Json = any;

async function srv(verb: 'PING' | 'INFO' | 'STATS'): Promise<Json[]> {
  const answers: Json[] = [];
  const replies = await nc.requestMany(`$SRV.${verb}.pulse`, '', { strategy: 'count', maxMessages: 2, maxWait: 5000 });
  for await (const reply of replies) answers.push(reply.json());
  return answers.sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

function endpointTotals(stats: Json[]): Record<string, { requests: number; errors: number }> {
  const totals: Record<string, { requests: number; errors: number }> = {};
  for (const instance of stats) {
    for (const endpoint of instance.endpoints) {
      const total = totals[endpoint.name] ?? { requests: 0, errors: 0 };
      total.requests += endpoint.num_requests;
      total.errors += endpoint.num_errors;
      totals[endpoint.name] = total;
    }
  }
  return totals;
}

test('$SRV.PING, INFO and STATS list both instances, with endpoint stats that match the traffic sent', async () => {
  const pings = await srv('PING');
  assert.equal(pings.length, 2);
  assert.ok(pings.every((p) => p.name === 'pulse' && p.type === 'io.nats.micro.v1.ping_response'));

  const infos = await srv('INFO');
  assert.deepEqual(infos.map((i) => i.metadata.http).sort(), [first.url, second.url].sort());
  for (const info of infos) {
    assert.deepEqual(
      info.endpoints.map((e: Json) => [e.name, e.subject, e.queue_group]),
      [
        ['track', 'pulse.track', 'pulse'],
        ['trackBatch', 'pulse.trackBatch', 'pulse'],
        ['graphql', 'pulse.graphql', 'pulse'],
      ],
    );
    assert.equal(info.metadata.stream, env.PULSE_STREAM);
  }

  const statsBefore = await srv('STATS');
  const before = endpointTotals(statsBefore);
  const perInstance = new Map<string, number>();
  const send = async (subject: string, body: unknown) => {
    const reply = await request(subject, body);
    perInstance.set(reply.instance, (perInstance.get(reply.instance) ?? 0) + 1);
  };
  for (let i = 0; i < 12; i++) await send('pulse.track', { type: 'svc_stats', userId: `u-${i}` });
  for (let i = 0; i < 3; i++) await send('pulse.track', { type: 'svc_stats' });
  for (let i = 0; i < 4; i++) await send('pulse.trackBatch', [{ type: 'svc_stats', userId: 'b' }]);
  await send('pulse.trackBatch', 'nonsense');
  for (let i = 0; i < 5; i++) await send('pulse.graphql', { query: '{ __typename }' });
  await send('pulse.graphql', { query: '{ broken' });

  const stats = await srv('STATS');
  const after = endpointTotals(stats);
  const delta = (name: string) => ({
    requests: after[name].requests - before[name].requests,
    errors: after[name].errors - before[name].errors,
  });
  assert.deepEqual(delta('track'), { requests: 15, errors: 3 });
  assert.deepEqual(delta('trackBatch'), { requests: 5, errors: 1 });
  assert.deepEqual(delta('graphql'), { requests: 6, errors: 1 });

  // Each instance counted exactly the requests whose replies carried its id.
  const requestsOf = (answers: Json[]) =>
    new Map<string, number>(
      answers.map((a) => [a.id, a.endpoints.reduce((n: number, e: Json) => n + e.num_requests, 0)]),
    );
  const countedBefore = requestsOf(statsBefore);
  for (const [id, count] of requestsOf(stats)) {
    assert.equal(count - (countedBefore.get(id) ?? 0), perInstance.get(id) ?? 0, `requests counted by ${id}`);
  }
  assert.equal(perInstance.size, 2, 'both instances answered some of these 26 requests');
  for (const instance of stats) {
    for (const endpoint of instance.endpoints) {
      assert.equal(endpoint.data.in_flight, 0);
      assert.ok(endpoint.processing_time > 0 || endpoint.num_requests === 0);
    }
  }
});

test('1,000 requests spread over both processes: each answers some, none lost, none answered twice', async () => {
  const total = 1000;
  const concurrency = 50;
  const answeredBy = new Map<string, number>();
  const answeredIds = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const id = `svc-spread-${next++}`;
      const reply = await request('pulse.track', { id, type: 'svc_spread', userId: 'spreader' });
      assert.equal(reply.errorCode, undefined, reply.errorText);
      assert.equal(reply.body.event.id, id);
      answeredBy.set(reply.instance, (answeredBy.get(reply.instance) ?? 0) + 1);
      answeredIds.set(id, (answeredIds.get(id) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  assert.equal(answeredBy.size, 2, 'both processes answered');
  for (const [instance, count] of answeredBy) assert.ok(count > 0, `${instance} answered ${count}`);
  assert.equal(
    [...answeredBy.values()].reduce((a, b) => a + b, 0),
    total,
  );
  assert.equal(answeredIds.size, total);
  assert.ok(
    [...answeredIds.values()].every((n) => n === 1),
    'no request answered twice',
  );

  const stored = await storedOn(eventSubject('svc_spread'));
  assert.equal(stored.length, total);
  assert.deepEqual(new Set(stored.map((m) => m.msgId)), new Set(answeredIds.keys()));
});

test('a process stopped with SIGTERM mid-run: every request is answered, the rest by the other process', async (t) => {
  const total = 600;
  const concurrency = 20;
  const instances = new Map((await srv('INFO')).map((i: Json) => [i.metadata.http as string, i.id as string]));
  const stoppedId = instances.get(first.url) as string;
  const survivorId = instances.get(second.url) as string;
  let next = 0;
  let answered = 0;
  let noResponders = 0;
  let stopping: Promise<number | string | null> | undefined;
  let answeredByStoppedAfterSignal = 0;
  const answeredIds = new Map<string, number>();
  const worker = async () => {
    while (next < total) {
      const id = `svc-stop-${next++}`;
      for (let attempt = 0; ; attempt++) {
        assert.ok(attempt < 20, `request ${id} found no responder 20 times`);
        try {
          const reply = await request('pulse.track', { id, type: 'svc_stop', userId: 'stopper' });
          assert.equal(reply.errorCode, undefined, reply.errorText);
          if (stopping && reply.instance === stoppedId) answeredByStoppedAfterSignal++;
          answeredIds.set(id, (answeredIds.get(id) ?? 0) + 1);
          break;
        } catch (err) {
          // Retrying a request that nobody took is the client's job.
          if (!(err instanceof NoRespondersError || (err as Error).cause instanceof NoRespondersError)) throw err;
          noResponders++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      if (++answered === 150) stopping = first.stop('SIGTERM');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const exitCode = await stopping;
  t.diagnostic(
    `answered by the stopped process after SIGTERM: ${answeredByStoppedAfterSignal}; no responders: ${noResponders}`,
  );

  assert.equal(exitCode, 0, 'the stopped process exits cleanly');
  assert.equal(answeredIds.size, total, 'every request got a reply');
  assert.ok([...answeredIds.values()].every((n) => n === 1));
  const stored = await storedOn(eventSubject('svc_stop'));
  assert.equal(stored.length, total);
  assert.deepEqual(new Set(stored.map((m) => m.msgId)), new Set(answeredIds.keys()));

  const pings = await srv('PING');
  assert.deepEqual(
    pings.map((p) => p.id),
    [survivorId],
    'only the survivor is left in the service',
  );
  const last = await request('pulse.track', { type: 'svc_stop_after', userId: 'u' });
  assert.equal(last.instance, survivorId);
});
