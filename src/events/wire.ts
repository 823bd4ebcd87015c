import { MalformedEvent } from './errors.js';
import type { PulseEvent, StoredEvent } from './event.js';
import { DEFAULT_MAX_PROPERTIES_DEPTH, depthExceeds, toMillis } from './validate.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The message body of an event: the Event's fields but `cursor`, as JSON. */
export function encodeEvent(event: PulseEvent): Uint8Array {
  // Buffer.from takes small strings from a shared pool: cheaper than TextEncoder's new array each time.
  return Buffer.from(
    JSON.stringify({
      id: event.id,
      type: event.type,
      userId: event.userId,
      anonymousId: event.anonymousId,
      properties: event.properties,
      occurredAt: event.occurredAt,
      receivedAt: event.receivedAt,
    }),
  );
}

/** One message read from the stream, as any consumer sees it. */
export interface EventMessage {
  subject: string;
  data: Uint8Array;
  seq: number;
  /** When the stream stored it, in ms since the epoch. */
  timestampMs: number;
  /** The Nats-Msg-Id header, when present. */
  msgId?: string;
}

const MAX_TEXT = 512;
const isText = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT && !/[\u0000-\u001f\u007f]/.test(value);
// A type may hold control characters (track accepts them): its subject token is encoded.
const isType = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT && value.isWellFormed();

// The form toISOString writes (and Pulse stores): kept as it is, with no Date made to write it again.
const CANONICAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function isoOr(value: unknown, fallback: () => number, field: string): string {
  if (value === undefined || value === null) return new Date(fallback()).toISOString();
  if (typeof value === 'string' && CANONICAL.test(value)) {
    // Date.parse checks each field's range but lets a day run past its month's end (02-30 is
    // 03-02): days past the 28th take the long way, which writes the day it really is.
    if (!Number.isNaN(Date.parse(value)) && Number(value.slice(8, 10)) <= 28) return value;
  }
  const ms = typeof value === 'string' ? toMillis(value) : Number.NaN;
  if (ms === undefined || Number.isNaN(ms)) throw new MalformedEvent(`${field} is not an ISO-8601 date-time`);
  return new Date(ms).toISOString();
}

/**
 * Reads an event from a stream message, written by Pulse or by any service that follows the wire
 * format. `typeOf` maps the message's subject to the type it names; the body's type must match it,
 * so that filters on the subject and on the body agree. Throws MalformedEvent with the reason.
 */
export function decodeEvent(message: EventMessage, typeOf: (subject: string) => string | undefined): StoredEvent {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(message.data));
  } catch (err) {
    throw new MalformedEvent('the body is not UTF-8 JSON', { cause: err });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MalformedEvent('the body is not a JSON object');
  }
  const raw = body as Record<string, unknown>;
  if (!isType(raw.type)) throw new MalformedEvent('type is missing or not a short string');
  const subjectType = typeOf(message.subject);
  if (subjectType !== raw.type) {
    throw new MalformedEvent(
      `the subject ${JSON.stringify(message.subject)} does not name the type ${JSON.stringify(raw.type)}`,
    );
  }
  const userId = raw.userId ?? null;
  const anonymousId = raw.anonymousId ?? null;
  if (userId !== null && !isText(userId)) throw new MalformedEvent('userId is not a short string');
  if (anonymousId !== null && !isText(anonymousId)) throw new MalformedEvent('anonymousId is not a short string');
  if (userId === null && anonymousId === null) throw new MalformedEvent('neither userId nor anonymousId is set');
  const properties = raw.properties ?? {};
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new MalformedEvent('properties is not a JSON object');
  }
  // track refuses deeper properties; from a foreign publisher they would overflow the stack of
  // every consumer that serialises them again (JSON.stringify recurses, JSON.parse does not).
  if (depthExceeds(properties, DEFAULT_MAX_PROPERTIES_DEPTH)) {
    throw new MalformedEvent(`properties are nested more than ${DEFAULT_MAX_PROPERTIES_DEPTH} levels deep`);
  }
  const id = raw.id ?? message.msgId ?? `seq-${message.seq}`;
  if (!isText(id)) throw new MalformedEvent('id is not a short string');
  const receivedAt = isoOr(raw.receivedAt, () => message.timestampMs, 'receivedAt');
  return {
    seq: message.seq,
    id,
    type: raw.type,
    userId,
    anonymousId,
    properties: properties as Record<string, unknown>,
    occurredAt: isoOr(raw.occurredAt, () => Date.parse(receivedAt), 'occurredAt'),
    receivedAt,
  };
}

/** What decodeEvent needs of a message a JetStream consumer delivered (a JsMsg). */
export interface ConsumedMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  readonly info: { readonly timestampNanos: number };
  readonly headers?: { get(key: string): string };
}

// The headers and the stored time are read only when the body lacks an id or a receivedAt: parsing
// every message's headers cost a consumer a few percent of its time.
class ConsumedEventMessage implements EventMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  constructor(private readonly msg: ConsumedMessage) {
    this.subject = msg.subject;
    this.data = msg.data;
    this.seq = msg.seq;
  }
  get timestampMs(): number {
    return Math.floor(this.msg.info.timestampNanos / 1e6);
  }
  get msgId(): string | undefined {
    return this.msg.headers?.get('Nats-Msg-Id') || undefined;
  }
}

/** decodeEvent of a message a consumer delivered. */
export function decodeConsumed(msg: ConsumedMessage, typeOf: (subject: string) => string | undefined): StoredEvent {
  return decodeEvent(new ConsumedEventMessage(msg), typeOf);
}

/** decodeEvent, or null for a message that is not an event (a foreign message on an event subject). */
export function decodeEventOrNull(
  message: EventMessage,
  typeOf: (subject: string) => string | undefined,
): StoredEvent | null {
  try {
    return decodeEvent(message, typeOf);
  } catch (err) {
    if (err instanceof MalformedEvent) return null;
    throw err;
  }
}
