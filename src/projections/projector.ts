// The projector of one generation: while it holds the generation's lease, it reads the event
// stream through a durable consumer in batches, folds each batch into the read models, commits
// the position, and only then acknowledges. Effect exactly once rests on three things: each KV
// value records the last batch it reflects (a batch applied again skips what a value already
// holds), writes are revision-checked (two writers cannot both apply), and a batch is applied only
// when the consumer delivered every message before it (delivery sequences without a gap).
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { decodeConsumed, MalformedEvent, type StoredEvent } from '../events/index.js';
import type { Logger } from '../log/index.js';
import type { EventSubjects } from '../nats/index.js';
import { BatchConflict, type BatchPlan, createBatchApplier } from './batch-applier.js';
import { type BatchSourceOptions, openBatchSource } from './batch-source.js';
import type { DeadLetter, DeadLetters } from './dead-letters.js';
import { connectionOf, createKvBatch } from './kv-batch.js';
import { acquireLease, type Lease } from './lease.js';
import { type Position, readPosition, writePosition } from './position.js';
import type { ReadModel } from './read-model.js';
import type { ReadModelStore } from './store.js';

/** What one applied batch did, for metrics. */
export interface BatchReport {
  generation: number;
  events: number;
  deadLetters: number;
  position: number;
  /** Messages in the stream after the batch, not yet applied. */
  lag: number;
  seconds: number;
}

export interface ProjectorStatus {
  generation: number;
  /** Holding the lease and applying (a standby waits for the lease). */
  active: boolean;
  /** The last stream sequence in the read models. */
  position: number;
  /** Stream messages not yet applied; undefined until first measured. */
  lag: number | undefined;
}

export interface GenerationProjectorOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  store: ReadModelStore;
  generation: number;
  /** The event stream. */
  stream: string;
  subjects: EventSubjects;
  models: ReadModel[];
  deadLetters: DeadLetters;
  batch: BatchSourceOptions;
  leaseTtlMs: number;
  /** Events larger than this (as JSON) are kept in recent lists by sequence. Default 2048. */
  maxInlineEventBytes?: number;
  /** Bytes of read-model values (as stored) kept in memory between batches. Default 32 MiB. */
  cacheBytes?: number;
  /** How often lag is measured while idle. Default 1000. */
  lagIntervalMs?: number;
  log: Logger;
  onBatch?: (report: BatchReport) => void;
}

export interface GenerationProjector {
  status(): ProjectorStatus;
  /** Finishes the batch in hand, releases the lease and stops. */
  stop(): Promise<void>;
}

/** The consumer delivered out of order or skipped a delivery: start again from the committed position. */
class DeliveryGap extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryGap';
  }
}

class LeaseLost extends Error {
  constructor() {
    super('the projector lease was lost before the batch was committed');
    this.name = 'LeaseLost';
  }
}

const CONFLICT_ATTEMPTS = 3;

/**
 * How long the stream may hold events the projector has not applied while its consumer delivers
 * nothing and no batch is in hand, before the projector starts again from its position with a new
 * consumer. A consumer can be lost (deleted, or gone with its node) or left on a node that fell
 * behind; the client library keeps asking after it until it is back, which may be never.
 */
const STALLED_AFTER_MS = 5000;

/** One batch between its delivery and its acknowledgement. */
interface Step {
  /** The message with the highest stream sequence: acknowledging it covers the batch. */
  newest: JsMsg;
  events: StoredEvent[];
  letters: DeadLetter[];
  /** The batch's last stream sequence not applied before; undefined when every message was. */
  seq: number | undefined;
  /** The seq of the batch taken before it (or the position the projector started from). */
  afterSeq: number;
  startedAt: number;
}

export function consumerName(generation: number): string {
  return `RM_G${generation}`;
}

export function startGenerationProjector(options: GenerationProjectorOptions): GenerationProjector {
  const { js, jsm, store, generation, stream, subjects, deadLetters, log } = options;
  const stopping = new AbortController();
  const status: ProjectorStatus = { generation, active: false, position: 0, lag: undefined };
  const name = consumerName(generation);

  async function freshConsumer(afterSeq: number): Promise<Consumer> {
    // Recreated at the committed position on every start: messages a crashed predecessor held
    // unacknowledged come again at once instead of after the ack wait.
    await jsm.consumers.delete(stream, name).catch(() => undefined);
    await jsm.consumers.add(stream, {
      durable_name: name,
      description: `Pulse projector, read-model generation ${generation}`,
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: afterSeq + 1,
      filter_subject: subjects.all,
      ack_wait: nanos(30_000),
      max_ack_pending: options.batch.maxMessages * 4,
      max_deliver: -1,
    });
    return js.consumers.get(stream, name);
  }

  async function project(lease: Lease): Promise<void> {
    const kv = await store.generation(generation);
    let { position, revision } = await readPosition(kv);
    status.position = position.seq;
    const bucket = createKvBatch(connectionOf(js), { bucket: store.bucketName(generation), kv });
    const applier = createBatchApplier({
      bucket,
      models: options.models,
      maxInlineEventBytes: options.maxInlineEventBytes ?? 2048,
      cacheBytes: options.cacheBytes ?? 32 * 1024 * 1024,
      position: position.seq,
    });
    const source = await openBatchSource(await freshConsumer(position.seq), options.batch);
    const leaseLost = new AbortController();
    void lease.lost.then(() => leaseLost.abort());
    const failed = new AbortController();
    const signal = AbortSignal.any([stopping.signal, leaseLost.signal, failed.signal]);
    let lastDelivery = 0;
    let lastBatchAt = Date.now();
    /** Batches taken and not yet committed (or failed). */
    let inHand = 0;
    const watchdog = setInterval(() => {
      if (inHand > 0 || !status.lag || Date.now() - lastBatchAt < STALLED_AFTER_MS) return;
      log.warn(
        { generation, position: status.position, lag: status.lag },
        'the projector consumer delivers nothing while events wait; starting again from its position',
      );
      failed.abort();
    }, 1000);
    let ackedSeq = position.seq;
    /** The last stream sequence of the batches taken so far (applied, or on their way). */
    let takenSeq = position.seq;
    status.active = true;
    log.info({ generation, position: position.seq }, 'projector active');

    /** Checks a batch's deliveries and decodes what the read models do not hold yet. */
    function take(batch: JsMsg[]): Step {
      const startedAt = performance.now();
      let newest = batch[0];
      const unapplied = new Map<number, JsMsg>();
      for (const msg of batch) {
        if (msg.info.deliverySequence !== lastDelivery + 1) {
          throw new DeliveryGap(`delivery ${msg.info.deliverySequence} followed ${lastDelivery}`);
        }
        lastDelivery = msg.info.deliverySequence;
        if (msg.seq > newest.seq) newest = msg;
        if (msg.seq > takenSeq) unapplied.set(msg.seq, msg);
      }
      const fresh = [...unapplied.values()].sort((a, b) => a.seq - b.seq);
      const events: StoredEvent[] = [];
      const letters: DeadLetter[] = [];
      for (const msg of fresh) {
        try {
          events.push(decodeConsumed(msg, subjects.typeOf));
        } catch (err) {
          if (!(err instanceof MalformedEvent)) throw err;
          letters.push({ subject: msg.subject, seq: msg.seq, data: msg.data, reason: err.message });
        }
      }
      const step: Step = { newest, events, letters, seq: fresh.at(-1)?.seq, afterSeq: takenSeq, startedAt };
      if (step.seq !== undefined) takenSeq = step.seq;
      return step;
    }

    async function write(plan: BatchPlan): Promise<void> {
      for (let attempt = 1; ; attempt++) {
        try {
          await applier.write(plan);
          return;
        } catch (err) {
          // The applier computes the batch again from fresh values on the next attempt.
          if (!(err instanceof BatchConflict) || attempt >= CONFLICT_ATTEMPTS || !lease.isHeld()) throw err;
        }
      }
    }

    /** Writes a planned batch, then the position, then acknowledges: in this order, one batch at a time. */
    async function commit(step: Step, plan: BatchPlan | undefined): Promise<void> {
      const { newest, events, letters, seq } = step;
      if (seq !== undefined && plan) {
        const written = write(plan);
        const sent = Promise.all(letters.map((letter) => deadLetters.send(letter)));
        await Promise.all([written, sent]);
        if (!lease.isHeld()) throw new LeaseLost();
        const next: Position = {
          seq,
          applied: position.applied + events.length,
          deadLetters: position.deadLetters + letters.length,
          updatedAt: new Date().toISOString(),
        };
        revision = await writePosition(kv, next, revision);
        position = next;
        status.position = seq;
        for (const letter of letters) {
          log.warn(
            { seq: letter.seq, subject: letter.subject, reason: letter.reason },
            'moved a message that is not an event to the dead-letter stream',
          );
        }
        status.lag = newest.info.pending;
        options.onBatch?.({
          generation,
          events: events.length,
          deadLetters: letters.length,
          position: seq,
          lag: newest.info.pending,
          seconds: (performance.now() - step.startedAt) / 1000,
        });
      }
      // AckPolicy.All: one ack covers the whole batch. Never twice for one sequence (unsafe on 2.9.10).
      if (newest.seq > ackedSeq) {
        newest.ack();
        ackedSeq = newest.seq;
      }
    }

    // Two batches at a time: while one is written, committed and acknowledged, the next is
    // fetched, decoded and computed on top of it. Writes, positions and acks stay in batch order.
    let committing: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        const batch = await source.next(signal);
        if (!batch) break;
        lastBatchAt = Date.now();
        inHand++;
        const step = take(batch);
        const plan = step.seq === undefined ? undefined : await applier.plan(step.events, step.seq, step.afterSeq);
        await committing;
        committing = commit(step, plan).finally(() => {
          inHand--;
          lastBatchAt = Date.now();
        });
        // A failed commit ends the loop at once, also while it waits for the next batch.
        committing.catch(() => failed.abort());
      }
      await committing;
    } catch (err) {
      await committing.catch(() => undefined);
      throw err;
    } finally {
      clearInterval(watchdog);
      status.active = false;
      await source.close();
      bucket.close();
    }
  }

  async function measureLag(): Promise<void> {
    try {
      const { state } = await jsm.streams.info(stream);
      let position = status.position;
      if (!status.active) position = (await readPosition(await store.generation(generation))).position.seq;
      status.position = Math.max(status.position, position);
      status.lag = Math.max(0, state.last_seq - status.position);
    } catch {
      // Measured again at the next tick; the projector itself does not depend on it.
    }
  }
  const lagTimer = setInterval(() => void measureLag(), options.lagIntervalMs ?? 1000);
  void measureLag();

  const running = (async () => {
    while (!stopping.signal.aborted) {
      let lease: Lease | undefined;
      try {
        lease = await acquireLease(store.leases, `g${generation}`, {
          ttlMs: options.leaseTtlMs,
          signal: stopping.signal,
        });
        if (!lease) break;
        await project(lease);
      } catch (err) {
        if (!stopping.signal.aborted) {
          const expected = err instanceof DeliveryGap || err instanceof LeaseLost || err instanceof BatchConflict;
          log[expected ? 'info' : 'warn']({ err, generation }, 'projector stopped; starting again from its position');
        }
      } finally {
        await lease?.release();
      }
      if (!stopping.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();

  return {
    status: () => ({ ...status }),
    async stop() {
      stopping.abort();
      clearInterval(lagTimer);
      await running;
    },
  };
}
