// Read models next to their ceilings, measured side by side in one run on one machine:
//  1. the projector (as its own process, `pulse project`) applying a stream of events, against a
//     raw @nats-io/jetstream consume + ack of the same stream;
//  2. the projector's lag (stored → applied) under sustained ingestion at half the raw JetStream
//     publish rate measured in the same run;
//  3. user(id) and users(100 ids) with nested fields at 32 concurrent clients, against a bare
//     graphql-yoga server whose resolvers read the same KV keys themselves.
// PULSE_BENCH_SECONDS (default 5) sets each measured window; PULSE_BENCH_PROJECTION_EVENTS
// (default 100000) the size of the stream the projector and the raw consumer read, and
// PULSE_BENCH_PROJECTION_USERS (default 10000) how many users they come from: every event
// rewrites its user's profile, so fewer users means more events folded into one write.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeEvent, type PulseEvent } from '../src/events/index.js';
import { createLogger } from '../src/log/index.js';
import { eventSubjects, provisionEventStream } from '../src/nats/index.js';
import { startNats, type TestNats } from '../test/support/nats-server.js';
import { type PulseProcess, spawnPulse, testEnv } from '../test/support/pulse.js';
import { type HttpLoadResult, httpLoad } from './http-load.js';
import type { Row } from './types.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECONDS = Number(process.env.PULSE_BENCH_SECONDS ?? 5);
const EVENTS = Number(process.env.PULSE_BENCH_PROJECTION_EVENTS ?? 100_000);
const WARMUP_MS = Math.min(2000, SECONDS * 400);
const USERS = Number(process.env.PULSE_BENCH_PROJECTION_USERS ?? 10_000);
const TYPES = ['page_view', 'click', 'search', 'add_to_cart', 'purchase', 'signup', 'login', 'logout'];
const QUERY_CLIENTS = 32;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = createLogger({ level: 'silent', pretty: false });

function sampleEvent(n: number): PulseEvent {
  const type = TYPES[n % TYPES.length];
  return {
    id: `bench-${n}`,
    type,
    userId: `user-${(n * 7919) % USERS}`,
    anonymousId: null,
    properties: type === 'purchase' ? { revenue: (n % 50) + 0.99, sku: `sku-${n % 97}` } : { path: `/p/${n % 31}` },
    // Live traffic: events occur within minutes of each other (10 minute and 1 hour buckets).
    occurredAt: new Date(Date.parse('2026-01-01T00:00:00Z') + ((n * 104_729) % 600_000)).toISOString(),
    receivedAt: new Date().toISOString(),
  };
}

/** Publishes events n..n+count-1 with `window` acks in flight; calls onAck with each sequence. */
async function publishEvents(
  nc: NatsConnection,
  prefix: string,
  first: number,
  count: number,
  window: number,
  onAck?: (seq: number) => void,
): Promise<void> {
  const js = jetstream(nc);
  const subjects = eventSubjects(prefix);
  let next = first;
  const end = first + count;
  const worker = async () => {
    while (next < end) {
      const event = sampleEvent(next++);
      const ack = await js.publish(subjects.forType(event.type), encodeEvent(event), { msgID: event.id });
      onAck?.(ack.seq);
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
      const event = sampleEvent(n++);
      await js.publish(subjects.forType(event.type), encodeEvent(event), { msgID: `pub-${n}` });
      if (performance.now() >= countFrom) counted++;
    }
  };
  await Promise.all(Array.from({ length: 1000 }, worker));
  await jsm.streams.delete('BENCH_PUB');
  return counted / SECONDS;
}

/** A raw durable consumer reading the whole stream, acking each message: events per second. */
async function rawConsumeRate(nc: NatsConnection, stream: string, count: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, {
    durable_name: 'BENCH_RAW',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
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
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'project'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PULSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
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

async function startBareReadYoga(natsUrl: string, bucket: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-read-yoga.ts'], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: natsUrl, BENCH_BUCKET: bucket },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the bare yoga server did not start')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
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

    // 1. The same stream, read twice: raw consume + ack, then the projector.
    await publishEvents(nc, env.PULSE_SUBJECT_PREFIX, 0, EVENTS, 1000);
    const rawConsume = await rawConsumeRate(nc, env.PULSE_STREAM, EVENTS);
    const commits: Array<{ seq: number; at: number }> = [];
    const positions = new Set<(seq: number, at: number) => void>();
    const watch = await (async () => {
      children.push(spawnProjector(env));
      return watchPosition(nc, `${env.PULSE_STREAM}_RM_G1`, (seq, at) => {
        commits.push({ seq, at });
        for (const listener of positions) listener(seq, at);
      });
    })();
    const deadline = performance.now() + 600_000;
    while ((commits.at(-1)?.seq ?? 0) < EVENTS) {
      if (performance.now() > deadline) throw new Error('the projector did not finish');
      await sleep(50);
    }
    const first = commits[0];
    const last = commits.at(-1) as { seq: number; at: number };
    const projectorRate = (last.seq - first.seq) / ((last.at - first.at) / 1000);
    const rows: Row[] = [
      {
        name: 'projector: events applied to every read model',
        baseline: 'raw @nats-io/jetstream consume + ack, same stream',
        value: projectorRate,
        baselineValue: rawConsume,
        unit: 'events/s',
        ratio: projectorRate / rawConsume,
        target: '>= 0.5',
        pass: projectorRate / rawConsume >= 0.5,
        notes: `${EVENTS} events from ${USERS} users, ${TYPES.length} types, occurring within 10 minutes; batches of up to 1000`,
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
        const event = sampleEvent(n++);
        const pending = js
          .publish(subjects.forType(event.type), encodeEvent(event), { msgID: event.id })
          .then((ack) => ackedAt.set(ack.seq, performance.now()));
        inFlight.add(pending);
        void pending.finally(() => inFlight.delete(pending));
      }
      await sleep(tickMs);
    }
    await Promise.all(inFlight);
    const waitUntil = performance.now() + 30_000;
    while (ackedAt.size > 0 && performance.now() < waitUntil) await sleep(20);
    positions.delete(onPosition);
    watch.stop();
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
      notes: `${sent} events at ${fmt(rate)}/s (raw publish ${fmt(rawPublish)}/s, 1000 acks in flight); p50 ${fmt(percentile(lags, 50))} ms; ${ackedAt.size} never applied`,
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
      variables: { ids: Array.from({ length: 100 }, (_, i) => `user-${(i * 97) % USERS}`) },
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
    for (const child of children) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      child.kill('SIGKILL');
    }
    await nc.close();
    await nats.destroy();
  }
}
