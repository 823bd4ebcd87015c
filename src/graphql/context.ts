import type { Logger } from 'pino';
import type { Principal } from '../auth/index.js';
import type { StoredEvent } from '../events/index.js';
import type { Tracker } from '../ingest/index.js';
import type { LiveConnection, LiveService } from '../live/index.js';
import type { ReadLoader, ReadModels } from '../projections/index.js';
import type { SystemStatus } from './system.js';

/** What resolvers may call: the services main wires together. One set per process. */
export interface PulseServices {
  tracker: Tracker;
  /** Reads one event by its cursor; null when the stream does not (or no longer) hold it. */
  eventByCursor(cursor: string): Promise<StoredEvent | null>;
  /** Live subscriptions; absent where a process serves none. */
  live?: LiveService;
  /** The state of this process and its stream, for the `system` query. */
  systemStatus(): Promise<SystemStatus>;
  /** Queries and the live read model; absent where a process serves none. */
  readModels?: ReadModels;
  log: Logger;
}

/** Per-request context, the same for every transport (HTTP, SSE, WebSocket, NATS). */
export interface PulseContext extends PulseServices {
  requestId: string;
  /** Who sent the operation: set by the WebSocket endpoint at connect, else by the access check. */
  principal?: Principal;
  /** The WebSocket connection an operation runs on, for its limits; absent over HTTP. */
  liveConnection?: LiveConnection;
  /** Where a resumed subscription left off: an SSE client's Last-Event-ID. */
  resumeAfter?: string;
  /** This request's DataLoaders over the read models, made at its first read. */
  readLoader?: ReadLoader & { forget(): void };
}

/** Builds the context of one request (one GraphQL operation). */
export function createRequestContext(services: PulseServices, requestId: string): PulseContext {
  return { ...services, requestId };
}
