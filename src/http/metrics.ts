import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Pulse's Prometheus metrics, in one registry per process (served at /metrics). */
export function createMetrics(probes: { isNatsConnected: () => boolean }) {
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
    natsReconnects: new Counter({
      name: 'pulse_nats_reconnects_total',
      help: 'Times the NATS connection came back after it was lost.',
      registers: [registry],
    }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
