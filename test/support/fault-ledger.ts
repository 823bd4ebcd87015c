// The books of a fault test: what the stream stores and what the read models count, set against
// what the load sent and what Pulse acknowledged. Every wait is bounded.
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { gql } from './graphql.js';
import { seqOf } from './live-clients.js';
import type { ResumingSubscriber } from './resuming-subscriber.js';
import { type CallOutcome, LOAD_TYPES, LOAD_USERS, type LoadEvent } from './track-load.js';

/** One stored event as the fault tests look at it. */
export interface StoredEventRow {
  seq: number;
  id: string;
  type: string;
  userId: string;
}

/**
 * Every message of the stream, oldest first, read by sequence (a few hundred gets at a time).
 * natsUrls may name several servers (comma-separated): any one that is up answers.
 */
export async function readStoredEvents(natsUrls: string, stream: string): Promise<StoredEventRow[]> {
  const nc = await connect({ servers: natsUrls.split(','), name: 'fault-ledger', timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000, checkAPI: false });
    const { state } = await jsm.streams.info(stream);
    const rows: StoredEventRow[] = [];
    if (state.messages === 0) return rows;
    for (let from = state.first_seq; from <= state.last_seq; from += 256) {
      const seqs = Array.from({ length: Math.min(256, state.last_seq - from + 1) }, (_, i) => from + i);
      // A sequence with no message (deleted) is skipped; any other failure fails the read.
      const messages = await Promise.all(
        seqs.map((seq) =>
          jsm.streams.getMessage(stream, { seq }).catch((err: Error) => {
            if (/no message found/i.test(err.message)) return null;
            throw err;
          }),
        ),
      );
      for (const message of messages) {
        if (!message) continue;
        const body = message.json<{ id: string; type: string; userId: string }>();
        rows.push({ seq: message.seq, id: body.id, type: body.type, userId: body.userId });
      }
    }
    return rows;
  } finally {
    await nc.close();
  }
}

/** How many times each id is stored. */
export function copiesById(rows: readonly StoredEventRow[]): Map<string, number> {
  const copies = new Map<string, number>();
  for (const row of rows) copies.set(row.id, (copies.get(row.id) ?? 0) + 1);
  return copies;
}

/**
 * Asserts the stream's side of the promise: each acknowledged id stored exactly once, no id
 * stored twice, nothing stored that was not sent. Returns the number of events stored.
 */
export function assertStoredOnce(
  rows: readonly StoredEventRow[],
  sent: readonly LoadEvent[],
  acknowledged: readonly CallOutcome[],
): number {
  const copies = copiesById(rows);
  const doubled = [...copies].filter(([, n]) => n > 1);
  assert.deepEqual(doubled, [], 'no event is stored twice');
  const sentIds = new Set(sent.map((e) => e.id));
  const foreign = [...copies.keys()].filter((id) => !sentIds.has(id));
  assert.deepEqual(foreign, [], 'nothing is stored that was not sent');
  const lost = acknowledged.filter((o) => copies.get(o.id) !== 1).map((o) => o.id);
  assert.deepEqual(lost, [], 'every acknowledged event is in the stream exactly once');
  return rows.length;
}

/** What the read models count: per type and per user of a load, once the projector caught up. */
export interface ReadModelCounts {
  applied: number;
  byType: Record<string, number>;
  byUser: Record<string, number>;
  /** The sum of the per-type counts: the events the read models counted. */
  counted: number;
}

/** Waits (bounded) until the projector applied `applied` events with lag 0, then reads the counts. */
export async function readModelCounts(
  url: string,
  prefix: string,
  applied: number,
  timeoutMs = 60_000,
): Promise<ReadModelCounts> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const res = await gql(url, '{ projections { lag applied position } }').catch((err: Error) => ({
      data: undefined,
      errors: [{ message: err.message }],
    }));
    const [status] = res.data?.projections ?? [];
    last = status ?? res.errors;
    if (status && status.lag === 0 && status.applied >= applied) break;
    if (Date.now() > deadline)
      throw new Error(`the read models did not catch up to ${applied}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const ids = Array.from({ length: LOAD_USERS }, (_, i) => `${prefix}-user-${i}`);
  const res = await gql(
    url,
    `query($ids: [ID!]!) { projections { applied } eventTypes { type count } users(ids: $ids) { id eventCount } }`,
    { ids },
  );
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const byType: Record<string, number> = {};
  for (const t of res.data.eventTypes as Array<{ type: string; count: number }>) {
    if ((LOAD_TYPES as readonly string[]).includes(t.type)) byType[t.type] = t.count;
  }
  const byUser: Record<string, number> = {};
  for (const [i, user] of (res.data.users as Array<{ id: string; eventCount: number } | null>).entries()) {
    byUser[ids[i]] = user?.eventCount ?? 0;
  }
  return {
    applied: res.data.projections[0].applied,
    byType,
    byUser,
    counted: Object.values(byType).reduce((sum, n) => sum + n, 0),
  };
}

/** Asserts that the read models count each stored event exactly once, per type and per user. */
export function assertCountedOnce(counts: ReadModelCounts, rows: readonly StoredEventRow[], prefix: string): void {
  const byType: Record<string, number> = {};
  const byUser: Record<string, number> = {};
  for (const type of LOAD_TYPES) byType[type] = 0;
  for (let i = 0; i < LOAD_USERS; i++) byUser[`${prefix}-user-${i}`] = 0;
  for (const row of rows) {
    byType[row.type]++;
    byUser[row.userId]++;
  }
  assert.equal(counts.applied, rows.length, 'the projector applied every stored event once');
  assert.deepEqual(counts.byType, byType, 'eventTypes counts each stored event once');
  assert.deepEqual(counts.byUser, byUser, 'each user counts each of its stored events once');
}

/**
 * Waits (bounded) until each subscriber received as many events as expected, then asserts that it
 * received exactly those, in stream order, each once, and no GraphQL error. Returns the counts.
 */
export async function assertDeliveredOnce(
  subscribers: readonly ResumingSubscriber[],
  expected: readonly StoredEventRow[],
  timeoutMs = 60_000,
): Promise<Record<string, number>> {
  for (const subscriber of subscribers) await subscriber.waitForEvents(expected.length, timeoutMs);
  // A moment for anything doubled to arrive.
  await new Promise((r) => setTimeout(r, 300));
  const delivered: Record<string, number> = {};
  for (const subscriber of subscribers) {
    const received = subscriber.events();
    assert.deepEqual(subscriber.graphqlErrors(), [], `${subscriber.transport}: no GraphQL error`);
    assert.deepEqual(
      received.map((e) => e.id),
      expected.map((r) => r.id),
      `${subscriber.transport}: every stored event, in stream order, once`,
    );
    assert.deepEqual(
      received.map((e) => seqOf(e.cursor)),
      expected.map((r) => r.seq),
      `${subscriber.transport}: cursors name the stored sequences`,
    );
    delivered[subscriber.transport] = received.length;
  }
  return delivered;
}

/**
 * The longest time from a call's answer (the event acknowledged) to the event's arrival at a
 * subscriber, over every acknowledged event it received: how far live delivery fell behind.
 */
export function maxDeliveryLagMs(subscriber: ResumingSubscriber, outcomes: readonly CallOutcome[]): number {
  const ackedAt = new Map(outcomes.filter((o) => o.isAcknowledged).map((o) => [o.id, o.startedAt + o.elapsedMs]));
  const arrivals = subscriber.arrivals();
  let worst = 0;
  for (const [i, event] of subscriber.events().entries()) {
    const acked = ackedAt.get(event.id);
    if (acked !== undefined && arrivals[i] !== undefined) worst = Math.max(worst, arrivals[i] - acked);
  }
  return worst;
}

/** One line of figures per test run, for RELIABILITY.md. */
export function printSummary(scenario: string, figures: Record<string, unknown>): void {
  console.log(JSON.stringify({ scenario, ...figures }));
}
