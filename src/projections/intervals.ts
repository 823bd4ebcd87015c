/** The time buckets counts are kept in. Buckets start on UTC boundaries of their interval. */
export type Interval = 'MINUTE' | 'HOUR' | 'DAY';

export const INTERVALS: readonly Interval[] = ['MINUTE', 'HOUR', 'DAY'];

const SIZE_MS: Record<Interval, number> = { MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 };

/** The key letter of each interval. */
export const INTERVAL_CODE: Record<Interval, string> = { MINUTE: 'm', HOUR: 'h', DAY: 'd' };

export function intervalMs(interval: Interval): number {
  return SIZE_MS[interval];
}

/** The start of the bucket that holds timeMs. UTC days have no leap seconds in epoch time, so flooring is exact. */
export function bucketStart(timeMs: number, interval: Interval): number {
  const size = SIZE_MS[interval];
  return Math.floor(timeMs / size) * size;
}

/** Starts of the buckets that overlap [fromMs, toMs), oldest first. */
export function bucketStarts(fromMs: number, toMs: number, interval: Interval): number[] {
  const size = SIZE_MS[interval];
  const starts: number[] = [];
  for (let start = bucketStart(fromMs, interval); start < toMs; start += size) starts.push(start);
  return starts;
}

/** How many buckets overlap [fromMs, toMs), without listing them. */
export function bucketCount(fromMs: number, toMs: number, interval: Interval): number {
  if (toMs <= fromMs) return 0;
  return Math.ceil((toMs - bucketStart(fromMs, interval)) / SIZE_MS[interval]);
}
