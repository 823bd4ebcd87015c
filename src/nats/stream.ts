import {
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** The settings of the event stream that Pulse owns. */
export interface EventStreamSpec {
  name: string;
  /** Every subject the stream captures, e.g. `events.>`. */
  subject: string;
  maxAgeMs: number;
  /** -1 for no limit. */
  maxBytes: number;
  replicas: number;
  duplicateWindowMs: number;
  /** Default "old": the oldest events give way. "new" refuses new events when full. */
  discard?: 'old' | 'new';
}

export class StreamConflict extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamConflict';
  }
}

function desiredConfig(spec: EventStreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: [spec.subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    num_replicas: spec.replicas,
    duplicate_window: nanos(spec.duplicateWindowMs),
    discard: spec.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
    // Direct gets read one event by sequence (a cursor) from any replica without a consumer.
    allow_direct: true,
    description: 'Pulse events',
  };
}

/**
 * Creates the event stream, or brings an existing one's safe settings (limits, replicas,
 * duplicate window) up to date. Never deletes or purges. Throws StreamConflict when the existing
 * stream cannot hold Pulse's events as they are (other subjects, storage or retention).
 */
export async function provisionEventStream(
  jsm: JetStreamManager,
  spec: EventStreamSpec,
  log: Logger,
): Promise<StreamInfo> {
  const desired = desiredConfig(spec);
  let existing: StreamInfo | undefined;
  try {
    existing = await jsm.streams.info(spec.name);
  } catch (err) {
    if (!(err instanceof Error && err.name === 'StreamNotFoundError')) throw err;
  }

  if (!existing) {
    try {
      const info = await jsm.streams.add(desired);
      log.info({ stream: spec.name, subject: spec.subject }, 'created the event stream');
      return info;
    } catch (err) {
      throw new StreamConflict(
        `cannot create stream ${spec.name} on ${spec.subject}: ${(err as Error).message} ` +
          '(another stream may already capture these subjects; set PULSE_STREAM or PULSE_SUBJECT_PREFIX)',
        { cause: err },
      );
    }
  }

  const current = existing.config;
  const problems: string[] = [];
  if (!(current.subjects ?? []).includes(spec.subject)) {
    problems.push(`it captures ${JSON.stringify(current.subjects)}, not "${spec.subject}"`);
  }
  if (current.storage !== StorageType.File) problems.push(`its storage is ${current.storage}, not file`);
  if (current.retention !== RetentionPolicy.Limits) problems.push(`its retention is ${current.retention}, not limits`);
  if (current.sealed) problems.push('it is sealed');
  if (problems.length > 0) {
    throw new StreamConflict(
      `stream ${spec.name} exists but cannot hold Pulse's events: ${problems.join('; ')}. ` +
        'Pulse will not change or delete it; choose another PULSE_STREAM or fix the stream.',
    );
  }

  const changes: Partial<StreamConfig> = {};
  for (const key of ['max_age', 'max_bytes', 'num_replicas', 'duplicate_window', 'discard', 'allow_direct'] as const) {
    if (current[key] !== desired[key]) Object.assign(changes, { [key]: desired[key] });
  }
  if (Object.keys(changes).length === 0) return existing;
  const info = await jsm.streams.update(spec.name, { ...current, ...changes });
  log.info({ stream: spec.name, changed: Object.keys(changes) }, 'updated the event stream settings');
  return info;
}
