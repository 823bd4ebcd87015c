// The read models as the rest of Pulse uses them: a projector to run, queries to answer, a rebuild.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../log/index.js';
import type { EventSubjects, StreamReader } from '../nats/index.js';
import { type DeadLetters, provisionDeadLetters } from './dead-letters.js';
import { createLiveCounts, type LiveCounts } from './live-counts.js';
import { type Projector, type ProjectorOptions, startProjector } from './live-projector.js';
import { createModels } from './models.js';
import type { BatchReport } from './projector.js';
import type { QueryLimits } from './queries.js';
import { openReadModelReader, type ReadModelReader } from './reader.js';
import { type RebuildOptions, type RebuildResult, rebuildReadModels } from './rebuild.js';
import { openReadModelStore, type ReadModelStore } from './store.js';

/** The read-model settings (see README, "Configuration"). */
export interface ProjectionSettings {
  batchSize: number;
  maxDelayMs: number;
  leaseTtlMs: number;
  recentEvents: number;
  consistencyTimeoutMs: number;
  maxCountBuckets: number;
  deadLetterStream: string;
  retireAfterMs: number;
}

export interface ProjectionsOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: { name: string; replicas: number; maxAgeMs: number };
  subjects: EventSubjects;
  settings: ProjectionSettings;
  log: Logger;
}

/** Most ids one `users` query may name. */
const MAX_USERS_PER_QUERY = 1000;

function openStore(options: ProjectionsOptions): Promise<ReadModelStore> {
  return openReadModelStore({
    js: options.js,
    jsm: options.jsm,
    stream: options.stream.name,
    replicas: options.stream.replicas,
    leaseTtlMs: options.settings.leaseTtlMs,
  });
}

async function projectorOptions(
  options: ProjectionsOptions,
  onBatch?: (report: BatchReport) => void,
): Promise<ProjectorOptions> {
  const { js, jsm, stream, subjects, settings, log } = options;
  const deadLetters: DeadLetters = await provisionDeadLetters(js, jsm, {
    stream: settings.deadLetterStream,
    subject: `${subjects.prefix}_dead_letters.${stream.name}`,
    source: stream.name,
    maxAgeMs: stream.maxAgeMs,
    replicas: stream.replicas,
  });
  return {
    js,
    jsm,
    store: await openStore(options),
    stream: stream.name,
    subjects,
    models: createModels({ recentEvents: settings.recentEvents }),
    deadLetters,
    batch: { maxMessages: settings.batchSize, maxDelayMs: settings.maxDelayMs },
    leaseTtlMs: settings.leaseTtlMs,
    log,
    onBatch,
  };
}

/** Starts the projector of the live generation (a standby while another process holds its lease). */
export async function startProjectorService(
  options: ProjectionsOptions & { onBatch?: (report: BatchReport) => void },
): Promise<Projector> {
  return startProjector(await projectorOptions(options, options.onBatch));
}

/** Replays the stream into a new generation and switches queries to it (`npm run rebuild`). */
export async function runRebuild(
  options: ProjectionsOptions & Pick<RebuildOptions, 'onProgress' | 'checkIntervalMs'>,
): Promise<RebuildResult> {
  return rebuildReadModels({
    ...(await projectorOptions(options)),
    retireAfterMs: options.settings.retireAfterMs,
    onProgress: options.onProgress,
    checkIntervalMs: options.checkIntervalMs,
  });
}

/** What queries and the live subscription read through. */
export interface ReadModels {
  readonly reader: ReadModelReader;
  readonly liveCounts: LiveCounts;
  readonly limits: QueryLimits;
  close(): Promise<void>;
}

export async function openReadModels(
  options: ProjectionsOptions & { streamReader: StreamReader },
): Promise<ReadModels> {
  const reader = await openReadModelReader({
    store: await openStore(options),
    stream: options.streamReader,
    subjects: options.subjects,
    consistencyTimeoutMs: options.settings.consistencyTimeoutMs,
    log: options.log,
  });
  const liveCounts = createLiveCounts({
    reader,
    snapshotTimeoutMs: options.settings.consistencyTimeoutMs,
    log: options.log,
  });
  return {
    reader,
    liveCounts,
    limits: {
      recentEvents: options.settings.recentEvents,
      maxCountBuckets: options.settings.maxCountBuckets,
      maxUsers: MAX_USERS_PER_QUERY,
    },
    async close() {
      await liveCounts.close();
      await reader.close();
    },
  };
}

/** Whether a projector is close enough to the stream's end for its process to count as ready. */
export function projectorHealth(projector: Projector, maxLag: number): { isHealthy: boolean; detail?: string } {
  const status = projector.status();
  if (!status || status.lag === undefined || status.lag <= maxLag) return { isHealthy: true };
  return {
    isHealthy: false,
    detail: `the projector (generation ${status.generation}) is ${status.lag} events behind the stream; the bound is ${maxLag}`,
  };
}
