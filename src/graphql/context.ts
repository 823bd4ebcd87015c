import type { Logger } from 'pino';
import type { StoredEvent } from '../events/index.js';
import type { Tracker } from '../ingest/index.js';

/** What resolvers may call: the services main wires together. One set per process. */
export interface PulseServices {
  tracker: Tracker;
  /** Reads one event by its cursor; null when the stream does not (or no longer) hold it. */
  eventByCursor(cursor: string): Promise<StoredEvent | null>;
  log: Logger;
}

/** Per-request context, the same for every transport (HTTP, SSE, WebSocket, NATS). */
export interface PulseContext extends PulseServices {
  requestId: string;
}

/** Builds the context of one request (one GraphQL operation). Per-request state (loaders) starts here. */
export function createRequestContext(services: PulseServices, requestId: string): PulseContext {
  return { ...services, requestId };
}
