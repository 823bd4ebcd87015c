/** An event as Pulse stores it: the body of one message on the stream. Times are ISO-8601 in UTC. */
export interface PulseEvent {
  id: string;
  type: string;
  userId: string | null;
  anonymousId: string | null;
  properties: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
}

/** An event together with its place in the stream. */
export interface StoredEvent extends PulseEvent {
  /** The stream sequence; the public cursor encodes it. */
  seq: number;
}

/** What a client sends to track one event, before validation. */
export interface TrackEventInput {
  id?: string | null;
  type: string;
  userId?: string | null;
  anonymousId?: string | null;
  properties?: unknown;
  occurredAt?: Date | string | null;
}

/** The profile key of an event: its userId, else its anonymousId. */
export function profileKey(event: Pick<PulseEvent, 'userId' | 'anonymousId'>): string {
  return (event.userId ?? event.anonymousId) as string;
}
