import type { Consumer, JetStreamClient } from '@nats-io/jetstream';

/** Where an ordered read starts: after a stream sequence, or at a time. */
export type ReadStart = { afterSeq: number } | { since: Date };

/**
 * Opens an ordered consumer on one filter subject (nats-server 2.9 takes one). It holds no state on
 * the server worth keeping: whoever opens one deletes it when done (the server would otherwise
 * keep it until its inactivity threshold).
 */
export function openOrderedConsumer(
  js: JetStreamClient,
  stream: string,
  subject: string,
  start: ReadStart,
  inactiveMs: number,
): Promise<Consumer> {
  return js.consumers.get(stream, {
    filter_subjects: subject,
    inactive_threshold: inactiveMs,
    ...('since' in start ? { opt_start_time: start.since.toISOString() } : { opt_start_seq: start.afterSeq + 1 }),
  });
}
