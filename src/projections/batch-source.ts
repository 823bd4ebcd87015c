import type { Consumer, JsMsg } from '@nats-io/jetstream';

/** How a batch is cut; each has the default shown. */
export interface BatchSourceOptions {
  /** Most messages in one batch. */
  maxMessages: number;
  /** Longest a message waits for its batch to fill before the batch is applied anyway. */
  maxDelayMs: number;
}

export interface BatchSource {
  /** The next batch, in delivery order; undefined once the source is closed. */
  next(signal: AbortSignal): Promise<JsMsg[] | undefined>;
  close(): Promise<void>;
}

/**
 * Cuts a consumer's messages into batches bounded in size and in age: a batch is handed out when
 * it is full, or when its oldest message has waited maxDelayMs. Messages keep arriving while a
 * batch is applied, so under load batches grow by themselves and at low traffic they stay small.
 * Messages come through a callback, not an async iterator (one promise less per message); what
 * waits here is bounded by the consumer's max_ack_pending, as the projector acknowledges batches.
 */
export async function openBatchSource(consumer: Consumer, options: BatchSourceOptions): Promise<BatchSource> {
  const { maxMessages, maxDelayMs } = options;
  const queue: JsMsg[] = [];
  /** When each queued message arrived, in the same order. */
  const arrivals: number[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  const signalArrival = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const messages = await consumer.consume({
    max_messages: maxMessages * 2,
    callback: (msg) => {
      if (closed) return;
      queue.push(msg);
      arrivals.push(Date.now());
      signalArrival();
    },
  });
  const ended = messages.closed().finally(() => {
    closed = true;
    signalArrival();
  });

  const arrivalOr = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  return {
    async next(signal) {
      signal.addEventListener('abort', signalArrival);
      try {
        while (queue.length === 0 && !closed && !signal.aborted) await arrivalOr(Number.POSITIVE_INFINITY);
        if (queue.length === 0 || signal.aborted) return undefined;
        for (;;) {
          const waitMs = arrivals[0] + maxDelayMs - Date.now();
          if (queue.length >= maxMessages || waitMs <= 0 || closed || signal.aborted) break;
          await arrivalOr(waitMs);
        }
      } finally {
        signal.removeEventListener('abort', signalArrival);
      }
      arrivals.splice(0, maxMessages);
      return queue.splice(0, maxMessages);
    },
    async close() {
      closed = true;
      await messages.close().catch(() => undefined);
      await ended.catch(() => undefined);
    },
  };
}
