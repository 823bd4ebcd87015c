import { type ParsedSettings, settingsSchema } from './settings.js';

/** Pulse's settings, validated and typed. Built once at start-up; nothing else reads the environment. */
export interface Settings {
  /** development (GraphiQL, introspection, suggestions, pretty logs) or production (all off unless set). */
  environment: 'development' | 'production';
  http: {
    port: number;
    host: string;
    graphiql: boolean;
    shutdownGraceMs: number;
    /** Largest request body; undefined: room for the largest valid trackBatch. */
    maxBodyBytes: number | undefined;
    /** Browser origins allowed cross-origin (CORS, WebSocket Origin); `*` for any; empty for none. */
    corsOrigins: string[];
  };
  /** What GraphQL answers and the bounds of a document. */
  graphql: {
    introspection: boolean;
    fieldSuggestions: boolean;
    maxTokens: number;
    maxDepth: number;
    maxAliases: number;
    maxDirectives: number;
    maxCost: number;
  };
  nats: {
    /** Undefined when NATS_URL is unset: Pulse then looks on 127.0.0.1:4222 or starts its own server. */
    servers: string[] | undefined;
    credsFile: string | undefined;
    user: string | undefined;
    pass: string | undefined;
    token: string | undefined;
    /** A file holding an nkey seed (SU…), to sign the server's nonce. */
    nkeySeedFile: string | undefined;
    /** TLS: a CA file to trust, and a client certificate and key for mutual TLS. */
    tls: { caFile?: string; certFile?: string; keyFile?: string } | undefined;
  };
  stream: {
    name: string;
    subjectPrefix: string;
    maxAgeMs: number;
    /** -1 for no limit. */
    maxBytes: number;
    replicas: number;
    duplicateWindowMs: number;
    /** When full: "old" drops the oldest events (default), "new" refuses new ones with STREAM_FULL. */
    discard: 'old' | 'new';
  };
  ingest: {
    deadlineMs: number;
    attemptTimeoutMs: number;
    concurrency: number;
  };
  limits: {
    maxBatch: number;
    maxPropertiesBytes: number;
    maxTypeLength: number;
    maxFutureMs: number;
  };
  auth: {
    apiKeys: string | undefined;
    apiKeysFile: string | undefined;
    /** How often the keys file is looked at for changes. */
    apiKeysPollMs: number;
    /** Per key; 0: no limit. */
    eventsPerSec: number;
    eventsBurst: number;
    subscriptionsPerSec: number;
    subscriptionsBurst: number;
    maxConnectionsPerKey: number;
  };
  /** The NATS service (`pulse.track`, `pulse.trackBatch`, `pulse.graphql`). */
  service: { enabled: boolean; subjectPrefix: string };
  /** The read models: the projector that keeps them, and the queries that read them. */
  projections: {
    /** Run a projector inside `serve` (it always runs in `project`). */
    runProjector: boolean;
    /** Most events applied in one batch. */
    batchSize: number;
    /** Longest an event waits for its batch to fill. */
    maxDelayMs: number;
    /** /readyz answers 503 while the projector is further behind the stream than this many events. */
    maxLag: number;
    leaseTtlMs: number;
    /** Events each recent-events list (per user, per type, overall) keeps. */
    recentEvents: number;
    /** Longest read-your-writes wait before CONSISTENCY_TIMEOUT. */
    consistencyTimeoutMs: number;
    /** Most buckets one eventCounts query may return. */
    maxCountBuckets: number;
    deadLetterStream: string;
    /** How long a rebuild keeps the replaced generation for requests still reading it. */
    retireAfterMs: number;
  };
  /** Live subscriptions (the `events` subscription over SSE and WebSocket). */
  live: {
    /** WebSocket connections plus SSE subscriptions one process holds at once. */
    maxConnections: number;
    maxSubscriptionsPerConnection: number;
    /** Most events an `after` / `since` replay may deliver. */
    maxReplayEvents: number;
    /** Events read at a time while a subscriber catches up. */
    replayPageSize: number;
    /** Events that may wait for a subscriber's socket before it is closed with SLOW_SUBSCRIBER. */
    maxPendingEvents: number;
    /** Unsent bytes a subscriber's socket may hold before its events wait in its buffer. */
    socketHighWaterBytes: number;
    /** WebSocket ping and SSE comment interval. */
    keepAliveMs: number;
  };
  dataDir: string;
  log: { level: ParsedSettings['PULSE_LOG_LEVEL']; pretty: boolean };
}

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

/** `--nats-url x` and `--nats-url=x` set NATS_URL; `--stream` sets PULSE_STREAM (the prefix is optional). */
function flagsToVariables(argv: readonly string[]): Record<string, string> {
  const known = new Set(Object.keys(settingsSchema.shape));
  const values: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new SettingsError(`unexpected argument "${arg}"`);
    const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const name = flag.toUpperCase().replaceAll('-', '_');
    const variable = known.has(name) ? name : known.has(`PULSE_${name}`) ? `PULSE_${name}` : undefined;
    if (!variable) throw new SettingsError(`unknown flag --${flag}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new SettingsError(`flag --${flag} needs a value`);
    values[variable] = value;
  }
  return values;
}

/**
 * Reads settings from the environment, with CLI flags taking precedence.
 * Throws a SettingsError whose message names every bad variable, one per line.
 */
export function loadSettings(env: NodeJS.ProcessEnv, argv: readonly string[] = []): Settings {
  const source: Record<string, string | undefined> = {};
  for (const key of Object.keys(settingsSchema.shape)) source[key] = env[key];
  Object.assign(source, flagsToVariables(argv));

  const parsed = settingsSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(lines.join('\n'));
  }
  const s = parsed.data;
  if (s.PULSE_DUPLICATE_WINDOW <= s.PULSE_PUBLISH_DEADLINE) {
    // A retried publish is only a no-op while its first attempt is still inside the window.
    throw new SettingsError(
      'PULSE_DUPLICATE_WINDOW: must be longer than PULSE_PUBLISH_DEADLINE, or a retried publish could be stored twice',
    );
  }
  const isOn = (v: string) => v === 'on' || v === 'true' || v === '1';
  const isDevelopment = s.PULSE_ENV === 'development';
  // A switch left unset follows PULSE_ENV: on in development, off in production.
  const switchOr = (v: string | undefined) => (v === undefined ? isDevelopment : isOn(v));
  return {
    environment: s.PULSE_ENV,
    http: {
      port: s.PORT,
      host: s.HOST,
      graphiql: switchOr(s.PULSE_GRAPHIQL),
      shutdownGraceMs: s.PULSE_SHUTDOWN_GRACE,
      maxBodyBytes: s.PULSE_MAX_BODY,
      corsOrigins: s.PULSE_CORS_ORIGINS,
    },
    graphql: {
      introspection: switchOr(s.PULSE_INTROSPECTION),
      fieldSuggestions: switchOr(s.PULSE_FIELD_SUGGESTIONS),
      maxTokens: s.PULSE_MAX_TOKENS,
      maxDepth: s.PULSE_MAX_DEPTH,
      maxAliases: s.PULSE_MAX_ALIASES,
      maxDirectives: s.PULSE_MAX_DIRECTIVES,
      maxCost: s.PULSE_MAX_COST,
    },
    nats: {
      servers: s.NATS_URL,
      credsFile: s.NATS_CREDS,
      user: s.NATS_USER,
      pass: s.NATS_PASS,
      token: s.NATS_TOKEN,
      nkeySeedFile: s.NATS_NKEY_SEED_FILE,
      tls:
        s.NATS_TLS_CA || s.NATS_TLS_CERT || s.NATS_TLS_KEY
          ? { caFile: s.NATS_TLS_CA, certFile: s.NATS_TLS_CERT, keyFile: s.NATS_TLS_KEY }
          : undefined,
    },
    stream: {
      name: s.PULSE_STREAM,
      subjectPrefix: s.PULSE_SUBJECT_PREFIX,
      maxAgeMs: s.PULSE_STREAM_MAX_AGE,
      maxBytes: s.PULSE_STREAM_MAX_BYTES,
      replicas: s.PULSE_STREAM_REPLICAS,
      duplicateWindowMs: s.PULSE_DUPLICATE_WINDOW,
      discard: s.PULSE_STREAM_DISCARD,
    },
    ingest: {
      deadlineMs: s.PULSE_PUBLISH_DEADLINE,
      attemptTimeoutMs: s.PULSE_PUBLISH_ATTEMPT_TIMEOUT,
      concurrency: s.PULSE_PUBLISH_CONCURRENCY,
    },
    limits: {
      maxBatch: s.PULSE_MAX_BATCH,
      maxPropertiesBytes: s.PULSE_MAX_PROPERTIES_BYTES,
      maxTypeLength: s.PULSE_MAX_TYPE_LENGTH,
      maxFutureMs: s.PULSE_MAX_FUTURE,
    },
    auth: {
      apiKeys: s.PULSE_API_KEYS,
      apiKeysFile: s.PULSE_API_KEYS_FILE,
      apiKeysPollMs: s.PULSE_API_KEYS_POLL,
      eventsPerSec: s.PULSE_RATE_LIMIT_EVENTS,
      eventsBurst: s.PULSE_RATE_LIMIT_EVENTS_BURST,
      subscriptionsPerSec: s.PULSE_RATE_LIMIT_SUBSCRIPTIONS,
      subscriptionsBurst: s.PULSE_RATE_LIMIT_SUBSCRIPTIONS_BURST,
      maxConnectionsPerKey: s.PULSE_MAX_CONNECTIONS_PER_KEY,
    },
    service: { enabled: isOn(s.PULSE_SERVICE), subjectPrefix: s.PULSE_SERVICE_PREFIX },
    projections: {
      runProjector: isOn(s.PULSE_PROJECTOR),
      batchSize: s.PULSE_PROJECTOR_BATCH,
      maxDelayMs: s.PULSE_PROJECTOR_MAX_DELAY,
      maxLag: s.PULSE_PROJECTOR_MAX_LAG,
      leaseTtlMs: s.PULSE_PROJECTOR_LEASE_TTL,
      recentEvents: s.PULSE_RECENT_EVENTS,
      consistencyTimeoutMs: s.PULSE_CONSISTENCY_TIMEOUT,
      maxCountBuckets: s.PULSE_MAX_COUNT_BUCKETS,
      deadLetterStream: s.PULSE_DEAD_LETTER_STREAM || `${s.PULSE_STREAM}_DEAD_LETTERS`,
      retireAfterMs: s.PULSE_REBUILD_RETIRE_AFTER,
    },
    live: {
      maxConnections: s.PULSE_LIVE_MAX_CONNECTIONS,
      maxSubscriptionsPerConnection: s.PULSE_LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxReplayEvents: s.PULSE_LIVE_MAX_REPLAY,
      replayPageSize: s.PULSE_LIVE_REPLAY_PAGE,
      maxPendingEvents: s.PULSE_LIVE_BUFFER,
      socketHighWaterBytes: s.PULSE_LIVE_SOCKET_BUFFER,
      keepAliveMs: s.PULSE_LIVE_KEEPALIVE,
    },
    dataDir: s.PULSE_DATA_DIR,
    log: {
      level: s.PULSE_LOG_LEVEL,
      pretty:
        s.PULSE_LOG_PRETTY === 'on' ||
        (s.PULSE_LOG_PRETTY === 'auto' && isDevelopment && Boolean(process.stdout.isTTY)),
    },
  };
}
