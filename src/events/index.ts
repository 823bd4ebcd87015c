export { decodeCursor, encodeCursor } from './cursor.js';
export { InvalidEventInput, type InvalidItem, MalformedEvent } from './errors.js';
export { type PulseEvent, profileKey, type StoredEvent, type TrackEventInput } from './event.js';
export { newEventId } from './id.js';
export { type EventLimits, type Receipt, toMillis, validateBatch, validateEvent } from './validate.js';
export {
  type ConsumedMessage,
  decodeConsumed,
  decodeEvent,
  decodeEventOrNull,
  type EventMessage,
  encodeEvent,
} from './wire.js';
