import type { InvalidItem } from './errors.js';
import { InvalidEventInput } from './errors.js';
import type { PulseEvent, TrackEventInput } from './event.js';
import { newEventId } from './id.js';

/** Bounds every event must respect. */
export interface EventLimits {
  /** Longest event type, in characters. Default 128. */
  maxTypeLength: number;
  /** Largest `properties` object, as JSON in bytes. Default 32 KiB. */
  maxPropertiesBytes: number;
  /** How far after receipt `occurredAt` may lie. Default one day. */
  maxFutureMs: number;
  /** Longest id, userId or anonymousId, in characters. Default 128 for ids, 256 for user ids. */
  maxIdLength?: number;
  maxUserIdLength?: number;
  /** Deepest nesting of `properties`. Default 32. */
  maxPropertiesDepth?: number;
}

/** When the server received the request, and the client's clock when it sent it. */
export interface Receipt {
  receivedAt: Date;
  sentAt?: Date | null;
}

// Control characters in an id would reach headers (a CR/LF in Nats-Msg-Id splits it) and logs, so
// ids refuse them. A type may hold any text: its subject token is encoded (see nats/subject.ts).
// Lone surrogates cannot be encoded as UTF-8 without changing the string, so no field takes them.
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkText(
  value: unknown,
  field: string,
  maxLength: number,
  issues: Issue[],
  allowsControl = false,
): value is string {
  if (typeof value !== 'string') {
    issues.push({ field, message: `${field} must be a string` });
    return false;
  }
  if (value.trim() === '') issues.push({ field, message: `${field} must not be empty` });
  else if (value.length > maxLength)
    issues.push({ field, message: `${field} must be at most ${maxLength} characters` });
  else if (!allowsControl && CONTROL.test(value))
    issues.push({ field, message: `${field} must not contain control characters` });
  else if (!value.isWellFormed()) issues.push({ field, message: `${field} must be valid Unicode` });
  else return true;
  return false;
}

type Issue = Omit<InvalidItem, 'index'>;

/** The deepest nesting of `properties` when no limit says otherwise; the wire format holds to it too. */
export const DEFAULT_MAX_PROPERTIES_DEPTH = 32;

export function depthExceeds(value: unknown, maxDepth: number): boolean {
  // Iterative, so that a hostile nesting cannot overflow the stack.
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

function checkProperties(value: unknown, limits: EventLimits, issues: Issue[]): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    issues.push({ field: 'properties', message: 'properties must be a JSON object' });
    return undefined;
  }
  const maxDepth = limits.maxPropertiesDepth ?? DEFAULT_MAX_PROPERTIES_DEPTH;
  if (depthExceeds(value, maxDepth)) {
    issues.push({ field: 'properties', message: `properties must be nested at most ${maxDepth} levels deep` });
    return undefined;
  }
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > limits.maxPropertiesBytes) {
    issues.push({
      field: 'properties',
      message: `properties must be at most ${limits.maxPropertiesBytes} bytes as JSON (got ${size})`,
    });
    return undefined;
  }
  return value as Record<string, unknown>;
}

export function toMillis(value: Date | string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return value.getTime();
  // Only full ISO-8601 date-times with an offset: Date.parse alone accepts much looser forms.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) return Number.NaN;
  return Date.parse(value);
}

const EARLIEST_MS = 0; // 1970-01-01: anything before is a client bug, not an event.

/**
 * Checks one event and fills in what the server decides (id, occurredAt when absent, receivedAt).
 * Returns the event, or the list of problems found, every one of them.
 */
export function validateEvent(
  input: TrackEventInput,
  limits: EventLimits,
  receipt: Receipt,
): { event: PulseEvent; issues?: undefined } | { event?: undefined; issues: Issue[] } {
  const issues: Issue[] = [];
  const receivedMs = receipt.receivedAt.getTime();

  let id: string | undefined;
  if (input.id !== undefined && input.id !== null) {
    if (checkText(input.id, 'id', limits.maxIdLength ?? 128, issues)) {
      // The id travels as the Nats-Msg-Id header, whose value NATS clients trim: " a" would be
      // stored and deduplicated as "a", a different id.
      if (input.id === input.id.trim()) id = input.id;
      else issues.push({ field: 'id', message: 'id must not begin or end with whitespace' });
    }
  }
  checkText(input.type, 'type', limits.maxTypeLength, issues, true);
  const maxUserId = limits.maxUserIdLength ?? 256;
  const hasUserId = input.userId !== undefined && input.userId !== null;
  const hasAnonymousId = input.anonymousId !== undefined && input.anonymousId !== null;
  if (!hasUserId && !hasAnonymousId) {
    issues.push({ field: 'userId', message: 'at least one of userId and anonymousId is required' });
  }
  if (hasUserId) checkText(input.userId, 'userId', maxUserId, issues);
  if (hasAnonymousId) checkText(input.anonymousId, 'anonymousId', maxUserId, issues);
  const properties = checkProperties(input.properties, limits, issues);

  let occurredMs = toMillis(input.occurredAt);
  if (occurredMs !== undefined && Number.isNaN(occurredMs)) {
    issues.push({ field: 'occurredAt', message: 'occurredAt must be an ISO-8601 date-time with an offset' });
  } else if (occurredMs !== undefined) {
    const sentMs = toMillis(receipt.sentAt);
    // The Segment/Snowplow rule: shift by the client's clock error, measured as sentAt vs receipt.
    if (sentMs !== undefined && !Number.isNaN(sentMs)) occurredMs = receivedMs - (sentMs - occurredMs);
    if (occurredMs > receivedMs + limits.maxFutureMs) {
      issues.push({
        field: 'occurredAt',
        message: `occurredAt must not be more than ${Math.round(limits.maxFutureMs / 1000)} s in the future`,
      });
    } else if (occurredMs < EARLIEST_MS) {
      issues.push({ field: 'occurredAt', message: 'occurredAt must not be before 1970-01-01' });
    }
  }

  if (issues.length > 0 || properties === undefined) return { issues };
  return {
    event: {
      id: id ?? newEventId(),
      type: input.type,
      userId: hasUserId ? (input.userId as string) : null,
      anonymousId: hasAnonymousId ? (input.anonymousId as string) : null,
      properties,
      occurredAt: new Date(occurredMs ?? receivedMs).toISOString(),
      receivedAt: receipt.receivedAt.toISOString(),
    },
  };
}

/**
 * Validates a whole batch before anything is published: one bad item rejects all, and the error
 * lists every bad item so a client can drop those and resend the rest at once.
 */
export function validateBatch(
  inputs: readonly TrackEventInput[],
  limits: EventLimits & { maxBatch: number },
  receipt: Receipt,
): PulseEvent[] {
  if (inputs.length > limits.maxBatch) {
    throw new InvalidEventInput(`events: a batch holds at most ${limits.maxBatch} events (got ${inputs.length})`, []);
  }
  if (receipt.sentAt !== undefined && receipt.sentAt !== null && Number.isNaN(toMillis(receipt.sentAt))) {
    throw new InvalidEventInput('sentAt must be an ISO-8601 date-time with an offset', []);
  }
  const events: PulseEvent[] = [];
  const invalid: InvalidItem[] = [];
  inputs.forEach((input, index) => {
    const result = validateEvent(input, limits, receipt);
    if (result.event) events.push(result.event);
    else for (const issue of result.issues) invalid.push({ index, ...issue });
  });
  if (invalid.length > 0) {
    const items = new Set(invalid.map((item) => item.index)).size;
    const first = invalid[0];
    const message =
      inputs.length === 1
        ? `event.${first.field}: ${first.message}`
        : `${items} of ${inputs.length} events are invalid; nothing was published (first: events[${first.index}].${first.field}: ${first.message})`;
    throw new InvalidEventInput(message, invalid);
  }
  return events;
}
