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
 */
export async function openBatchSource(consumer: Consumer, options: BatchSourceOptions): Promise<BatchSource> {
  const { maxMessages, maxDelayMs } = options;
  const messages = await consumer.consume({ max_messages: maxMessages * 2 });
  const queue: Array<{ msg: JsMsg; at: number }> = [];
  let closed = false;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  const signalArrival = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  const pump = (async () => {
    for await (const msg of messages) {
      if (closed) break;
      queue.push({ msg, at: Date.now() });
      signalArrival();
      // Backpressure: the consumer's own buffer holds the rest until the projector catches up.
      if (queue.length >= maxMessages * 2) await new Promise<void>((resolve) => (drained = resolve));
    }
  })()
    .catch(() => undefined)
    .finally(() => {
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
          const waitMs = queue[0].at + maxDelayMs - Date.now();
          if (queue.length >= maxMessages || waitMs <= 0 || closed || signal.aborted) break;
          await arrivalOr(waitMs);
        }
      } finally {
        signal.removeEventListener('abort', signalArrival);
      }
      const batch = queue.splice(0, maxMessages).map((item) => item.msg);
      const resume = drained;
      drained = undefined;
      resume?.();
      return batch;
    },
    async close() {
      closed = true;
      // Wake a pump held back by a full queue first: the iterator only closes once it is read.
      const resume = drained;
      drained = undefined;
      resume?.();
      const closing = messages.close().catch(() => undefined);
      await pump;
      await closing;
    },
  };
}
