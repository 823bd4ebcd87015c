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
        ctx.addIssue({ code: 'custom', message: `"${url}" is not a NATS URL (nats://host:port)` });
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
  PULSE_STREAM: natsName('EVENTS'),
  PULSE_SUBJECT_PREFIX: natsName('events'),
  PULSE_API_KEYS: optionalText,
  PULSE_API_KEYS_FILE: optionalText,
  PULSE_STREAM_MAX_AGE: duration('30d'),
  PULSE_STREAM_MAX_BYTES: bytes('-1'),
  PULSE_STREAM_REPLICAS: integer(1, 1, 5),
  PULSE_DUPLICATE_WINDOW: duration('2m'),
  PULSE_PUBLISH_DEADLINE: duration('5s'),
  PULSE_PUBLISH_ATTEMPT_TIMEOUT: duration('2s'),
  PULSE_PUBLISH_CONCURRENCY: integer(256, 1, 10_000),
  PULSE_MAX_BATCH: integer(1000, 1, 100_000),
  PULSE_MAX_PROPERTIES_BYTES: bytes('32KiB'),
  PULSE_MAX_TYPE_LENGTH: integer(128, 1, 512),
  PULSE_MAX_FUTURE: duration('1d'),
  PULSE_DATA_DIR: z.string().min(1).default('.data'),
  PULSE_SHUTDOWN_GRACE: duration('10s'),
  PULSE_GRAPHIQL: z.enum(['on', 'off', 'true', 'false', '1', '0']).default('on'),
  PULSE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PULSE_LOG_PRETTY: z.enum(['on', 'off', 'auto']).default('auto'),
});

export type RawSettings = z.input<typeof settingsSchema>;
export type ParsedSettings = z.output<typeof settingsSchema>;
