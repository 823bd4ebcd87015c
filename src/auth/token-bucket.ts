// A token bucket per key, checked synchronously on every request. Written here rather than taken
// from a library because the check sits on the hot path of `track` and must not allocate or await.

export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate). */
  ratePerSec: number;
  /** Most tokens a bucket holds (the burst). Default: one second's worth. */
  burst?: number;
  /** Most keys tracked at once; the longest-idle is forgotten past it. Default 100000. */
  maxKeys?: number;
}

export interface TokenBucket {
  /** Takes n tokens for key; answers 0 when allowed, else the ms to wait before n are there. */
  take(key: string, n?: number): number;
}

export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const burst = options.burst ?? options.ratePerSec;
  const perMs = options.ratePerSec / 1000;
  const maxKeys = options.maxKeys ?? 100_000;
  // A Map keeps insertion order: re-inserting on use makes the first key the longest idle.
  const buckets = new Map<string, { tokens: number; at: number }>();

  return {
    take(key, n = 1) {
      const now = performance.now();
      let bucket = buckets.get(key);
      if (bucket) {
        buckets.delete(key);
        bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
        bucket.at = now;
      } else {
        bucket = { tokens: burst, at: now };
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string);
      }
      buckets.set(key, bucket);
      // A request bigger than the burst (a large batch) passes when the bucket is full and leaves
      // it in debt, so it is neither refused forever nor free.
      const needed = Math.min(n, burst);
      if (bucket.tokens >= needed) {
        bucket.tokens -= n;
        return 0;
      }
      return (needed - bucket.tokens) / perMs;
    },
  };
}
