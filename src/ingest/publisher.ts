import pLimit from 'p-limit';
import type { JetStreamPublisher } from '../nats/index.js';
import { EventBusUnavailable } from './errors.js';
import { backoffMs, isStoreFull, isTransient } from './retry.js';

/** Settings of the publisher; each has the default shown. */
export interface PublisherOptions {
  /** The stream every publish must land in (checked by the server). */
  stream: string;
  /** How long a publish may keep retrying before it fails with EVENT_BUS_UNAVAILABLE. Default 5000. */
  deadlineMs?: number;
  /** How long one attempt waits for its ack. Default 2000. */
  attemptTimeoutMs?: number;
  /** Publishes in flight at once in this process. Default 1024. */
  concurrency?: number;
  /** Told of each retry, for metrics and logs. */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Told of each acknowledged publish: seconds from the call to the ack, retries included. */
  onAcknowledged?: (seconds: number) => void;
  /** Told of each publish that failed with EVENT_BUS_UNAVAILABLE. */
  onFailed?: (err: unknown) => void;
}

export interface PublishAck {
  seq: number;
  duplicate: boolean;
  /** 1 when the first attempt was acknowledged; more when it took retries. */
  attempts: number;
}

export interface Publisher {
  /** Publishes one message with msgId as Nats-Msg-Id and resolves when JetStream acknowledged it. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PublishAck>;
  /** Resolves once every publish started so far has settled. */
  settled(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// nats.js writes what was published in one tick with one socket write. Requests that arrive over
// HTTP each run in a tick of their own, so a publish waits for the next turn of the event loop:
// the publishes of every request read in one turn then share one write instead of one each.
let turn: Promise<void> | undefined;
function nextTurn(): Promise<void> {
  turn ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      turn = undefined;
      resolve();
    }),
  );
  return turn;
}

/** The least time worth giving a last attempt before the deadline. */
const LAST_ATTEMPT_MS = 20;

/** `js` is Pulse's own ack publisher (nats/ack-publisher.ts) or a nats.js `JetStreamClient`. */
export function createPublisher(js: JetStreamPublisher, options: PublisherOptions): Publisher {
  const deadlineMs = options.deadlineMs ?? 5000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 2000;
  const limit = pLimit(options.concurrency ?? 1024);
  const inFlight = new Set<Promise<unknown>>();

  async function attemptUntilDeadline(
    subject: string,
    data: Uint8Array,
    msgId: string,
    giveUpAt: number,
  ): Promise<PublishAck> {
    for (let attempt = 0; ; attempt++) {
      await nextTurn();
      const remaining = giveUpAt - Date.now();
      try {
        // Retries reuse the event id as Nats-Msg-Id: a publish that timed out may have been stored,
        // and the stream's duplicate window turns the retry into a no-op instead of a second copy.
        const ack = await js.publish(subject, data, {
          msgID: msgId,
          timeout: Math.max(1, Math.min(attemptTimeoutMs, remaining)),
          expect: { streamName: options.stream },
        });
        return { seq: ack.seq, duplicate: ack.duplicate, attempts: attempt + 1 };
      } catch (err) {
        if (isStoreFull(err)) {
          throw new EventBusUnavailable('the event stream is full and refuses new events; retry later', {
            cause: err,
            details: { reason: 'STREAM_FULL' },
          });
        }
        // A backoff that would run past the deadline is cut short, so the last attempt still comes
        // before it (with at least LAST_ATTEMPT_MS to be answered) instead of giving up early.
        const wait = Math.min(backoffMs(attempt), giveUpAt - Date.now() - LAST_ATTEMPT_MS);
        if (!isTransient(err) || wait < 0) {
          throw new EventBusUnavailable(
            `the event bus did not acknowledge within ${deadlineMs} ms; retry with the same id`,
            {
              cause: err,
            },
          );
        }
        options.onRetry?.(err, attempt + 1);
        await sleep(wait);
      }
    }
  }

  return {
    publish(subject, data, msgId) {
      const giveUpAt = Date.now() + deadlineMs;
      const startedAt = performance.now();
      const pending = limit(() => attemptUntilDeadline(subject, data, msgId, giveUpAt));
      if (options.onAcknowledged || options.onFailed) {
        pending.then(
          () => options.onAcknowledged?.((performance.now() - startedAt) / 1000),
          (err: unknown) => options.onFailed?.(err),
        );
      }
      inFlight.add(pending);
      void pending.then(
        () => inFlight.delete(pending),
        () => inFlight.delete(pending),
      );
      return pending;
    },
    async settled() {
      await Promise.allSettled([...inFlight]);
    },
  };
}
