// The one place that wires Pulse's pieces together, for `serve` and for tests that run Pulse in
// process. Everything it starts, it stops, in reverse order.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Settings } from './config/index.js';
import { decodeCursor, decodeEvent } from './events/index.js';
import { createHttpServer, createMetrics, createPulseYoga } from './http/index.js';
import { createPublisher, createTracker } from './ingest/index.js';
import type { Logger } from './log/index.js';
import {
  connectNats,
  createReadinessCheck,
  createStreamReader,
  eventSubjects,
  isListening,
  type LocalNatsServer,
  provisionEventStream,
  startLocalNatsServer,
} from './nats/index.js';

export interface PulseApp {
  /** The base URL the HTTP server listens on, e.g. http://127.0.0.1:4000. */
  url: string;
  /** Graceful stop: no new requests, in-flight ones finish, NATS drained. */
  close(): Promise<void>;
}

/** Finds NATS as API.md says: NATS_URL, else 127.0.0.1:4222, else a local nats-server of our own. */
async function resolveNats(settings: Settings, log: Logger): Promise<{ servers: string[]; local?: LocalNatsServer }> {
  if (settings.nats.servers) return { servers: settings.nats.servers };
  if (await isListening('127.0.0.1', 4222)) {
    log.info('NATS_URL is not set; using the NATS server on 127.0.0.1:4222');
    return { servers: ['nats://127.0.0.1:4222'] };
  }
  const local = await startLocalNatsServer(settings.dataDir, log);
  return { servers: [local.url], local };
}

export async function startPulse(settings: Settings, log: Logger): Promise<PulseApp> {
  const stops: Array<() => Promise<void> | void> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn({ err }, 'error while stopping');
      }
    }
  };

  try {
    const { servers, local } = await resolveNats(settings, log);
    if (local) stops.push(() => local.stop());

    const link = await connectNats({ ...settings.nats, servers }, log);
    stops.push(() => link.drain());

    const jsm = await jetstreamManager(link.nc, { timeout: 5000 });
    const subjects = eventSubjects(settings.stream.subjectPrefix);
    await provisionEventStream(jsm, { ...settings.stream, subject: subjects.all }, log);

    const metrics = createMetrics({ isNatsConnected: () => link.isConnected() });
    const reader = createStreamReader(jsm, settings.stream.name);
    const publisher = createPublisher(jetstream(link.nc), {
      stream: settings.stream.name,
      ...settings.ingest,
      onRetry: () => metrics.publishRetries.inc(),
    });
    stops.push(() => publisher.settled());
    const tracker = createTracker({
      publisher,
      subjects,
      reader,
      limits: settings.limits,
      onTracked: (result) => (result.duplicate ? metrics.eventsDuplicate : metrics.eventsPublished).inc(),
    });

    const yoga = createPulseYoga({
      log,
      graphiql: settings.http.graphiql,
      services: {
        log,
        tracker,
        async eventByCursor(cursor) {
          const seq = decodeCursor(cursor);
          if (seq === undefined) return null;
          const message = await reader.get(seq);
          return message ? decodeEvent(message, subjects.typeOf) : null;
        },
      },
    });
    const readiness = createReadinessCheck(
      link,
      await jetstreamManager(link.nc, { timeout: 1500 }),
      settings.stream.name,
    );
    const http = createHttpServer({ yoga, metrics, readiness, log });
    const address = await http.listen(settings.http.port, settings.http.host);
    // Stopped first: no new requests, then in-flight mutations finish before NATS is drained.
    stops.push(() => http.close(settings.http.shutdownGraceMs));

    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    log.info({ url: `${url}/graphql` }, 'Pulse is listening');
    return { url, close: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
