// Read models next to their ceilings, measured side by side in one run on one machine:
//  1. the projector (as its own process, `pulse project`) applying a stream of events, against a
//     raw @nats-io/jetstream consume + ack of the same stream, for each of the two streams below;
//  2. the projector's lag (stored → applied) under sustained ingestion at half the raw JetStream
//     publish rate measured in the same run;
//  3. user(id) and users(100 ids) with nested fields at 32 concurrent clients, against a bare
//     graphql-yoga server whose resolvers read the same KV keys themselves.
// The projector reads two streams of PULSE_BENCH_PROJECTION_EVENTS (default 100000) events each,
// as does the raw consumer: an analytics stream as sites produce it (sessions of tens of events,
// a few hundred sessions at a time, over the last two hours), and, for honesty, an adversarial one
// in which every event of a batch comes from a different user, so that no two events share a
// profile write (PULSE_BENCH_PROJECTION_USERS, default 10000, users in turn, within 10 minutes).
// PULSE_BENCH_SECONDS (default 5) sets each measured window.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeEvent, type PulseEvent } from '../src/events/index.js';
import { createLogger } from '../src/log/index.js';
import { eventSubjects, provisionEventStream } from '../src/nats/index.js';
import { startNats, type TestNats } from '../test/support/nats-server.js';
import { cpuProfileFlags, type PulseProcess, spawnPulse, testEnv } from '../test/support/pulse.js';
import { startBareServer } from './bare-server.js';
import { type HttpLoadResult, httpLoad } from './http-load.js';
import type { Row } from './types.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECONDS = Number(process.env.PULSE_BENCH_SECONDS ?? 5);
const EVENTS = Number(process.env.PULSE_BENCH_PROJECTION_EVENTS ?? 100_000);
const WARMUP_MS = Math.min(2000, SECONDS * 400);
const SPREAD_USERS = Number(process.env.PULSE_BENCH_PROJECTION_USERS ?? 10_000);
const TYPES = ['page_view', 'click', 'search', 'add_to_cart', 'purchase', 'signup', 'login', 'logout'];
// How often each type occurs in a session, per mille, in the order of TYPES.
const TYPE_WEIGHTS = [420, 260, 110, 90, 30, 20, 40, 30];
const SESSION_USERS = 2_500;
const ACTIVE_SESSIONS = 250;
const SESSION_EVENTS = { min: 10, max: 40 };
const SESSIONS_SPAN_MS = 2 * 3_600_000;
const QUERY_CLIENTS = 32;
const PROJECTOR_BATCH = process.env.PULSE_PROJECTOR_BATCH ?? '5000 (the default)';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = createLogger({ level: 'silent', pretty: false });

/** A small seeded generator (mulberry32): the same stream on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function propertiesOf(type: string, n: number): Record<string, unknown> {
  return type === 'purchase' ? { revenue: (n % 50) + 0.99, sku: `sku-${n % 97}` } : { path: `/p/${n % 31}` };
}

/**
 * Sessions as sites see them: ACTIVE_SESSIONS at a time, each of 10 to 40 events from one of
 * SESSION_USERS users (users come back for further sessions), interleaved at random, the first
 * count occurring over the two hours up to now at an even pace. Call it with n = 0, 1, 2, … in order.
 */
function sessionStream(count: number): (n: number) => PulseEvent {
  const next = random(42);
  const startMs = Date.now() - SESSIONS_SPAN_MS;
  const newSession = () => ({
    user: Math.floor(next() * SESSION_USERS),
    left: SESSION_EVENTS.min + Math.floor(next() * (SESSION_EVENTS.max - SESSION_EVENTS.min + 1)),
  });
  const active = Array.from({ length: ACTIVE_SESSIONS }, newSession);
  const typeOf = () => {
    let pick = next() * 1000;
    for (const [index, weight] of TYPE_WEIGHTS.entries()) {
      pick -= weight;
      if (pick < 0) return TYPES[index];
    }
    return TYPES[0];
  };
  return (n) => {
    const slot = Math.floor(next() * ACTIVE_SESSIONS);
    const session = active[slot];
    if (--session.left === 0) active[slot] = newSession();
    const type = typeOf();
    return {
      id: `bench-s-${n}`,
      type,
      userId: `user-${session.user}`,
      anonymousId: null,
      properties: propertiesOf(type, n),
      // Past the first count events (the lag measurement), sessions go on live.
      occurredAt: new Date(n < count ? startMs + Math.floor((n / count) * SESSIONS_SPAN_MS) : Date.now()).toISOString(),
      receivedAt: new Date().toISOString(),
    };
  };
}

/** Adversarial: within any run of SPREAD_USERS events no user comes twice, so no profile write is shared. */
function spreadEvent(n: number): PulseEvent {
  const type = TYPES[n % TYPES.length];
  return {
    id: `bench-a-${n}`,
    type,
    userId: `spread-user-${(n * 7919) % SPREAD_USERS}`,
    anonymousId: null,
    properties: propertiesOf(type, n),
    occurredAt: new Date(Date.parse('2026-01-01T00:00:00Z') + ((n * 104_729) % 600_000)).toISOString(),
    receivedAt: new Date().toISOString(),
  };
}

/** Publishes events n..n+count-1 of a stream with `window` acks in flight. */
async function publishEvents(
  nc: NatsConnection,
  prefix: string,
  eventAt: (n: number) => PulseEvent,
  count: number,
  window: number,
): Promise<void> {
  const js = jetstream(nc);
  const subjects = eventSubjects(prefix);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const event = eventAt(next++);
      await js.publish(subjects.forType(event.type), encodeEvent(event), { msgID: event.id });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** Raw JetStream publishing for SECONDS, 1000 acks in flight, into a stream of its own. */
async function rawPublishRate(nc: NatsConnection): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const subjects = eventSubjects('benchpub');
  const spec = {
    name: 'BENCH_PUB',
    subject: subjects.all,
    maxAgeMs: 86_400_000,
    maxBytes: -1,
    replicas: 1,
    duplicateWindowMs: 120_000,
  };
  await provisionEventStream(jsm, spec, log);
  const js = jetstream(nc);
  const stopAt = performance.now() + WARMUP_MS + SECONDS * 1000;
  const countFrom = stopAt - SECONDS * 1000;
  let n = 0;
  let counted = 0;
  const worker = async () => {
    while (performance.now() < stopAt) {
      const event = spreadEvent(n++);
      await js.publish(subjects.forType(event.type), encodeEvent(event), { msgID: `pub-${n}` });
      if (performance.now() >= countFrom) counted++;
    }
  };
  await Promise.all(Array.from({ length: 1000 }, worker));
  await jsm.streams.delete('BENCH_PUB');
  return counted / SECONDS;
}

/** A raw durable consumer reading count messages from firstSeq, acking each one: events per second. */
async function rawConsumeRate(nc: NatsConnection, stream: string, firstSeq: number, count: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, {
    durable_name: 'BENCH_RAW',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: firstSeq,
    max_ack_pending: 10_000,
  });
  const consumer = await jetstream(nc).consumers.get(stream, 'BENCH_RAW');
  const messages = await consumer.consume({ max_messages: 2000 });
  let seen = 0;
  let firstAt = 0;
  for await (const msg of messages) {
    if (seen === 0) firstAt = performance.now();
    msg.ack();
    if (++seen >= count) break;
  }
  const seconds = (performance.now() - firstAt) / 1000;
  await jsm.consumers.delete(stream, 'BENCH_RAW');
  return (count - 1) / seconds;
}

/** The projector as its own process, as `npm run project` runs it. */
function spawnProjector(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [...cpuProfileFlags(), '--import', 'tsx', 'src/main.ts', 'project'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PULSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Every commit of the projector's position, as it happens. */
async function watchPosition(nc: NatsConnection, bucket: string, onPosition: (seq: number, at: number) => void) {
  for (let i = 0; i < 100; i++) {
    try {
      const kv = await new Kvm(nc).open(bucket);
      await kv.status();
      const watch = await kv.watch({ key: 's.pos' });
      void (async () => {
        for await (const entry of watch) {
          if (entry.operation === 'PUT') onPosition(entry.json<{ seq: number }>().seq, performance.now());
        }
      })();
      return watch;
    } catch {
      await sleep(100); // the projector has not created the bucket yet
    }
  }
  throw new Error('the read-model bucket never appeared');
}

function startBareReadYoga(natsUrl: string, bucket: string): Promise<{ url: string; stop(): Promise<void> }> {
  return startBareServer('bench/bare-read-yoga.ts', { NATS_URL: natsUrl, BENCH_BUCKET: bucket });
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (n: number) => n.toFixed(n < 100 ? 1 : 0);

function queryRows(label: string, pulse: HttpLoadResult, bare: HttpLoadResult, baseline: string): Row {
  for (const [side, result] of [
    ['Pulse', pulse],
    ['bare', bare],
  ] as const) {
    if (result.requests === 0 || result.failures > result.requests / 100) {
      throw new Error(
        `${label} (${side}): ${result.failures} failed, ${result.requests} succeeded: ${result.firstFailure}`,
      );
    }
  }
  const ratio = pulse.requestsPerSecond / bare.requestsPerSecond;
  return {
    name: label,
    baseline,
    value: pulse.requestsPerSecond,
    baselineValue: bare.requestsPerSecond,
    unit: 'req/s',
    ratio,
    target: '>= 0.7',
    pass: ratio >= 0.7,
    notes: `Pulse p50 ${fmt(pulse.p50Ms)} ms, p99 ${fmt(pulse.p99Ms)} ms; bare p50 ${fmt(bare.p50Ms)} ms, p99 ${fmt(bare.p99Ms)} ms; ${QUERY_CLIENTS} clients`,
  };
}

export async function run(): Promise<Row[]> {
  const nats: TestNats = await startNats();
  const env = testEnv(nats.url, { PULSE_LOG_LEVEL: 'warn' });
  const nc = await connect({ servers: nats.url, name: 'bench-projections' });
  const children: ChildProcess[] = [];
  let pulse: PulseProcess | undefined;
  let bare: Awaited<ReturnType<typeof startBareReadYoga>> | undefined;
  try {
    const jsm = await jetstreamManager(nc);
    const subjects = eventSubjects(env.PULSE_SUBJECT_PREFIX);
    await provisionEventStream(
      jsm,
      {
        name: env.PULSE_STREAM,
        subject: subjects.all,
        maxAgeMs: 30 * 86_400_000,
        maxBytes: -1,
        replicas: 1,
        duplicateWindowMs: 120_000,
      },
      log,
    );
    const rawPublish = await rawPublishRate(nc);

    // 1. Each stream read twice, side by side: raw consume + ack, then the projector, a fresh
    //    process each time (started once the stream is complete, so that it reads at its own pace).
    const commits: Array<{ seq: number; at: number }> = [];
    const positions = new Set<(seq: number, at: number) => void>();
    let watch: Awaited<ReturnType<typeof watchPosition>> | undefined;
    const applyStream = async (eventAt: (n: number) => PulseEvent, firstSeq: number) => {
      await publishEvents(nc, env.PULSE_SUBJECT_PREFIX, eventAt, EVENTS, 1000);
      const raw = await rawConsumeRate(nc, env.PULSE_STREAM, firstSeq, EVENTS);
      const projector = spawnProjector(env);
      children.push(projector);
      watch ??= await watchPosition(nc, `${env.PULSE_STREAM}_RM_G1`, (seq, at) => {
        commits.push({ seq, at });
        for (const listener of positions) listener(seq, at);
      });
      const lastSeq = firstSeq + EVENTS - 1;
      const deadline = performance.now() + 600_000;
      while ((commits.at(-1)?.seq ?? 0) < lastSeq) {
        if (performance.now() > deadline) throw new Error('the projector did not finish');
        await sleep(50);
      }
      const first = commits.find((commit) => commit.seq >= firstSeq) as { seq: number; at: number };
      const last = commits.at(-1) as { seq: number; at: number };
      return { raw, projector, rate: (last.seq - first.seq) / ((last.at - first.at) / 1000), last };
    };
    const adversarial = await applyStream(spreadEvent, 1);
    await stopChild(adversarial.projector);
    const nextSession = sessionStream(EVENTS);
    const sessions = await applyStream(nextSession, EVENTS + 1);
    const last = sessions.last;
    const rows: Row[] = [
      {
        name: 'projector: events applied to every read model, sessions',
        baseline: 'raw @nats-io/jetstream consume + ack, same stream',
        value: sessions.rate,
        baselineValue: sessions.raw,
        unit: 'events/s',
        ratio: sessions.rate / sessions.raw,
        target: '>= 0.5',
        pass: sessions.rate / sessions.raw >= 0.5,
        notes: `${EVENTS} events in sessions of ${SESSION_EVENTS.min}–${SESSION_EVENTS.max} events from ${SESSION_USERS} users, ${ACTIVE_SESSIONS} sessions at a time, ${TYPES.length} types, occurring over the last 2 hours; batches of up to ${PROJECTOR_BATCH}`,
      },
      {
        name: 'projector: events applied to every read model, adversarial',
        baseline: 'raw @nats-io/jetstream consume + ack, same stream',
        value: adversarial.rate,
        baselineValue: adversarial.raw,
        unit: 'events/s',
        ratio: adversarial.rate / adversarial.raw,
        target: '(informative)',
        pass: true,
        notes: `${EVENTS} events from ${SPREAD_USERS} users in turn (no user twice within ${SPREAD_USERS} events, so every event of a batch writes a profile of its own), ${TYPES.length} types, occurring within 10 minutes; batches of up to ${PROJECTOR_BATCH}`,
      },
    ];

    // 2. Lag under sustained ingestion at half the raw publish rate.
    const rate = rawPublish / 2;
    const ackedAt = new Map<number, number>();
    const lags: number[] = [];
    let applied = 0;
    const onPosition = (seq: number, at: number) => {
      for (; applied < seq; ) {
        applied++;
        const acked = ackedAt.get(applied);
        if (acked !== undefined) {
          lags.push(Math.max(0, at - acked));
          ackedAt.delete(applied);
        }
      }
    };
    applied = last.seq;
    positions.add(onPosition);
    const js = jetstream(nc);
    const tickMs = 10;
    const startedAt = performance.now();
    let sent = 0;
    let n = EVENTS;
    const inFlight = new Set<Promise<unknown>>();
    while (performance.now() - startedAt < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - startedAt) / 1000) * rate);
      for (; sent < due; sent++) {
        const event = nextSession(n++);
        const pending = js
          .publish(subjects.forType(event.type), encodeEvent(event), { msgID: event.id })
          .then((ack) => {
            // A busy benchmark process may see the commit before the ack: applied already, no lag.
            if (ack.seq <= applied) lags.push(0);
            else ackedAt.set(ack.seq, performance.now());
          });
        inFlight.add(pending);
        void pending.finally(() => inFlight.delete(pending));
      }
      await sleep(tickMs);
    }
    await Promise.all(inFlight);
    const waitUntil = performance.now() + 30_000;
    while (ackedAt.size > 0 && performance.now() < waitUntil) await sleep(20);
    positions.delete(onPosition);
    watch?.stop();
    lags.sort((a, b) => a - b);
    const p99 = percentile(lags, 99);
    rows.push({
      name: 'projector lag (stored → applied) at half the raw publish rate, p99',
      baseline: 'target bound',
      value: p99,
      baselineValue: 1000,
      unit: 'ms',
      ratio: 1000 / p99,
      target: '<= 1000 ms (ratio >= 1)',
      pass: p99 <= 1000 && ackedAt.size === 0,
      notes: `${sent} events (the sessions continuing, occurring now) at ${fmt(rate)}/s (raw publish ${fmt(rawPublish)}/s, 1000 acks in flight); p50 ${fmt(percentile(lags, 50))} ms; ${ackedAt.size} never applied`,
    });

    // 3. Queries: Pulse (its projector off: the one above keeps the read models) against a bare yoga.
    pulse = await spawnPulse({ ...env, PULSE_PROJECTOR: 'off' });
    bare = await startBareReadYoga(nats.url, `${env.PULSE_STREAM}_RM_G1`);
    const load = (url: string, body: unknown) =>
      httpLoad({
        url: `${url}/graphql`,
        body: JSON.stringify(body),
        concurrency: QUERY_CLIENTS,
        warmupMs: WARMUP_MS,
        durationMs: SECONDS * 1000,
      });
    const one = {
      query:
        'query($id: ID!) { user(id: $id) { id eventCount revenue firstSeenAt lastSeenAt countsByType { type count } } }',
      variables: { id: 'user-42' },
    };
    const many = {
      query:
        'query($ids: [ID!]!) { users(ids: $ids) { id eventCount revenue lastSeenAt countsByType { type count } recentEvents(last: 3) { id type occurredAt } } }',
      variables: { ids: Array.from({ length: 100 }, (_, i) => `user-${(i * 97) % SESSION_USERS}`) },
    };
    const pulseOne = await load(pulse.url, one);
    const bareOne = await load(bare.url, one);
    const pulseMany = await load(pulse.url, many);
    const bareMany = await load(bare.url, many);
    rows.push(queryRows('user(id) over HTTP', pulseOne, bareOne, 'bare graphql-yoga reading the same KV key'));
    rows.push(
      queryRows(
        'users(100 ids) with nested fields over HTTP',
        pulseMany,
        bareMany,
        'bare graphql-yoga reading the same 100 keys at once',
      ),
    );
    return rows;
  } finally {
    await bare?.stop();
    await pulse?.stop();
    for (const child of children) await stopChild(child);
    await nc.close();
    await nats.destroy();
  }
}
