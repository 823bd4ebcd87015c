// Pulse over NATS request-reply next to Pulse over HTTP, in one run against one Pulse child
// process, at the same concurrency (64 closed-loop clients):
//  - `pulse.track` (the tracker called directly) vs the `track` mutation over HTTP;
//  - the same mutation over `pulse.graphql` (executed through Yoga's fetch, every plugin applied)
//    vs over HTTP: what "one schema, three transports" costs on the NATS side.
// Every request stores a new event, so both sides do the same JetStream work.
// BENCH_SERVICE_SCALE=small runs shorter windows to check that it works.
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNats } from '../test/support/nats-server.js';
import { spawnPulse, testEnv } from '../test/support/pulse.js';
import { httpLoad } from './http-load.js';
import type { Row } from './types.js';

const SCALES = {
  full: { warmupMs: 3000, durationMs: 10_000 },
  small: { warmupMs: 1000, durationMs: 3000 },
};
const scale = SCALES[process.env.BENCH_SERVICE_SCALE === 'small' ? 'small' : 'full'];
const CONCURRENCY = 64;
const ROUNDS = 2;

const EVENT = { type: 'bench_click', userId: 'bench-user', properties: { path: '/pricing', n: 1 } };
const TRACK_MUTATION = JSON.stringify({
  query:
    'mutation($e: TrackEventInput!) { track(event: $e) { duplicate event { id type userId anonymousId properties occurredAt receivedAt cursor } } }',
  variables: { e: EVENT },
});

interface LoadResult {
  requestsPerSecond: number;
  p99Ms: number;
  failures: number;
  firstFailure?: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Closed loop over NATS request-reply, shaped like httpLoad: same warm-up, window and percentiles. */
async function natsLoad(nc: NatsConnection, subject: string, body: string): Promise<LoadResult> {
  const payload = new TextEncoder().encode(body);
  const startedAt = performance.now();
  const countFrom = startedAt + scale.warmupMs;
  const stopAt = countFrom + scale.durationMs;
  const latencies: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;

  async function client(): Promise<void> {
    while (performance.now() < stopAt) {
      const sentAt = performance.now();
      let failure: string | undefined;
      try {
        const reply = await nc.request(subject, payload, { timeout: 10_000 });
        const error = reply.headers?.get('Nats-Service-Error');
        if (error) failure = `${reply.headers?.get('Nats-Service-Error-Code')}: ${error}`;
        else if (reply.data.length === 0) failure = 'empty reply';
      } catch (err) {
        failure = (err as Error).message;
      }
      const doneAt = performance.now();
      if (sentAt < countFrom || doneAt > stopAt) continue;
      if (failure === undefined) latencies.push(doneAt - sentAt);
      else {
        failures++;
        firstFailure ??= failure;
      }
    }
  }

  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / (scale.durationMs / 1000),
    p99Ms: percentile(latencies, 99),
    failures,
    firstFailure,
  };
}

function failureNote(label: string, result: LoadResult): string {
  return result.failures > 0 ? `; ${label}: ${result.failures} failed (${result.firstFailure})` : '';
}

export async function run(): Promise<Row[]> {
  const nats = await startNats();
  const pulse = await spawnPulse(testEnv(nats.url));
  const nc = await connect({ servers: nats.url });
  try {
    // Two rounds, the transports taking turns, each transport's better round counted: neither
    // profits alone from a JIT warmed by the other or from a quieter moment of a shared machine.
    const best = (a: LoadResult | undefined, b: LoadResult) =>
      a && a.requestsPerSecond >= b.requestsPerSecond ? a : b;
    let http: LoadResult | undefined;
    let track: LoadResult | undefined;
    let graphql: LoadResult | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      http = best(
        http,
        await httpLoad({
          url: `${pulse.url}/graphql`,
          body: TRACK_MUTATION,
          concurrency: CONCURRENCY,
          warmupMs: scale.warmupMs,
          durationMs: scale.durationMs,
        }),
      );
      track = best(track, await natsLoad(nc, 'pulse.track', JSON.stringify(EVENT)));
      graphql = best(graphql, await natsLoad(nc, 'pulse.graphql', TRACK_MUTATION));
    }
    if (!http || !track || !graphql) throw new Error('no round ran');

    const window = `${CONCURRENCY} concurrent, best of ${ROUNDS} rounds of ${scale.durationMs / 1000} s`;
    const httpNote = failureNote('HTTP', http);
    return [
      {
        name: `track over NATS request-reply (pulse.track), ${CONCURRENCY} concurrent`,
        baseline: `track mutation over HTTP, ${CONCURRENCY} concurrent`,
        value: track.requestsPerSecond,
        baselineValue: http.requestsPerSecond,
        unit: 'req/s',
        ratio: track.requestsPerSecond / http.requestsPerSecond,
        target: '>= 1.5',
        pass: track.requestsPerSecond >= 1.5 * http.requestsPerSecond && track.failures === 0,
        notes: `${window}; one Pulse child process${failureNote('NATS', track)}${httpNote}`,
      },
      {
        name: 'track p99 latency over NATS (pulse.track)',
        baseline: 'track mutation over HTTP',
        value: track.p99Ms,
        baselineValue: http.p99Ms,
        unit: 'ms p99',
        ratio: http.p99Ms / track.p99Ms,
        target: '>= 1 (HTTP p99 / NATS p99; lower is better)',
        pass: track.p99Ms <= http.p99Ms,
      },
      {
        name: `track mutation over NATS (pulse.graphql, through Yoga), ${CONCURRENCY} concurrent`,
        baseline: `track mutation over HTTP, ${CONCURRENCY} concurrent`,
        value: graphql.requestsPerSecond,
        baselineValue: http.requestsPerSecond,
        unit: 'req/s',
        ratio: graphql.requestsPerSecond / http.requestsPerSecond,
        target: '>= 1.0',
        pass: graphql.requestsPerSecond >= http.requestsPerSecond && graphql.failures === 0,
        notes: `p99 ${graphql.p99Ms.toFixed(1)} ms over NATS vs ${http.p99Ms.toFixed(1)} ms over HTTP${failureNote('NATS', graphql)}`,
      },
    ];
  } finally {
    await nc.close();
    await pulse.stop();
    await nats.destroy();
  }
}
