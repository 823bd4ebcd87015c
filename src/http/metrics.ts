import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LiveStats, LiveTransport } from '../live/index.js';

/** Pulse's Prometheus metrics, in one registry per process (served at /metrics). */
export function createMetrics(probes: {
  isNatsConnected: () => boolean;
  /** The lag of this process's projector; undefined where none runs. */
  projectorLag?: () => number | undefined;
  /** KV reads made by read-model queries so far. */
  readModelReads?: () => number | undefined;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pulse_process_' });
  const metrics = {
    registry,
    eventsPublished: new Counter({
      name: 'pulse_events_published_total',
      help: 'Events stored in the stream by track and trackBatch (duplicates excluded).',
      registers: [registry],
    }),
    eventsDuplicate: new Counter({
      name: 'pulse_events_duplicate_total',
      help: 'Events answered as duplicates of an id already stored.',
      registers: [registry],
    }),
    publishRetries: new Counter({
      name: 'pulse_publish_retries_total',
      help: 'Publish attempts retried after a transient failure.',
      registers: [registry],
    }),
    publishFailures: new Counter({
      name: 'pulse_publish_failures_total',
      help: 'Publishes that failed with EVENT_BUS_UNAVAILABLE.',
      registers: [registry],
    }),
    publishSeconds: new Histogram({
      name: 'pulse_publish_duration_seconds',
      help: 'Time from publish to JetStream acknowledgement, retries included.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    natsConnected: new Gauge({
      name: 'pulse_nats_connected',
      help: '1 while the NATS connection is up, else 0.',
      registers: [registry],
      collect() {
        this.set(probes.isNatsConnected() ? 1 : 0);
      },
    }),
    readModelReads: new Gauge({
      name: 'pulse_read_model_kv_reads',
      help: 'KV reads made by read-model queries since the process started (one per distinct key per request).',
      registers: [registry],
      collect() {
        const reads = probes.readModelReads?.();
        if (reads !== undefined) this.set(reads);
      },
    }),
    projectorApplied: new Counter({
      name: 'pulse_projector_applied_events_total',
      help: 'Events the projector of this process applied to the read models.',
      registers: [registry],
    }),
    projectorDeadLetters: new Counter({
      name: 'pulse_projector_dead_letters_total',
      help: 'Messages that were not events, moved to the dead-letter stream by this process.',
      registers: [registry],
    }),
    projectorLag: new Gauge({
      name: 'pulse_projector_lag_events',
      help: 'Events in the stream the read models do not hold yet, as the projector of this process last measured.',
      registers: [registry],
      collect() {
        const lag = probes.projectorLag?.();
        if (lag !== undefined) this.set(lag);
      },
    }),
    projectorBatchSeconds: new Histogram({
      name: 'pulse_projector_batch_duration_seconds',
      help: 'Time to apply one batch to the read models, from decoding to the committed position.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    graphqlOperations: new Counter({
      name: 'pulse_graphql_operations_total',
      help: 'GraphQL operations answered, by type and operation name (names beyond the first 100 as "other").',
      labelNames: ['type', 'name'] as const,
      registers: [registry],
    }),
    graphqlErrors: new Counter({
      name: 'pulse_graphql_errors_total',
      help: 'Errors in GraphQL answers, by operation type and error code.',
      labelNames: ['type', 'code'] as const,
      registers: [registry],
    }),
    natsReconnects: new Counter({
      name: 'pulse_nats_reconnects_total',
      help: 'Times the NATS connection came back after it was lost.',
      registers: [registry],
    }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Live subscriptions' metrics, read from the live service's counts at each scrape. */
export function registerLiveMetrics(registry: Registry, stats: () => LiveStats): void {
  const current = stats;
  const counted = { delivered: zero(), slowClosed: zero(), malformed: 0, feedRestarts: 0 };
  const byTransport = (
    name: string,
    help: string,
    read: (s: LiveStats) => Record<LiveTransport, number>,
    seen?: Record<LiveTransport, number>,
  ) => {
    const Metric = seen ? Counter : Gauge;
    return new Metric({
      name,
      help,
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        const values = read(current());
        for (const transport of Object.keys(values) as LiveTransport[]) {
          if (seen) {
            (this as Counter<'transport'>).inc({ transport }, values[transport] - seen[transport]);
            seen[transport] = values[transport];
          } else {
            (this as Gauge<'transport'>).set({ transport }, values[transport]);
          }
        }
      },
    });
  };
  byTransport(
    'pulse_live_subscribers',
    'Live subscriptions open, by transport (iterator: other GraphQL consumers).',
    (s) => s.subscribers,
  );
  byTransport(
    'pulse_live_deliveries_total',
    'Events handed to live subscribers, by transport.',
    (s) => s.delivered,
    counted.delivered,
  );
  byTransport(
    'pulse_live_slow_subscribers_closed_total',
    'Live subscriptions closed with SLOW_SUBSCRIBER, by transport.',
    (s) => s.slowClosed,
    counted.slowClosed,
  );
  new Gauge({
    name: 'pulse_live_connections',
    help: 'Live connections held: WebSocket connections plus SSE subscriptions.',
    registers: [registry],
    collect() {
      this.set(current().connections);
    },
  });
  new Gauge({
    name: 'pulse_live_replaying',
    help: 'Live subscriptions still catching up from `after` or `since`.',
    registers: [registry],
    collect() {
      this.set(current().replaying);
    },
  });
  new Gauge({
    name: 'pulse_live_consumers',
    help: 'JetStream consumers this process holds for live subscriptions: one shared feed plus one per replay.',
    registers: [registry],
    collect() {
      this.set(current().consumers);
    },
  });
  new Counter({
    name: 'pulse_live_malformed_messages_total',
    help: 'Stream messages the live feed skipped because they are not valid events (of the types its subscribers want).',
    registers: [registry],
    collect() {
      const malformed = current().malformed;
      this.inc(malformed - counted.malformed);
      counted.malformed = malformed;
    },
  });
  new Counter({
    name: 'pulse_live_feed_restarts_total',
    help: 'Times the live feed reopened its consumer (after NATS outages or restarts).',
    registers: [registry],
    collect() {
      const restarts = current().feedRestarts;
      this.inc(restarts - counted.feedRestarts);
      counted.feedRestarts = restarts;
    },
  });
}

const zero = (): Record<LiveTransport, number> => ({ ws: 0, sse: 0, iterator: 0 });
