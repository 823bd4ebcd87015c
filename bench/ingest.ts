// Ingestion next to its ceilings, measured in one run on one machine:
//  1. trackBatch (100 events per request over HTTP) against raw JetStream publishing with 1000 acks
//     in flight, the most the same nats-server takes;
//  2. track against a bare graphql-yoga server whose mutation does no I/O, both under 64 keep-alive
//     HTTP clients, with p99 latency for both.
// Servers run as their own processes (nats-server, Pulse, the bare server), so the load generator
// in this process never shares an event loop with what it measures.
// PULSE_BENCH_SECONDS (default 5) sets each measured window; PULSE_BENCH_ROUNDS (default 3) repeats
// every pair and keeps each side's best.

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { encodeEvent, newEventId } from '../src/events/index.js';
import { createLogger } from '../src/log/index.js';
import { eventSubjects, provisionEventStream } from '../src/nats/index.js';
import { startNats, type TestNats } from '../test/support/nats-server.js';
import { type PulseProcess, spawnPulse, testEnv } from '../test/support/pulse.js';
import { startBareServer } from './bare-server.js';
import { type HttpLoadResult, httpLoad } from './http-load.js';
import type { Row } from './types.js';

const SECONDS = Number(process.env.PULSE_BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.PULSE_BENCH_ROUNDS ?? 3));
const WARMUP_MS = Math.min(2000, SECONDS * 400);
const DURATION_MS = SECONDS * 1000;

const RAW_WINDOW = 1000;
const BATCH_SIZE = 100;
const BATCH_CONCURRENCY = 10;
const TRACK_CLIENTS = 64;

/** One event as a client would send it: a few properties, like a page view. */
function sampleEvent(i: number) {
  return {
    type: 'page_view',
    userId: `user-${i % 1000}`,
    properties: { path: '/pricing', referrer: 'https://example.com/', plan: 'pro', step: i % 7 },
  };
}

const TRACK_BODY = JSON.stringify({
  query: 'mutation Track($event: TrackEventInput!) { track(event: $event) { duplicate event { id cursor } } }',
  variables: { event: sampleEvent(1) },
});
const BATCH_BODY = JSON.stringify({
  query:
    'mutation TrackBatch($events: [TrackEventInput!]!) { trackBatch(events: $events) { accepted duplicates results { duplicate event { id cursor } } } }',
  variables: { events: Array.from({ length: BATCH_SIZE }, (_, i) => sampleEvent(i)) },
});

/** JetStream publishing as fast as the server acknowledges, `window` acks in flight, no HTTP, no GraphQL. */
async function rawPublish(nats: TestNats): Promise<{ eventsPerSecond: number; failures: number }> {
  const nc = await connect({ servers: nats.url, name: 'bench-raw' });
  try {
    const jsm = await jetstreamManager(nc);
    const subjects = eventSubjects('benchraw');
    const spec = {
      name: 'BENCH_RAW',
      subject: subjects.all,
      maxAgeMs: 30 * 86_400_000,
      maxBytes: -1,
      replicas: 1,
      duplicateWindowMs: 120_000,
    };
    // The same stream settings Pulse gives its own stream.
    await provisionEventStream(jsm, spec, createLogger({ level: 'silent', pretty: false }));
    const js = jetstream(nc);
    const subject = subjects.forType('page_view');
    const startedAt = performance.now();
    const countFrom = startedAt + WARMUP_MS;
    const stopAt = countFrom + DURATION_MS;
    let acked = 0;
    let failures = 0;
    const worker = async () => {
      while (performance.now() < stopAt) {
        // The body and id Pulse would store: each message costs the server what an event costs it.
        const receivedAt = new Date().toISOString();
        const event = {
          ...sampleEvent(acked),
          id: newEventId(),
          anonymousId: null,
          occurredAt: receivedAt,
          receivedAt,
        };
        try {
          const sentAt = performance.now();
          await js.publish(subject, encodeEvent(event), { msgID: event.id, expect: { streamName: spec.name } });
          const doneAt = performance.now();
          if (sentAt >= countFrom && doneAt <= stopAt) acked++;
        } catch {
          failures++;
        }
      }
    };
    await Promise.all(Array.from({ length: RAW_WINDOW }, worker));
    return { eventsPerSecond: acked / SECONDS, failures };
  } finally {
    await nc.close();
  }
}

/** The bare graphql-yoga server, as its own process. */
function startBareYoga(): Promise<{ url: string; stop(): Promise<void> }> {
  return startBareServer('bench/bare-yoga.ts');
}

function failIfBroken(label: string, result: HttpLoadResult): void {
  if (result.requests === 0 || result.failures > result.requests / 100) {
    throw new Error(`${label}: ${result.failures} failed, ${result.requests} succeeded: ${result.firstFailure}`);
  }
}

const best = <T>(results: T[], score: (r: T) => number) => results.reduce((a, b) => (score(b) > score(a) ? b : a));
const fmt = (n: number) => n.toFixed(0);

export async function run(): Promise<Row[]> {
  const nats = await startNats();
  let pulse: PulseProcess | undefined;
  let bare: Awaited<ReturnType<typeof startBareYoga>> | undefined;
  try {
    // The projector is a reader of the stream like any other; it can run in its own process
    // (`npm run project`), so it is off here and ingestion is measured alone.
    pulse = await spawnPulse(testEnv(nats.url, { PULSE_PROJECTOR: 'off', PULSE_LOG_LEVEL: 'warn' }));
    bare = await startBareYoga();

    const raws: Array<{ eventsPerSecond: number; failures: number }> = [];
    const batches: HttpLoadResult[] = [];
    const bares: HttpLoadResult[] = [];
    const tracks: HttpLoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      raws.push(await rawPublish(nats));
      const batch = await httpLoad({
        url: `${pulse.url}/graphql`,
        body: BATCH_BODY,
        concurrency: BATCH_CONCURRENCY,
        warmupMs: WARMUP_MS,
        durationMs: DURATION_MS,
        itemsPerRequest: BATCH_SIZE,
      });
      failIfBroken('trackBatch', batch);
      batches.push(batch);

      const load = { body: TRACK_BODY, concurrency: TRACK_CLIENTS, warmupMs: WARMUP_MS, durationMs: DURATION_MS };
      const bareResult = await httpLoad({ ...load, url: `${bare.url}/graphql` });
      failIfBroken('bare yoga', bareResult);
      bares.push(bareResult);
      const track = await httpLoad({ ...load, url: `${pulse.url}/graphql` });
      failIfBroken('track', track);
      tracks.push(track);
    }

    const raw = best(raws, (r) => r.eventsPerSecond);
    const batch = best(batches, (r) => r.itemsPerSecond);
    const bareBest = best(bares, (r) => r.requestsPerSecond);
    const track = best(tracks, (r) => r.requestsPerSecond);
    const perRound = (label: string, values: number[]) =>
      values.length > 1 ? `; ${label} per round: ${values.map(fmt).join(', ')}` : '';
    const batchRatio = batch.itemsPerSecond / raw.eventsPerSecond;
    const trackRatio = track.requestsPerSecond / bareBest.requestsPerSecond;
    return [
      {
        name: `trackBatch, ${BATCH_SIZE} events/request, ${BATCH_CONCURRENCY} concurrent HTTP requests`,
        baseline: `raw JetStream publish, ${RAW_WINDOW} acks in flight`,
        value: batch.itemsPerSecond,
        baselineValue: raw.eventsPerSecond,
        unit: 'events/s',
        ratio: batchRatio,
        target: '>= 0.8',
        pass: batchRatio >= 0.8,
        notes:
          `${SECONDS} s windows, best of ${ROUNDS}; trackBatch p99 ${batch.p99Ms.toFixed(1)} ms per request` +
          perRound(
            'trackBatch',
            batches.map((r) => r.itemsPerSecond),
          ) +
          perRound(
            'raw',
            raws.map((r) => r.eventsPerSecond),
          ) +
          '; projector off (it can run as its own process), live feed on with no subscribers (it passes messages over undecoded)',
      },
      {
        name: `track, ${TRACK_CLIENTS} keep-alive HTTP clients`,
        baseline: 'bare graphql-yoga, no-I/O mutation, same clients',
        value: track.requestsPerSecond,
        baselineValue: bareBest.requestsPerSecond,
        unit: 'req/s',
        ratio: trackRatio,
        target: '>= 0.9',
        pass: trackRatio >= 0.9,
        notes:
          `${SECONDS} s windows, best of ${ROUNDS}` +
          perRound(
            'track',
            tracks.map((r) => r.requestsPerSecond),
          ) +
          perRound(
            'bare',
            bares.map((r) => r.requestsPerSecond),
          ),
      },
      {
        name: `track p99 latency, ${TRACK_CLIENTS} clients`,
        baseline: 'bare graphql-yoga p99',
        value: track.p99Ms,
        baselineValue: bareBest.p99Ms,
        unit: 'ms',
        ratio: bareBest.p99Ms / track.p99Ms,
        target: 'reported (baseline/value)',
        pass: true,
        notes: `p50 ${track.p50Ms.toFixed(1)} ms vs ${bareBest.p50Ms.toFixed(1)} ms`,
      },
    ];
  } finally {
    await bare?.stop();
    await pulse?.stop();
    await nats.destroy();
  }
}
