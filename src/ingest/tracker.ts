import {
  decodeEvent,
  type EventLimits,
  encodeEvent,
  type PulseEvent,
  type StoredEvent,
  type TrackEventInput,
  validateBatch,
} from '../events/index.js';
import type { EventSubjects, StreamReader } from '../nats/index.js';
import { EventBusUnavailable } from './errors.js';
import type { Publisher } from './publisher.js';

export interface TrackResult {
  event: StoredEvent;
  duplicate: boolean;
}

export interface TrackBatchResult {
  results: TrackResult[];
  accepted: number;
  duplicates: number;
}

export interface TrackOptions {
  /** The client's clock when it sent the request, to correct occurredAt for its skew. */
  sentAt?: Date | string | null;
}

/** Validates events and stores them durably, exactly once per id. */
export interface Tracker {
  track(input: TrackEventInput, options?: TrackOptions): Promise<TrackResult>;
  trackBatch(inputs: readonly TrackEventInput[], options?: TrackOptions): Promise<TrackBatchResult>;
}

export interface TrackerOptions {
  publisher: Publisher;
  subjects: EventSubjects;
  /** Reads the original of a duplicate, so that the client gets the event as first stored. */
  reader: StreamReader;
  limits: EventLimits & { maxBatch: number };
  /** Told of every stored event (and duplicate), for metrics. */
  onTracked?: (result: TrackResult) => void;
}

export function createTracker(options: TrackerOptions): Tracker {
  const { publisher, subjects, reader, limits } = options;

  async function original(seq: number, fallback: PulseEvent): Promise<StoredEvent> {
    try {
      const message = await reader.get(seq);
      if (message) return decodeEvent(message, subjects.typeOf);
    } catch {
      // The stored original is only a nicer answer; the duplicate itself is already certain.
    }
    return { ...fallback, seq };
  }

  async function store(event: PulseEvent): Promise<TrackResult> {
    const ack = await publisher.publish(subjects.forType(event.type), encodeEvent(event), event.id);
    if (!ack.duplicate) return tracked({ event: { ...event, seq: ack.seq }, duplicate: false });
    const stored = await original(ack.seq, event);
    // A retried publish whose earlier attempt was stored (only its ack was lost) is this call's
    // own event, not a duplicate: the same receivedAt tells it apart from a client's repeat.
    const isOwnEarlierAttempt = ack.attempts > 1 && stored.receivedAt === event.receivedAt;
    return tracked({ event: stored, duplicate: !isOwnEarlierAttempt });
  }

  function tracked(result: TrackResult): TrackResult {
    options.onTracked?.(result);
    return result;
  }

  function receipt(opts?: TrackOptions) {
    const sentAt = opts?.sentAt;
    return { receivedAt: new Date(), sentAt: typeof sentAt === 'string' ? new Date(sentAt) : sentAt };
  }

  return {
    async track(input, opts) {
      const [event] = validateBatch([input], { ...limits, maxBatch: 1 }, receipt(opts));
      return store(event);
    },

    async trackBatch(inputs, opts) {
      const events = validateBatch(inputs, limits, receipt(opts));
      // All at once: the publisher bounds how many are in flight, so acks are pipelined.
      const settled = await Promise.allSettled(events.map(store));
      const failed = settled.flatMap((outcome, index) => (outcome.status === 'rejected' ? [index] : []));
      if (failed.length > 0) {
        const first = settled[failed[0]] as PromiseRejectedResult;
        throw new EventBusUnavailable(
          `${failed.length} of ${events.length} events were not acknowledged; resend the batch with the same ids (extensions.ids)`,
          { cause: first.reason, details: { ids: events.map((e) => e.id), failed } },
        );
      }
      const results = settled.map((outcome) => (outcome as PromiseFulfilledResult<TrackResult>).value);
      const duplicates = results.filter((r) => r.duplicate).length;
      return { results, accepted: results.length - duplicates, duplicates };
    },
  };
}
