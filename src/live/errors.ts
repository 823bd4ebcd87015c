/** The details a client needs to continue after an error, carried to it as `extensions`. */
type Details = Record<string, unknown>;

/** A subscription fell too far behind and was closed. `lastCursor` names the last event it was sent. */
export class SlowSubscriber extends Error {
  readonly code = 'SLOW_SUBSCRIBER';
  readonly details: { lastCursor: string | null };
  constructor(lastCursor: string | null, limit: string) {
    super(
      `the subscription fell too far behind (${limit}) and was closed; ` +
        (lastCursor ? 'subscribe again with after: extensions.lastCursor to continue' : 'subscribe again'),
    );
    this.name = 'SlowSubscriber';
    this.details = { lastCursor };
  }
}

/**
 * `after` or `since` points before the oldest event the stream still holds. `oldestCursor` names
 * that oldest event; `resumeAfter` is the cursor to pass as `after` to receive it and all later ones.
 */
export class CursorExpired extends Error {
  readonly code = 'CURSOR_EXPIRED';
  readonly details: Details;
  constructor(field: 'after' | 'since', details: { oldestCursor: string | null; resumeAfter: string | null }) {
    super(
      `${field} points before the oldest event the stream still holds; ` +
        'events in between are gone, so the subscription was refused rather than skip them',
    );
    this.name = 'CursorExpired';
    this.details = { ...details, field };
  }
}

/** A subscription request that cannot be served as given (the message names the field). */
export class InvalidLiveRequest extends Error {
  readonly code = 'BAD_USER_INPUT';
  readonly details: Details;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'InvalidLiveRequest';
    this.details = { field };
  }
}

/** A configured limit of live subscriptions was reached. `setting` names the variable that sets it. */
export class LiveLimitExceeded extends Error {
  readonly code = 'LIMIT_EXCEEDED';
  readonly details: Details;
  constructor(message: string, details: { setting: string; max: number } & Details) {
    super(message);
    this.name = 'LiveLimitExceeded';
    this.details = details;
  }
}

/** NATS could not serve a replay's start (the connection is down or JetStream did not answer). */
export class LiveUnavailable extends Error {
  readonly code = 'EVENT_BUS_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LiveUnavailable';
  }
}

/** Pulse is shutting down and takes no new subscriptions. */
export class LiveClosed extends Error {
  readonly code = 'EVENT_BUS_UNAVAILABLE';
  constructor() {
    super('Pulse is shutting down; subscribe again (another process, or this one once it is back)');
    this.name = 'LiveClosed';
  }
}
