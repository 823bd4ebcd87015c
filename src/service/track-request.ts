import {
  type EventLimits,
  InvalidEventInput,
  type InvalidItem,
  type TrackEventInput,
  toMillis,
  validateBatch,
} from '../events/index.js';

// The request bodies of pulse.track and pulse.trackBatch, read as GraphQL would coerce the
// mutations' arguments: TrackEventInput's fields and no others, IDs given as integers become
// strings, sentAt a date-time with an offset. What the tracker validates (type, ids, properties,
// occurredAt) is left to it, so that both transports answer alike.

/** The arguments of one track call. */
export interface TrackArgs {
  event: TrackEventInput;
  sentAt?: Date;
}

/** The arguments of one trackBatch call. */
export interface TrackBatchArgs {
  events: TrackEventInput[];
  sentAt?: Date;
}

type Issue = Omit<InvalidItem, 'index'>;

const EVENT_FIELDS = new Set(['id', 'type', 'userId', 'anonymousId', 'properties', 'occurredAt']);
const ID_FIELDS = ['id', 'userId', 'anonymousId'] as const;
const decoder = new TextDecoder('utf-8', { fatal: true });

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    throw new InvalidEventInput('the request body is not UTF-8 JSON', []);
  }
}

function checkKeys(body: Record<string, unknown>, allowed: readonly string[], shape: string): void {
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new InvalidEventInput(
      `unknown field ${JSON.stringify(unknown[0].slice(0, 64))}; the request is ${shape}`,
      [],
    );
  }
}

function parseSentAt(value: unknown): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? toMillis(value) : Number.NaN;
  if (ms === undefined || Number.isNaN(ms)) {
    throw new InvalidEventInput('sentAt must be an ISO-8601 date-time with an offset', []);
  }
  return new Date(ms);
}

/** One event as TrackEventInput, with what GraphQL's input coercion would have refused. */
function toInput(value: unknown): { input: TrackEventInput; issues: Issue[] } {
  if (!isObject(value)) {
    return { input: { type: '' }, issues: [{ field: 'event', message: 'an event must be a JSON object' }] };
  }
  const issues: Issue[] = [];
  for (const key of Object.keys(value)) {
    if (!EVENT_FIELDS.has(key)) {
      issues.push({
        field: key.slice(0, 64),
        message: `unknown field ${JSON.stringify(key.slice(0, 64))}; an event has id, type, userId, anonymousId, properties, occurredAt`,
      });
    }
  }
  let input = value as unknown as TrackEventInput;
  for (const field of ID_FIELDS) {
    // GraphQL's ID accepts an integer and reads it as a string.
    if (Number.isSafeInteger(value[field])) input = { ...input, [field]: String(value[field]) };
  }
  return { input, issues };
}

function toInputs(values: readonly unknown[]): { inputs: TrackEventInput[]; invalid: InvalidItem[] } {
  const inputs: TrackEventInput[] = [];
  const invalid: InvalidItem[] = [];
  values.forEach((value, index) => {
    const { input, issues } = toInput(value);
    inputs.push(input);
    for (const issue of issues) invalid.push({ index, ...issue });
  });
  return { inputs, invalid };
}

/**
 * When the shape check found problems, the tracker never sees the request; the rest of the
 * validation runs here too, so that the error lists every problem at once, as the contract asks.
 */
function rejectWithEverything(
  inputs: TrackEventInput[],
  shapeIssues: InvalidItem[],
  limits: EventLimits & { maxBatch: number },
  sentAt: Date | undefined,
): never {
  let invalid = shapeIssues;
  try {
    validateBatch(inputs, { ...limits, maxBatch: Number.MAX_SAFE_INTEGER }, { receivedAt: new Date(), sentAt });
  } catch (err) {
    if (!(err instanceof InvalidEventInput)) throw err;
    // An item that is no object at all has nothing more worth saying about it.
    const notObjects = new Set(shapeIssues.filter((item) => item.field === 'event').map((item) => item.index));
    const more = err.invalid.filter((item) => !notObjects.has(item.index));
    invalid = [...shapeIssues, ...more].sort((a, b) => a.index - b.index);
  }
  const first = invalid[0];
  const items = new Set(invalid.map((item) => item.index)).size;
  const message =
    inputs.length === 1
      ? `event.${first.field}: ${first.message}`
      : `${items} of ${inputs.length} events are invalid; nothing was published (first: events[${first.index}].${first.field}: ${first.message})`;
  throw new InvalidEventInput(message, invalid);
}

/** Reads a pulse.track body: the event itself, or `{ "event": {...}, "sentAt": "..." }`. */
export function parseTrackRequest(data: Uint8Array, limits: EventLimits & { maxBatch: number }): TrackArgs {
  const body = parseJson(data);
  if (!isObject(body)) throw new InvalidEventInput('the request body must be a JSON object: the event', []);
  let event: unknown = body;
  let sentAt: Date | undefined;
  if ('event' in body) {
    checkKeys(body, ['event', 'sentAt'], '{ "event": {...}, "sentAt": "..." } or the event itself');
    event = body.event;
    sentAt = parseSentAt(body.sentAt);
    if (!isObject(event)) throw new InvalidEventInput('event must be a JSON object', []);
  }
  const { inputs, invalid } = toInputs([event]);
  if (invalid.length > 0) rejectWithEverything(inputs, invalid, limits, sentAt);
  return { event: inputs[0], sentAt };
}

/** Reads a pulse.trackBatch body: an array of events, or `{ "events": [...], "sentAt": "..." }`. */
export function parseTrackBatchRequest(data: Uint8Array, limits: EventLimits & { maxBatch: number }): TrackBatchArgs {
  const body = parseJson(data);
  let events: unknown = body;
  let sentAt: Date | undefined;
  if (isObject(body)) {
    checkKeys(body, ['events', 'sentAt'], '{ "events": [...], "sentAt": "..." } or an array of events');
    events = body.events;
    sentAt = parseSentAt(body.sentAt);
  }
  if (!Array.isArray(events)) {
    throw new InvalidEventInput('events must be a JSON array: the request is [...] or { "events": [...] }', []);
  }
  if (events.length > limits.maxBatch) {
    throw new InvalidEventInput(`events: a batch holds at most ${limits.maxBatch} events (got ${events.length})`, []);
  }
  const { inputs, invalid } = toInputs(events);
  if (invalid.length > 0) rejectWithEverything(inputs, invalid, limits, sentAt);
  return { events: inputs, sentAt };
}
