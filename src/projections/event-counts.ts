// Events per type per time bucket, by occurredAt, at every interval: `s.c.<m|h|d>.<type token>.<start ms>`.
import type { StoredEvent } from '../events/index.js';
import { bucketStart, INTERVAL_CODE, INTERVALS, type Interval } from './intervals.js';
import { kvToken } from './kv-token.js';
import { json, type ReadModel } from './read-model.js';

export interface CountBucket {
  type: string;
  interval: Interval;
  /** The bucket's start, ms since the epoch (UTC boundary of the interval). */
  start: number;
  count: number;
  seq: number;
}

export function countKeyOf(interval: Interval, type: string, start: number): string {
  return `s.c.${INTERVAL_CODE[interval]}.${kvToken(type)}.${start}`;
}

/** The key prefix of every bucket of one interval (for a watch). */
export function countKeyPrefix(interval: Interval): string {
  return `s.c.${INTERVAL_CODE[interval]}.`;
}

const occurredMs = (event: StoredEvent) => Date.parse(event.occurredAt);

export const eventCountsModel: ReadModel<CountBucket> = {
  name: 'eventCounts',
  keysOf(event) {
    const at = occurredMs(event);
    return INTERVALS.map((interval) => countKeyOf(interval, event.type, bucketStart(at, interval)));
  },
  apply(key, current, events, ctx) {
    const code = key.split('.', 3)[2];
    const interval = INTERVALS.find((candidate) => INTERVAL_CODE[candidate] === code) as Interval;
    return {
      type: events[0].type,
      interval,
      start: bucketStart(occurredMs(events[0]), interval),
      count: (current?.count ?? 0) + events.length,
      seq: ctx.seq,
    };
  },
  seqOf: (value) => value.seq,
  encode: json.encode,
  decode: json.decode<CountBucket>,
};
