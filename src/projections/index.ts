export type { DeadLetterSpec } from './dead-letters.js';
export { DEAD_LETTER_HEADERS } from './dead-letters.js';
export { ConsistencyTimeout, InvalidQueryInput, RebuildInProgress } from './errors.js';
export type { CountBucket } from './event-counts.js';
export type { TypeStats } from './event-types.js';
export { HyperLogLog } from './hyperloglog.js';
export { INTERVALS, type Interval } from './intervals.js';
export { kvToken } from './kv-token.js';
export type { LiveCounts, LiveCountsMessage, LiveCountsQuery, LiveCountsSubscription } from './live-counts.js';
export type { Projector } from './live-projector.js';
export type { Position } from './position.js';
export type { Profile } from './profiles.js';
export type { BatchReport, ProjectorStatus } from './projector.js';
export type { EventFilter, QueryLimits, ReadLoader } from './queries.js';
export * as queries from './queries.js';
export type { ProjectionState, ReadModelReader, ReadView } from './reader.js';
export type { RebuildResult } from './rebuild.js';
export {
  openReadModels,
  type ProjectionSettings,
  type ProjectionsOptions,
  projectorHealth,
  type ReadModels,
  runRebuild,
  startProjectorService,
} from './service.js';
