import { encodeCursor, type StoredEvent } from '../events/index.js';
import type { TrackBatchResult, TrackResult } from '../ingest/index.js';

/** An event as the GraphQL Event type shows it: the stored fields and its cursor. */
export function eventJson(event: StoredEvent) {
  return {
    id: event.id,
    type: event.type,
    userId: event.userId,
    anonymousId: event.anonymousId,
    properties: event.properties,
    occurredAt: event.occurredAt,
    receivedAt: event.receivedAt,
    cursor: encodeCursor(event.seq),
  };
}

/** The reply of pulse.track: what the `track` mutation returns, every field selected. */
export function trackReply(result: TrackResult): string {
  return JSON.stringify({ event: eventJson(result.event), duplicate: result.duplicate });
}

/**
 * The reply of pulse.trackBatch: what the `trackBatch` mutation returns, every field selected.
 * The events echo their properties, so a batch near the server's max_payload could have a reply
 * too big to send, after it was stored. Then the events leave out `properties` (the client sent
 * them) and the reply says `"propertiesOmitted": true`: ids, cursors and duplicate flags arrive.
 */
export function trackBatchReply(result: TrackBatchResult, maxBytes: number): string {
  const full = JSON.stringify({
    results: result.results.map((r) => ({ event: eventJson(r.event), duplicate: r.duplicate })),
    accepted: result.accepted,
    duplicates: result.duplicates,
  });
  if (Buffer.byteLength(full) <= maxBytes) return full;
  return JSON.stringify({
    results: result.results.map((r) => {
      const { properties: _omitted, ...event } = eventJson(r.event);
      return { event, duplicate: r.duplicate };
    }),
    accepted: result.accepted,
    duplicates: result.duplicates,
    propertiesOmitted: true,
  });
}
