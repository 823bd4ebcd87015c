// What the protections cost `track`: a Pulse with API keys (a 16-key keyring, the request's key
// checked in constant time against all), scopes, per-key rate limits and the document bounds at
// their defaults, next to an open Pulse whose per-key limits do not apply (no keys) and whose
// document bounds are set as high as they go. Same run, same 64 keep-alive HTTP clients, each
// Pulse its own process, measured alternately (the first side swaps each round).
// PULSE_BENCH_SECONDS (default 5) sets each measured window; PULSE_BENCH_ROUNDS (default 3) repeats
// the pair and keeps each side's best.
import { startNats } from '../test/support/nats-server.js';
import { type PulseProcess, spawnPulse, testEnv } from '../test/support/pulse.js';
import { type HttpLoadResult, httpLoad } from './http-load.js';
import type { Row } from './types.js';

const SECONDS = Number(process.env.PULSE_BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.PULSE_BENCH_ROUNDS ?? 3));
const WARMUP_MS = Math.min(2000, SECONDS * 400);
const DURATION_MS = SECONDS * 1000;
const CLIENTS = 64;

const KEY = 'bench-ingest-key-0000';
// A keyring of realistic size: the lookup compares the presented key with every entry.
const KEYS = [
  `${KEY}=ingest`,
  ...Array.from({ length: 15 }, (_, i) => `bench-other-key-${String(i).padStart(4, '0')}=${i % 2 ? 'read' : 'ingest'}`),
].join(',');

const TRACK_BODY = JSON.stringify({
  query: 'mutation Track($event: TrackEventInput!) { track(event: $event) { duplicate event { id cursor } } }',
  variables: {
    event: { type: 'page_view', userId: 'user-1', properties: { path: '/pricing', plan: 'pro', step: 3 } },
  },
});

function failIfBroken(label: string, result: HttpLoadResult): void {
  if (result.requests === 0 || result.failures > result.requests / 100) {
    throw new Error(`${label}: ${result.failures} failed, ${result.requests} succeeded: ${result.firstFailure}`);
  }
}

const best = (results: HttpLoadResult[]) =>
  results.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));

export async function run(): Promise<Row[]> {
  const nats = await startNats();
  let open: PulseProcess | undefined;
  let guarded: PulseProcess | undefined;
  try {
    const common = { PULSE_PROJECTOR: 'off', PULSE_SERVICE: 'off', PULSE_LOG_LEVEL: 'warn' };
    open = await spawnPulse(
      testEnv(nats.url, {
        ...common,
        PULSE_MAX_TOKENS: '1000000',
        PULSE_MAX_DEPTH: '1000',
        PULSE_MAX_ALIASES: '10000',
        PULSE_MAX_DIRECTIVES: '10000',
        PULSE_MAX_COST: '100000000',
      }),
    );
    guarded = await spawnPulse(testEnv(nats.url, { ...common, PULSE_API_KEYS: KEYS }));

    const load = { body: TRACK_BODY, concurrency: CLIENTS, warmupMs: WARMUP_MS, durationMs: DURATION_MS };
    const opens: HttpLoadResult[] = [];
    const guardeds: HttpLoadResult[] = [];
    const measureOpen = async () => {
      const result = await httpLoad({ ...load, url: `${open?.url}/graphql` });
      failIfBroken('open track', result);
      opens.push(result);
    };
    const measureGuarded = async () => {
      const result = await httpLoad({
        ...load,
        url: `${guarded?.url}/graphql`,
        headers: { authorization: `Bearer ${KEY}` },
      });
      failIfBroken('keyed track', result);
      guardeds.push(result);
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Each round swaps which side goes first, so that neither always runs on a warmer machine.
      if (round % 2 === 0) {
        await measureOpen();
        await measureGuarded();
      } else {
        await measureGuarded();
        await measureOpen();
      }
    }
    const on = best(guardeds);
    const off = best(opens);
    const ratio = on.requestsPerSecond / off.requestsPerSecond;
    const perRound = (label: string, values: HttpLoadResult[]) =>
      values.length > 1 ? `; ${label} per round: ${values.map((r) => r.requestsPerSecond.toFixed(0)).join(', ')}` : '';
    return [
      {
        name: `track with API keys, scopes and limits on, ${CLIENTS} keep-alive HTTP clients`,
        baseline: 'track on an open Pulse, limits off, same clients',
        value: on.requestsPerSecond,
        baselineValue: off.requestsPerSecond,
        unit: 'req/s',
        ratio,
        target: '>= 0.95',
        pass: ratio >= 0.95,
        notes:
          `${SECONDS} s windows, best of ${ROUNDS}; p99 ${on.p99Ms.toFixed(1)} ms vs ${off.p99Ms.toFixed(1)} ms` +
          perRound('on', guardeds) +
          perRound('off', opens) +
          '; projector and NATS service off in both; 16 keys; per-key event rate 10000/s (not reached)',
      },
    ];
  } finally {
    await guarded?.stop();
    await open?.stop();
    await nats.destroy();
  }
}
