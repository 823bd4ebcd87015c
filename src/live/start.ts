import { decodeCursor, encodeCursor } from '../events/index.js';
import { CursorExpired, InvalidLiveRequest } from './errors.js';

/** Where a subscription begins: new events only, after a cursor, or at a time. */
export type LiveStart = { kind: 'new' } | { kind: 'after'; seq: number } | { kind: 'since'; time: Date };

/** What the stream holds now. */
export interface StreamBounds {
  firstSeq: number;
  lastSeq: number;
  messages: number;
  /** When the oldest message held was stored, when there is one. */
  firstTime: Date | undefined;
  /** When the newest message (held or not) was stored, when known. */
  lastTime: Date | undefined;
}

/**
 * Reads a subscription's position. `resumeAfter` (an SSE client's Last-Event-ID) wins over both
 * arguments: it is where that same subscription left off.
 */
export function parseStart(
  after: string | null | undefined,
  since: Date | null | undefined,
  resumeAfter?: string,
): LiveStart {
  if (resumeAfter !== undefined) {
    const seq = decodeCursor(resumeAfter);
    if (seq === undefined) throw new InvalidLiveRequest('Last-Event-ID', 'is not a cursor of this API');
    return { kind: 'after', seq };
  }
  if (after != null && since != null) throw new InvalidLiveRequest('after', 'give after or since, not both');
  if (after != null) {
    const seq = decodeCursor(after);
    if (seq === undefined) throw new InvalidLiveRequest('after', 'is not a cursor of this API');
    return { kind: 'after', seq };
  }
  if (since != null) {
    if (Number.isNaN(since.getTime())) throw new InvalidLiveRequest('since', 'is not a date-time');
    return { kind: 'since', time: since };
  }
  return { kind: 'new' };
}

function expired(field: 'after' | 'since', bounds: StreamBounds): CursorExpired {
  return new CursorExpired(field, {
    oldestCursor: bounds.messages > 0 ? encodeCursor(bounds.firstSeq) : null,
    resumeAfter: bounds.firstSeq > 1 ? encodeCursor(bounds.firstSeq - 1) : null,
  });
}

/**
 * Refuses a start the stream cannot serve in full: one before the oldest event it still holds
 * (CURSOR_EXPIRED, never a silent skip), or a cursor past its newest event (from another stream).
 */
export function checkStart(start: LiveStart, bounds: StreamBounds): void {
  if (start.kind === 'after') {
    if (start.seq > bounds.lastSeq) {
      throw new InvalidLiveRequest('after', 'names no event of this stream (it lies past the newest one)');
    }
    // `after: n` needs n + 1 onwards; the stream holds firstSeq onwards.
    if (start.seq < bounds.firstSeq - 1) throw expired('after', bounds);
  } else if (start.kind === 'since' && bounds.firstSeq > 1) {
    // Events were removed; when `since` reaches back to where they were, some of them may be missing.
    const reach = bounds.messages > 0 ? bounds.firstTime : bounds.lastTime;
    if (reach === undefined || start.time.getTime() < reach.getTime() + (bounds.messages > 0 ? 0 : 1)) {
      throw expired('since', bounds);
    }
  }
}
