import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeCursor } from '../src/events/index.js';
import { startNats, type TestNats } from './support/nats-server.js';
import { type PulseProcess, spawnPulse, testEnv } from './support/pulse.js';
import { inspectStream } from './support/stream-messages.js';

const TRACK = `mutation($event: TrackEventInput!) { track(event: $event) { duplicate event { id cursor } } }`;
const CLIENTS = 24;
const MAX_CALLS_PER_CLIENT = 400;

type Outcome =
  | { kind: 'stored'; id: string; cursor: string }
  | { kind: 'graphql-error'; id: string; code: unknown }
  | { kind: 'http-error'; id: string; status: number }
  | { kind: 'refused'; id: string; reason: string };

/** The low-level reason of a failed fetch (ECONNREFUSED, UND_ERR_SOCKET, …). */
function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String(err);
}

async function trackOnce(url: string, id: string): Promise<Outcome> {
  try {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: TRACK, variables: { event: { id, type: 'burst', userId: 'u' } } }),
    });
    const text = await res.text();
    if (res.status !== 200) return { kind: 'http-error', id, status: res.status };
    const body = JSON.parse(text) as {
      data?: { track?: { event: { cursor: string } } };
      errors?: Array<{ extensions?: { code?: unknown } }>;
    };
    if (body.data?.track) return { kind: 'stored', id, cursor: body.data.track.event.cursor };
    return { kind: 'graphql-error', id, code: body.errors?.[0]?.extensions?.code };
  } catch (err) {
    return { kind: 'refused', id, reason: reasonOf(err) };
  }
}

describe('graceful shutdown on a signal', () => {
  let nats: TestNats;
  let pulse: PulseProcess | undefined;

  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await pulse?.stop('SIGKILL');
    await nats?.destroy();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} mid-burst: every acknowledged call is stored, the rest fail cleanly, exit 0`, async (t) => {
      const env = testEnv(nats.url, { PULSE_LOG_LEVEL: 'info' });
      pulse = await spawnPulse(env);
      const running = pulse;
      const outcomes: Outcome[] = [];
      let successes = 0;
      let stopAfter = Number.POSITIVE_INFINITY;

      const client = async (clientIndex: number) => {
        for (let call = 0; call < MAX_CALLS_PER_CLIENT && outcomes.length < stopAfter; call++) {
          const outcome = await trackOnce(running.url, `${signal}-${clientIndex}-${call}`);
          outcomes.push(outcome);
          if (outcome.kind === 'stored') successes++;
          // Once the listener is gone, a few more refusals per client prove the point.
          if (outcome.kind === 'refused' && stopAfter === Number.POSITIVE_INFINITY) stopAfter = outcomes.length + 50;
        }
      };
      const burst = Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));

      const giveUpAt = Date.now() + 30_000;
      while (successes < 200 && Date.now() < giveUpAt) await new Promise((r) => setTimeout(r, 5));
      assert.ok(successes >= 200, 'the burst is under way');
      const exitCode = running.stop(signal);
      await burst;
      assert.equal(await exitCode, 0, `exit code 0; output:\n${running.output().slice(-2000)}`);

      const stored = outcomes.filter((o) => o.kind === 'stored');
      const others = outcomes.filter((o) => o.kind !== 'stored');
      const kinds = new Map<string, number>();
      for (const o of others) {
        const key = o.kind === 'refused' ? `refused:${o.reason}` : `${o.kind}:${'code' in o ? o.code : o.status}`;
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      const stream = await inspectStream(nats.url, env.PULSE_STREAM);
      const storedIds = new Set<string>();
      try {
        const messages = await stream.messages();
        const bySeq = new Map(messages.map((m) => [m.seq, (m.body as { id: string }).id]));
        for (const m of messages) storedIds.add((m.body as { id: string }).id);
        for (const o of stored) {
          assert.equal(bySeq.get(decodeCursor(o.cursor) as number), o.id, `acknowledged ${o.id} is in the stream`);
        }
      } finally {
        await stream.close();
      }
      // A call fails cleanly when it got a GraphQL error with a contract code, or when the server never took
      // it: refused once the listener closed, or sent on an idle keep-alive socket just as the server closed
      // it (a reset then; such an event is never stored).
      for (const o of others) {
        if (o.kind === 'graphql-error') assert.equal(o.code, 'EVENT_BUS_UNAVAILABLE');
        else if (o.kind === 'http-error') assert.fail(`HTTP ${o.status} for ${o.id}`);
        else if (o.reason !== 'ECONNREFUSED') {
          assert.match(o.reason, /^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/, o.reason);
          assert.equal(storedIds.has(o.id), false, `${o.id} failed with ${o.reason} but was stored`);
        }
      }
      assert.ok(
        (kinds.get('refused:ECONNREFUSED') ?? 0) > 0,
        `calls after the listener closed were refused: ${JSON.stringify([...kinds])}`,
      );
      assert.ok(stored.length >= 200);
      t.diagnostic(`${stored.length} stored; others: ${JSON.stringify(Object.fromEntries(kinds))}`);
      assert.match(running.output(), /shutting down/);
    });
  }
});
