// The one place that wires Pulse's pieces together, for `serve` and for tests that run Pulse in
// process. Everything it starts, it stops, in reverse order.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createAccessControl, createKeyring } from './auth/index.js';
import type { Settings } from './config/index.js';
import { decodeCursor, decodeEventOrNull } from './events/index.js';
import {
  createGraphQLWebSocket,
  createHttpServer,
  createLiveDelivery,
  createMetrics,
  createOriginPolicy,
  createPulseYoga,
  registerLiveMetrics,
} from './http/index.js';
import { createPublisher, createTracker } from './ingest/index.js';
import { createLiveService } from './live/index.js';
import type { Logger } from './log/index.js';
import {
  connectNats,
  createAckPublisher,
  createReadinessCheck,
  createStreamReader,
  eventSubjects,
  isListening,
  type LocalNatsServer,
  provisionEventStream,
  startLocalNatsServer,
} from './nats/index.js';
import {
  openReadModels,
  type Projector,
  projectorHealth,
  type ReadModels,
  startProjectorService,
} from './projections/index.js';
import { graphqlFetchOf, startPulseService } from './service/index.js';

export interface PulseApp {
  /** The base URL the HTTP server listens on, e.g. http://127.0.0.1:4000. */
  url: string;
  /** Re-reads the API keys file now (SIGHUP); connections of removed keys are closed. */
  reloadKeys(): Promise<void>;
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
    // Keys first: a bad entry stops the start before anything is opened.
    const keyring = await createKeyring({
      keys: settings.auth.apiKeys,
      file: settings.auth.apiKeysFile,
      pollMs: Math.max(100, settings.auth.apiKeysPollMs),
      log,
    });
    stops.push(() => keyring.close());
    const access = createAccessControl({ keyring, limits: settings.auth, log });
    stops.push(() => access.close());
    if (keyring.isOpen()) {
      log.warn('no API keys are configured (PULSE_API_KEYS, PULSE_API_KEYS_FILE): Pulse is open to every request');
    }
    const origins = createOriginPolicy(settings.http.corsOrigins);

    const { servers, local } = await resolveNats(settings, log);
    if (local) stops.push(() => local.stop());

    // The metrics are made once the connection is up; reconnects before that cannot happen.
    let countReconnect = () => {};
    const link = await connectNats({ ...settings.nats, servers, onReconnect: () => countReconnect() }, log);
    stops.push(() => link.drain());

    const jsm = await jetstreamManager(link.nc, { timeout: 5000 });
    const subjects = eventSubjects(settings.stream.subjectPrefix);
    await provisionEventStream(jsm, { ...settings.stream, subject: subjects.all }, log);

    let projector: Projector | undefined;
    let readModels: ReadModels | undefined;
    const metrics = createMetrics({
      isNatsConnected: () => link.isConnected(),
      projectorLag: () => projector?.status()?.lag,
      readModelReads: () => readModels?.reader.reads(),
    });
    countReconnect = () => metrics.natsReconnects.inc();
    const reader = createStreamReader(jsm, settings.stream.name);
    const publisher = createPublisher(createAckPublisher(link.nc), {
      stream: settings.stream.name,
      ...settings.ingest,
      onRetry: () => metrics.publishRetries.inc(),
      onAcknowledged: (seconds) => metrics.publishSeconds.observe(seconds),
      onFailed: () => metrics.publishFailures.inc(),
    });
    stops.push(() => publisher.settled());

    const projections = {
      js: jetstream(link.nc),
      jsm,
      stream: settings.stream,
      subjects,
      settings: settings.projections,
      log,
    };
    const reading = await openReadModels({ ...projections, streamReader: reader });
    readModels = reading;
    stops.push(() => reading.close());
    if (settings.projections.runProjector) {
      const running = await startProjectorService({
        ...projections,
        onBatch(report) {
          metrics.projectorApplied.inc(report.events);
          metrics.projectorDeadLetters.inc(report.deadLetters);
          metrics.projectorBatchSeconds.observe(report.seconds);
        },
      });
      projector = running;
      stops.push(() => running.stop());
    }
    const tracker = createTracker({
      publisher,
      subjects,
      reader,
      limits: settings.limits,
      onTracked: (result) => (result.duplicate ? metrics.eventsDuplicate : metrics.eventsPublished).inc(),
    });

    // One shared feed serves every live subscriber of this process. Stopped after HTTP, when every
    // subscription has completed: it stops the feed and deletes the process's consumers.
    // Short JetStream API timeouts for the feed: after a leader election nats-server 2.9 may still
    // place a new consumer on the dead node, and each such attempt waits out the timeout.
    const live = await createLiveService({
      js: jetstream(link.nc, { timeout: 2000 }),
      jsm: await jetstreamManager(link.nc, { timeout: 2000 }),
      stream: settings.stream.name,
      subjects,
      limits: settings.live,
      log,
    });
    stops.push(() => live.close());
    registerLiveMetrics(metrics.registry, () => live.stats());
    const liveDelivery = createLiveDelivery({ log, keepAliveMs: settings.live.keepAliveMs });

    // Room for the largest valid trackBatch: every event at the properties bound, plus its other fields.
    const maxBodyBytes =
      settings.http.maxBodyBytes ??
      settings.limits.maxBatch * (settings.limits.maxPropertiesBytes + 4096) + 1024 * 1024;
    const yoga = createPulseYoga({
      log,
      graphiql: settings.http.graphiql,
      introspection: settings.graphql.introspection,
      documentLimits: settings.graphql,
      access,
      origins,
      operationCounters: { operations: metrics.graphqlOperations, errors: metrics.graphqlErrors },
      maxRequestBodySize: maxBodyBytes,
      plugins: [liveDelivery.plugin],
      services: {
        log,
        tracker,
        live,
        readModels: reading,
        async systemStatus() {
          const stream = await reader.bounds();
          const { subscribers } = live.stats();
          return {
            nats: { connected: link.isConnected(), state: link.state(), reconnects: link.reconnects() },
            stream: { name: settings.stream.name, ...stream },
            subscribers: { ws: subscribers.ws, sse: subscribers.sse, total: subscribers.ws + subscribers.sse },
          };
        },
        async eventByCursor(cursor) {
          const seq = decodeCursor(cursor);
          if (seq === undefined) return null;
          const message = await reader.get(seq);
          return message ? decodeEventOrNull(message, subjects.typeOf) : null;
        },
      },
    });
    const natsReadiness = createReadinessCheck(
      link,
      await jetstreamManager(link.nc, { timeout: 1500 }),
      settings.stream.name,
    );
    // Not ready while this process's projector lags beyond the bound: its read models are stale.
    const readiness = async () => {
      const state = await natsReadiness();
      const health = projector && projectorHealth(projector, settings.projections.maxLag);
      if (!state.ready || !health || health.isHealthy) return state;
      return { ...state, ready: false, projector: 'lagging', detail: health.detail };
    };
    const websocket = createGraphQLWebSocket({
      yoga,
      live,
      delivery: liveDelivery,
      log,
      keepAliveMs: settings.live.keepAliveMs,
      access,
      origins,
    });
    const http = createHttpServer({
      yoga,
      metrics,
      readiness,
      log,
      websocket,
      maxBodyBytes,
      // First on shutdown: subscriptions complete (SSE `complete`, graphql-ws `complete`), sockets close with 1001.
      beforeClose: async () => {
        live.completeAll();
        await websocket.close();
      },
    });
    const address = await http.listen(settings.http.port, settings.http.host);
    // Stopped first: no new requests, then in-flight mutations finish before NATS is drained.
    stops.push(() => http.close(settings.http.shutdownGraceMs));

    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;

    if (settings.service.enabled) {
      const service = await startPulseService({
        nc: link.nc,
        tracker,
        fetchGraphQL: graphqlFetchOf(yoga, maxBodyBytes),
        authorize: (authorization, scope, events) => {
          const principal = access.authenticate(authorization);
          access.require(principal, scope);
          if (events) access.chargeEvents(principal, events);
        },
        limits: settings.limits,
        log,
        subjectPrefix: settings.service.subjectPrefix,
        metadata: { stream: settings.stream.name, http: url },
        stopGraceMs: settings.http.shutdownGraceMs,
      });
      // Stopped before HTTP: leaving the queue group sends new requests to the other Pulse
      // processes, and the ones already delivered here are answered before NATS is drained.
      stops.push(() => service.stop());
    }

    log.info({ url: `${url}/graphql` }, 'Pulse is listening');
    return { url, reloadKeys: () => keyring.reload(), close: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
