import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { decodeConsumed, type StoredEvent } from '../events/index.js';
import type { EventSubjects } from '../nats/index.js';
import type { Broadcaster } from './broadcaster.js';
import { openOrderedConsumer } from './stream-messages.js';

export interface FeedOptions {
  js: JetStreamClient;
  stream: string;
  subjects: EventSubjects;
  broadcaster: Broadcaster;
  log: Logger;
  /** Told of each stream message that is not a valid event (it is skipped), among those decoded: those of a type some subscriber wants. */
  onMalformed: (seq: number) => void;
  /** How long the server keeps the feed's consumer once this process stops pulling. Default 60000. */
  inactiveMs?: number;
}

// Four missed idle heartbeats (one a second): long enough not to give up on a consumer that is
// merely slow to answer, short enough that subscribers barely notice a stream leader change.
const STALLED_AFTER_MS = 4000;

/** The process's one reader of the stream: every live subscriber is served from it. */
export interface LiveFeed {
  /** Stops reading and deletes the consumer. */
  stop(): Promise<void>;
  /** Times the feed re-opened its consumer after it failed (NATS restarts and outages). */
  restarts(): number;
}

/**
 * Reads `<prefix>.>` from the broadcaster's position on, through one ordered consumer, decodes each
 * message once and passes it to the broadcaster. The ordered consumer re-creates itself from the
 * last sequence it saw when NATS comes back; should it give up, the feed opens a new one from the
 * broadcaster's position, so no event stored meanwhile is missed.
 */
export function startFeed(options: FeedOptions): LiveFeed {
  const { js, stream, subjects, broadcaster, log } = options;
  let isStopped = false;
  let messages: ConsumerMessages | undefined;
  let restarts = 0;
  let wakeUp: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function readOnce(): Promise<void> {
    let watchdog: NodeJS.Timeout | undefined;
    let isStalled = false;
    const consumer = await openOrderedConsumer(
      js,
      stream,
      subjects.all,
      { afterSeq: broadcaster.position },
      options.inactiveMs ?? 60_000,
    );
    try {
      if (isStopped) return;
      // A short pull expiry: the server sends an idle heartbeat every expires / 2, and nats.js
      // waits `expires` between its own checks of the consumer after a reconnect.
      messages = await consumer.consume({ max_messages: 1024, expires: 2000 });
      const reading = messages;
      // A message or a heartbeat is a sign of life. Without one, the consumer went with its node
      // (an ordered consumer has one replica) and nats.js may ask after it until that node is
      // back: a new consumer from the broadcaster's position resumes delivery in seconds.
      let lastSignAt = Date.now();
      void (async () => {
        for await (const status of reading.status()) if (status.type === 'heartbeat') lastSignAt = Date.now();
      })().catch(() => undefined);
      watchdog = setInterval(() => {
        if (broadcaster.isCongested || Date.now() - lastSignAt <= STALLED_AFTER_MS) return;
        isStalled = true;
        reading.stop();
      }, 1000);
      for await (const message of messages) {
        lastSignAt = Date.now();
        let event: StoredEvent | undefined;
        // A message whose subject names a type no subscriber wants is passed over undecoded: a
        // process with no live subscribers spends next to nothing on the feed.
        const type = subjects.typeOf(message.subject);
        if (type === undefined || broadcaster.wantsType(type)) {
          try {
            event = decodeConsumed(message, subjects.typeOf);
          } catch (err) {
            options.onMalformed(message.seq);
            log.warn(
              { seq: message.seq, subject: message.subject, reason: (err as Error).message },
              'skipped a stream message that is not a valid event',
            );
          }
        }
        broadcaster.accept(message.seq, event);
        if (broadcaster.isCongested) await broadcaster.whenCaughtUp();
        lastSignAt = Date.now();
        if (isStopped) break;
      }
    } finally {
      clearInterval(watchdog);
      messages?.stop();
      messages = undefined;
      // Gone already (a NATS restart drops it); otherwise its inactivity threshold removes it. A
      // stalled one may sit on a dead node: its delete would only wait out the request timeout.
      const deleting = consumer.delete().catch(() => undefined);
      if (!isStalled) await deleting;
    }
  }

  const running = (async () => {
    for (let attempt = 0; !isStopped; attempt++) {
      const from = broadcaster.position;
      try {
        await readOnce();
        if (isStopped) return;
        log.warn({ position: broadcaster.position }, 'the live feed stopped; reopening it');
      } catch (err) {
        if (isStopped) return;
        log.warn({ err, position: broadcaster.position }, 'the live feed failed; reopening it');
      }
      restarts++;
      if (broadcaster.position > from) attempt = 0;
      // At most a second: after a node dies, nats-server 2.9 still places about a third of new
      // one-replica consumers on it, and each such attempt already waits out a request timeout.
      await pause(Math.min(1000, 250 * 2 ** Math.min(attempt, 2)));
    }
  })();

  return {
    async stop() {
      isStopped = true;
      messages?.stop();
      wakeUp?.();
      await running;
    },
    restarts: () => restarts,
  };
}
