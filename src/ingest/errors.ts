/** NATS did not acknowledge a publish within its deadline. Retrying with the same ids is safe. */
export class EventBusUnavailable extends Error {
  readonly code = 'EVENT_BUS_UNAVAILABLE';
  /** Extra facts for the client, e.g. the ids of a batch so that a retry reuses them. */
  readonly details: Record<string, unknown>;
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, { cause: options?.cause });
    this.name = 'EventBusUnavailable';
    this.details = options?.details ?? {};
  }
}
