import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { EventSubjects } from '../nats/index.js';
import { Broadcaster } from './broadcaster.js';
import { LiveClosed, LiveLimitExceeded, LiveUnavailable, SlowSubscriber } from './errors.js';
import { startFeed } from './feed.js';
import { type EventFilterInput, toEventFilter } from './filter.js';
import { openReplay } from './replay.js';
import { checkStart, parseStart, type StreamBounds } from './start.js';
import { type LiveTransport, Subscriber } from './subscriber.js';

/** Limits of live subscriptions; each has the default shown. */
export interface LiveLimits {
  /** Live connections per process: WebSocket connections plus SSE (or other) subscriptions. Default 10000. */
  maxConnections: number;
  /** Subscriptions one WebSocket connection may hold at once. Default 100. */
  maxSubscriptionsPerConnection: number;
  /** Most events a replay (`after` / `since`) may deliver before going live. Default 100000. */
  maxReplayEvents: number;
  /** Events read from the stream at a time while a subscriber catches up. Default 256. */
  replayPageSize: number;
  /** Events that may wait for one subscriber's socket before it is closed as slow. Default 1000. */
  maxPendingEvents: number;
  /** Bytes a subscriber's socket may hold unsent before its events wait in its buffer. Default 256 KiB. */
  socketHighWaterBytes: number;
}

export const DEFAULT_LIVE_LIMITS: LiveLimits = {
  maxConnections: 10_000,
  maxSubscriptionsPerConnection: 100,
  maxReplayEvents: 100_000,
  replayPageSize: 256,
  maxPendingEvents: 1000,
  socketHighWaterBytes: 256 * 1024,
};

export interface LiveServiceOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subjects: EventSubjects;
  limits?: Partial<LiveLimits>;
  log: Logger;
  /** How long the server keeps an abandoned consumer of this process (feed or replay). Default 60000. */
  consumerInactiveMs?: number;
}

/** A subscription request, as the GraphQL field receives it. */
export interface LiveRequest {
  filter?: EventFilterInput | null;
  after?: string | null;
  since?: Date | null;
  /** Where this same subscription left off (an SSE client's Last-Event-ID); wins over after and since. */
  resumeAfter?: string;
  /** The WebSocket connection it runs on; without one, the subscription counts as a connection itself. */
  connection?: LiveConnection;
}

/** A WebSocket connection's share of the limits; release it when the socket closes. */
export interface LiveConnection {
  readonly subscriptions: number;
  release(): void;
}

type ByTransport = Record<LiveTransport, number>;

/** What the live service holds and has done, for metrics and tests. */
export interface LiveStats {
  connections: number;
  subscribers: ByTransport;
  replaying: number;
  /** Consumers this process holds on the stream: the feed's one and one per replay. */
  consumers: number;
  delivered: ByTransport;
  slowClosed: ByTransport;
  /** Stream messages the feed skipped because they are not valid events (of types some subscriber wants). */
  malformed: number;
  feedRestarts: number;
}

/** Live subscriptions of one process, all served from one shared feed. */
export interface LiveService {
  /**
   * Opens a subscription: checks its position against the stream (BAD_USER_INPUT, CURSOR_EXPIRED,
   * LIMIT_EXCEEDED) and starts its replay, if any. The result is an async iterator of events; a
   * transport that writes to sockets itself attaches a sink instead.
   */
  open(request: LiveRequest): Promise<Subscriber>;
  /** Takes a connection slot for a WebSocket; throws LiveLimitExceeded when all are taken. */
  connect(): LiveConnection;
  stats(): LiveStats;
  /** Completes every subscription and refuses new ones: the first step of a shutdown. */
  completeAll(): void;
  /** Completes what is left, stops the feed and deletes this process's consumers. */
  close(): Promise<void>;
}

const zero = (): ByTransport => ({ ws: 0, sse: 0, iterator: 0 });

export async function createLiveService(options: LiveServiceOptions): Promise<LiveService> {
  const { js, jsm, stream, subjects, log } = options;
  const limits: LiveLimits = { ...DEFAULT_LIVE_LIMITS, ...options.limits };
  // A replay page must fit in a subscriber's buffer, or catching up would close it as slow.
  const pageSize = Math.max(1, Math.min(limits.replayPageSize, Math.floor(limits.maxPendingEvents / 2)));
  const inactiveMs = options.consumerInactiveMs ?? 60_000;
  const subscriberLimits = { maxPending: limits.maxPendingEvents, highWaterBytes: limits.socketHighWaterBytes };

  const { state } = await jsm.streams.info(stream);
  const broadcaster = new Broadcaster(state.last_seq);
  const subscribers = new Set<Subscriber>();
  const replays = new Set<Promise<void>>();
  const delivered = zero();
  const slowClosed = zero();
  let connections = 0;
  let replayConsumers = 0;
  let malformed = 0;
  let isClosing = false;

  const feed = startFeed({
    js,
    stream,
    subjects,
    broadcaster,
    log,
    inactiveMs,
    onMalformed: () => malformed++,
  });

  async function bounds(): Promise<StreamBounds> {
    try {
      const info = await jsm.streams.info(stream);
      const time = (text: string | undefined) => {
        const ms = text ? Date.parse(text) : Number.NaN;
        // An empty stream reports the zero time (year 1).
        return Number.isNaN(ms) || ms <= 0 ? undefined : new Date(ms);
      };
      return {
        firstSeq: info.state.first_seq,
        lastSeq: info.state.last_seq,
        messages: info.state.messages,
        firstTime: time(info.state.first_ts),
        lastTime: time(info.state.last_ts),
      };
    } catch (err) {
      throw new LiveUnavailable('the event stream did not answer; subscribe again shortly', { cause: err });
    }
  }

  function takeConnection(): () => void {
    if (connections >= limits.maxConnections) {
      throw new LiveLimitExceeded(
        `this Pulse process holds its maximum of ${limits.maxConnections} live connections; retry later or elsewhere`,
        { setting: 'PULSE_LIVE_MAX_CONNECTIONS', max: limits.maxConnections },
      );
    }
    connections++;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      connections--;
    };
  }

  const service: LiveService = {
    async open(request) {
      if (isClosing) throw new LiveClosed();
      const filter = toEventFilter(request.filter);
      const start = parseStart(request.after, request.since, request.resumeAfter);

      let release: () => void;
      const connection = request.connection as ConnectionSlot | undefined;
      if (connection) {
        if (connection.subscriptions >= limits.maxSubscriptionsPerConnection) {
          throw new LiveLimitExceeded(
            `a connection may hold at most ${limits.maxSubscriptionsPerConnection} subscriptions`,
            { setting: 'PULSE_LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION', max: limits.maxSubscriptionsPerConnection },
          );
        }
        release = connection.hold();
      } else {
        release = takeConnection();
      }

      try {
        let needsReplay = start.kind !== 'new';
        if (start.kind !== 'new') {
          checkStart(start, await bounds());
          if (isClosing) throw new LiveClosed();
          // A cursor the feed has already reached needs no replay: later events come live.
          if (start.kind === 'after' && start.seq >= broadcaster.position) needsReplay = false;
        }
        const position = broadcaster.position;
        const after = start.kind === 'after' ? start.seq : start.kind === 'new' ? position : 0;
        const subscriber = new Subscriber(filter, { position, after, replaying: needsReplay }, subscriberLimits, {
          backlogged: (s) => broadcaster.retryLater(s),
          sent: (transport, count) => {
            delivered[transport] += count;
          },
          ended: (s, error) => {
            subscribers.delete(s);
            broadcaster.remove(s);
            release();
            if (error instanceof SlowSubscriber) {
              slowClosed[s.transport]++;
              log.info({ transport: s.transport, lastCursor: error.details.lastCursor }, 'closed a slow subscriber');
            }
          },
        });
        subscribers.add(subscriber);
        broadcaster.add(subscriber);
        if (!needsReplay || start.kind === 'new') return subscriber;

        const replay = await openReplay(
          subscriber,
          start.kind === 'after' ? { afterSeq: start.seq } : { since: start.time },
          {
            js,
            jsm,
            stream,
            subjects,
            pageSize,
            maxEvents: limits.maxReplayEvents,
            inactiveMs,
            log,
            onConsumer: (delta) => {
              replayConsumers += delta;
            },
          },
        ).catch((err: unknown) => {
          subscriber.end();
          throw err;
        });
        const running = replay.run().catch((err: unknown) => {
          log.error({ err }, 'a replay failed');
          subscriber.end(new LiveUnavailable('the replay failed; subscribe again with after: your last cursor'));
        });
        replays.add(running);
        void running.finally(() => replays.delete(running));
        return subscriber;
      } catch (err) {
        release();
        throw err;
      }
    },

    connect() {
      if (isClosing) throw new LiveClosed();
      const releaseSlot = takeConnection();
      return new ConnectionSlot(releaseSlot);
    },

    stats() {
      const byTransport = zero();
      let replaying = 0;
      for (const s of subscribers) {
        byTransport[s.transport]++;
        if (s.isReplaying) replaying++;
      }
      return {
        connections,
        subscribers: byTransport,
        replaying,
        consumers: replayConsumers + 1,
        delivered: { ...delivered },
        slowClosed: { ...slowClosed },
        malformed,
        feedRestarts: feed.restarts(),
      };
    },

    completeAll() {
      isClosing = true;
      for (const subscriber of [...subscribers]) subscriber.end();
    },

    async close() {
      service.completeAll();
      broadcaster.close();
      await Promise.allSettled([...replays]);
      await feed.stop();
    },
  };
  return service;
}

/** A WebSocket connection's slot: counts its subscriptions and gives the slot back once. */
class ConnectionSlot implements LiveConnection {
  subscriptions = 0;
  constructor(private readonly releaseSlot: () => void) {}

  /** Counts one more subscription; the function returned uncounts it. */
  hold(): () => void {
    this.subscriptions++;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.subscriptions--;
    };
  }

  release(): void {
    this.releaseSlot();
  }
}
