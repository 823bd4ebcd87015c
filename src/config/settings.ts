import { z } from 'zod';
import { parseBytes, parseDurationMs } from './duration.js';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (try 500ms, 30s, 2m, 12h, 7d)` });
        return z.NEVER;
      }
      return ms;
    });

const bytes = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      if (text.trim() === '-1') return -1;
      const size = parseBytes(text);
      if (size === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a size (try 32KiB, 512MiB, 10GiB or -1)` });
        return z.NEVER;
      }
      return size;
    });

const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = Number(text);
      if (!/^\s*-?\d+\s*$/.test(text) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return value;
    });

// on/off with no default: the value PULSE_ENV implies applies when it is unset.
const optionalSwitch = z.enum(['on', 'off', 'true', 'false', '1', '0']).optional();

const origins = z
  .string()
  .optional()
  .transform((text, ctx) => {
    const list = (text ?? '')
      .split(',')
      .map((part) => part.trim().replace(/\/$/, ''))
      .filter(Boolean);
    for (const origin of list) {
      if (origin !== '*' && !/^https?:\/\/[^\s/?#]+$/.test(origin)) {
        ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin (https://host[:port], or * for any)` });
        return z.NEVER;
      }
    }
    return list;
  });

const optionalBytes = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return undefined;
    const size = parseBytes(text);
    if (size === undefined || size <= 0) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a size (try 1MiB, 40MiB)` });
      return z.NEVER;
    }
    return size;
  });

const optionalText = z
  .string()
  .optional()
  .transform((text) => (text === undefined || text === '' ? undefined : text));

// A subject token: the stream name and prefix go into subjects and API names as they are.
const natsName = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => /^[A-Za-z0-9_-]{1,64}$/.test(text), 'use 1 to 64 letters, digits, "_" or "-"');

const natsUrls = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined || text.trim() === '') return undefined;
    const urls = text
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    for (const url of urls) {
      if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(url) && !/^[^\s:/]+:\d+$/.test(url)) {
        // A URL may carry user:password@; the message never shows it.
        const shown = url.replace(/\/\/[^@/]*@/, '//***@');
        ctx.addIssue({ code: 'custom', message: `"${shown}" is not a NATS URL (nats://host:port)` });
        return z.NEVER;
      }
    }
    return urls;
  });

/**
 * Every setting Pulse reads, keyed by its environment variable. Each one is a string on the way
 * in (from the environment or a CLI flag) and a typed value on the way out.
 */
export const settingsSchema = z.object({
  PORT: integer(4000, 0, 65535),
  HOST: z.string().min(1).default('127.0.0.1'),
  NATS_URL: natsUrls,
  NATS_CREDS: optionalText,
  NATS_USER: optionalText,
  NATS_PASS: optionalText,
  NATS_TOKEN: optionalText,
  NATS_NKEY_SEED_FILE: optionalText,
  NATS_TLS_CA: optionalText,
  NATS_TLS_CERT: optionalText,
  NATS_TLS_KEY: optionalText,
  PULSE_STREAM: natsName('EVENTS'),
  PULSE_SUBJECT_PREFIX: natsName('events'),
  PULSE_API_KEYS: optionalText,
  PULSE_API_KEYS_FILE: optionalText,
  PULSE_API_KEYS_POLL: duration('1s'),
  // development: GraphiQL, introspection, field suggestions and pretty logs on; production: off.
  PULSE_ENV: z.enum(['development', 'production']).default('development'),
  PULSE_INTROSPECTION: optionalSwitch,
  PULSE_FIELD_SUGGESTIONS: optionalSwitch,
  PULSE_CORS_ORIGINS: origins,
  PULSE_MAX_BODY: optionalBytes,
  PULSE_MAX_TOKENS: integer(2000, 10, 1_000_000),
  PULSE_MAX_DEPTH: integer(10, 1, 1000),
  PULSE_MAX_ALIASES: integer(15, 0, 10_000),
  PULSE_MAX_DIRECTIVES: integer(50, 0, 10_000),
  PULSE_MAX_COST: integer(5000, 1, 100_000_000),
  // Per API key; 0 switches a rate off.
  PULSE_RATE_LIMIT_EVENTS: integer(10_000, 0),
  PULSE_RATE_LIMIT_EVENTS_BURST: integer(20_000, 1),
  PULSE_RATE_LIMIT_SUBSCRIPTIONS: integer(10, 0),
  PULSE_RATE_LIMIT_SUBSCRIPTIONS_BURST: integer(50, 1),
  PULSE_MAX_CONNECTIONS_PER_KEY: integer(1000, 1, 1_000_000),
  PULSE_STREAM_MAX_AGE: duration('30d'),
  PULSE_STREAM_MAX_BYTES: bytes('-1'),
  PULSE_STREAM_REPLICAS: integer(1, 1, 5),
  // What a full stream does: drop its oldest events, or refuse new ones (STREAM_FULL).
  PULSE_STREAM_DISCARD: z.enum(['old', 'new']).default('old'),
  PULSE_DUPLICATE_WINDOW: duration('2m'),
  PULSE_PUBLISH_DEADLINE: duration('5s'),
  PULSE_PUBLISH_ATTEMPT_TIMEOUT: duration('2s'),
  // Acks in flight: a loaded NATS answers in tens of ms, and throughput is in-flight / latency.
  PULSE_PUBLISH_CONCURRENCY: integer(1024, 1, 10_000),
  PULSE_MAX_BATCH: integer(1000, 1, 100_000),
  PULSE_MAX_PROPERTIES_BYTES: bytes('32KiB'),
  // A type's subject token takes up to 9 bytes per character (`~XX` per UTF-8 byte); at 256 the
  // subject stays well under the 4,096 bytes past which nats-server closes the connection.
  PULSE_MAX_TYPE_LENGTH: integer(128, 1, 256),
  PULSE_MAX_FUTURE: duration('1d'),
  PULSE_DATA_DIR: z.string().min(1).default('.data'),
  PULSE_SHUTDOWN_GRACE: duration('10s'),
  PULSE_GRAPHIQL: optionalSwitch,
  PULSE_SERVICE: z.enum(['on', 'off', 'true', 'false', '1', '0']).default('on'),
  // Dotted tokens, e.g. `acme.pulse`: the endpoints are <prefix>.track, <prefix>.trackBatch, <prefix>.graphql.
  PULSE_SERVICE_PREFIX: z
    .string()
    .default('pulse')
    .refine(
      (text) => text.length <= 128 && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(text),
      'use subject tokens of letters, digits, "_" or "-", separated by "." (at most 128 characters)',
    ),
  PULSE_PROJECTOR: z.enum(['on', 'off', 'true', 'false', '1', '0']).default('on'),
  PULSE_PROJECTOR_BATCH: integer(5000, 1, 50_000),
  PULSE_PROJECTOR_MAX_DELAY: duration('20ms'),
  PULSE_PROJECTOR_MAX_LAG: integer(10_000, 0),
  PULSE_PROJECTOR_LEASE_TTL: duration('5s'),
  PULSE_RECENT_EVENTS: integer(50, 1, 1000),
  PULSE_CONSISTENCY_TIMEOUT: duration('5s'),
  PULSE_MAX_COUNT_BUCKETS: integer(10_000, 1, 1_000_000),
  PULSE_DEAD_LETTER_STREAM: z
    .string()
    .optional()
    .refine((text) => !text || /^[A-Za-z0-9_-]{1,64}$/.test(text), 'use 1 to 64 letters, digits, "_" or "-"'),
  PULSE_REBUILD_RETIRE_AFTER: duration('30s'),
  PULSE_LIVE_MAX_CONNECTIONS: integer(10_000, 1, 1_000_000),
  PULSE_LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION: integer(100, 1, 10_000),
  PULSE_LIVE_MAX_REPLAY: integer(100_000, 0),
  PULSE_LIVE_REPLAY_PAGE: integer(256, 1, 10_000),
  PULSE_LIVE_BUFFER: integer(1000, 2, 1_000_000),
  PULSE_LIVE_SOCKET_BUFFER: bytes('256KiB').refine((size) => size > 0, 'must be a size above 0, e.g. 256KiB'),
  PULSE_LIVE_KEEPALIVE: duration('12s'),
  PULSE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PULSE_LOG_PRETTY: z.enum(['on', 'off', 'auto']).default('auto'),
});

export type RawSettings = z.input<typeof settingsSchema>;
export type ParsedSettings = z.output<typeof settingsSchema>;
