// Token-bucket rate limiting per caller (a token id, or a remote address without auth). The map
// of buckets stays bounded: buckets that have refilled completely carry no state and are dropped.

export interface RateLimit {
  /** Sustained requests per minute; 0 turns limiting off. */
  perMinute: number;
  /** Requests allowed at once before the sustained rate applies. */
  burst: number;
}

export interface RateLimiter {
  /** Takes one request from `key`'s bucket: 0 when allowed, else the seconds to wait. */
  take(key: string): number;
}

const MAX_BUCKETS = 10_000;

export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  const perMs = limit.perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const level = (b: { tokens: number; at: number }, t: number) =>
    Math.min(limit.burst, b.tokens + (t - b.at) * perMs);

  function prune(t: number) {
    for (const [key, b] of buckets) if (level(b, t) >= limit.burst) buckets.delete(key);
    // Still full of active callers: forget the least recently inserted ones rather than grow.
    for (const key of buckets.keys()) {
      if (buckets.size < MAX_BUCKETS) break;
      buckets.delete(key);
    }
  }

  return {
    take(key) {
      if (limit.perMinute <= 0) return 0;
      const t = now();
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= MAX_BUCKETS) prune(t);
        bucket = { tokens: limit.burst, at: t };
        buckets.set(key, bucket);
      }
      bucket.tokens = level(bucket, t);
      bucket.at = t;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
    },
  };
}
