import type { Consumer, JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { decodeConsumed, type StoredEvent } from '../events/index.js';
import type { EventSubjects } from '../nats/index.js';
import { LiveLimitExceeded, LiveUnavailable } from './errors.js';
import { filterSubject, matchesFilter } from './filter.js';
import { openOrderedConsumer, type ReadStart } from './stream-messages.js';
import type { Subscriber } from './subscriber.js';

export interface ReplayOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subjects: EventSubjects;
  /** Events read from the stream at a time while catching up. */
  pageSize: number;
  /** Most events a replay may deliver; a longer one is refused with LIMIT_EXCEEDED. */
  maxEvents: number;
  /** How long the server keeps a replay's consumer once nobody pulls. */
  inactiveMs: number;
  log: Logger;
  /** Told when a replay opens and deletes its consumer, so that they can be counted. */
  onConsumer: (delta: 1 | -1) => void;
}

/** A replay whose consumer is open and whose length was checked. */
export interface Replay {
  /** Reads until the subscriber reached the live feed, then hands it over; resolves when done. */
  run(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens the ordered consumer a subscriber catches up with and checks the replay's length. The
 * subscriber must already be registered with the broadcaster, so that every event past its floor
 * is held for it while the replay reads up to the floor.
 *
 * The replay is done once every matching event up to the floor was handed on. A consumer's
 * pending count says when it reached the end of the stream, but nats-server 2.9 can under-count
 * it for a new consumer on a wildcard subject (one fewer than the stream held, seen in tests
 * here), which would skip an event at the switch; so each end is confirmed by the stream itself:
 * a direct get of the next message on the subject, which creates no consumer.
 */
export async function openReplay(subscriber: Subscriber, start: ReadStart, options: ReplayOptions): Promise<Replay> {
  const { js, jsm, stream, subjects, log } = options;
  const subject = filterSubject(subscriber.filter, subjects);
  const since = 'since' in start ? start.since.getTime() : undefined;
  const floorAtOpen = subscriber.floor;
  let consumer: Consumer | undefined;
  try {
    consumer = await openOrderedConsumer(js, stream, subject, start, options.inactiveMs);
  } catch (err) {
    throw new LiveUnavailable('the event stream did not answer; subscribe again shortly', { cause: err });
  }
  options.onConsumer(1);

  const release = async (held: Consumer | undefined) => {
    if (!held) return;
    options.onConsumer(-1);
    await held.delete().catch((err: unknown) => log.debug({ err }, 'could not delete a replay consumer'));
  };

  /** Whether the stream holds no message on the subject after `afterSeq` up to `floor`. */
  async function isCovered(afterSeq: number, floor: number): Promise<boolean> {
    if (afterSeq >= floor) return true;
    const next = await jsm.direct.getMessage(stream, { seq: afterSeq + 1, next_by_subj: subject });
    return !next || next.seq > floor;
  }

  const opened = await consumer.info(true);
  if (opened.num_pending > options.maxEvents) {
    await release(consumer);
    throw new LiveLimitExceeded(
      `the replay would deliver ${opened.num_pending} events; at most ${options.maxEvents} may be replayed ` +
        '(start from a later cursor or time, or narrow the filter)',
      { setting: 'PULSE_LIVE_MAX_REPLAY', max: options.maxEvents, requested: opened.num_pending },
    );
  }

  // The last stream sequence this replay read (a fresh consumer has "delivered" the one before its start).
  let lastSeen = 'afterSeq' in start ? start.afterSeq : opened.delivered.stream_seq;
  // Every matching event up to this sequence was handed to the subscriber.
  let covered = lastSeen;
  if (opened.num_pending === 0 && (await isCovered(lastSeen, floorAtOpen))) covered = floorAtOpen;

  async function reopen(): Promise<void> {
    const old = consumer;
    consumer = undefined;
    await release(old);
    consumer = await openOrderedConsumer(js, stream, subject, { afterSeq: lastSeen }, options.inactiveMs);
    options.onConsumer(1);
  }

  /** Reads one page; 'reopen' when the consumer must be replaced before the next. */
  async function readPage(current: Consumer): Promise<'more' | 'reopen'> {
    const floorAtFetch = subscriber.floor;
    const page = await current.fetch({ max_messages: options.pageSize, expires: 5000 });
    const events: StoredEvent[] = [];
    let received = 0;
    let isAtEnd = false;
    for await (const message of page) {
      received++;
      lastSeen = message.seq;
      covered = message.seq;
      try {
        const event = decodeConsumed(message, subjects.typeOf);
        const isWanted = since === undefined || Date.parse(event.receivedAt) >= since;
        if (isWanted && matchesFilter(subscriber.filter, event)) events.push(event);
      } catch (err) {
        log.debug(
          { seq: message.seq, reason: (err as Error).message },
          'replay skipped a message that is not an event',
        );
      }
      if (message.info.pending === 0) {
        isAtEnd = true;
        break;
      }
    }
    if (events.length > 0) subscriber.replayed(events);
    if (received === 0) {
      const info = await current.info();
      if (info.num_pending > 0) return 'more';
      isAtEnd = true;
    }
    // The consumer says it reached the end when the server sent the last message, which it did after
    // the fetch began: once the stream confirms it, everything up to the floor of then is covered.
    if (isAtEnd && (await isCovered(lastSeen, floorAtFetch))) covered = Math.max(covered, floorAtFetch);
    // A fetch left early stays unfinished, and an ordered consumer takes one fetch at a time.
    return isAtEnd ? 'reopen' : 'more';
  }

  return {
    async run() {
      let needsReopen = false;
      try {
        for (let failures = 0; !subscriber.ended; ) {
          if (covered >= subscriber.floor) {
            // Hand over only when what was held fits; meanwhile the floor may move, then read on.
            const held = Math.max(1, subscriber.heldCount);
            if (subscriber.hasRoomFor(held)) {
              subscriber.goLive();
              return;
            }
            await subscriber.whenRoomFor(held);
            continue;
          }
          await subscriber.whenRoomFor(options.pageSize);
          if (subscriber.ended) return;
          try {
            if (needsReopen || !consumer) await reopen();
            needsReopen = (await readPage(consumer as Consumer)) === 'reopen';
            failures = 0;
          } catch (err) {
            if (subscriber.ended) return;
            log.warn({ err, covered }, 'a replay could not read the stream; retrying');
            needsReopen = true;
            await sleep(Math.min(5000, 250 * 2 ** Math.min(failures++, 5)));
          }
        }
      } finally {
        await release(consumer);
        consumer = undefined;
      }
    },
  };
}
