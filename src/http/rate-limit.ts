// Token-bucket rate limiting per caller (a token id, or a client address: see addressKey). The
// map of buckets stays bounded: buckets that have refilled completely carry no state and are
// dropped.

export interface RateLimit {
  /** Sustained requests per minute; 0 turns limiting off. */
  perMinute: number;
  /** Requests allowed at once before the sustained rate applies. */
  burst: number;
}

export interface RateLimiter {
  /** Takes one request from `key`'s bucket: 0 when allowed, else the seconds to wait. */
  take(key: string): number;
  /** What take() would answer, taking nothing: for buckets charged only after the fact. */
  peek(key: string): number;
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

  /** The bucket of `key` as of now, refilled for the time gone by; undefined: full. */
  function current(key: string, t: number) {
    const bucket = buckets.get(key);
    if (!bucket) return undefined;
    bucket.tokens = level(bucket, t);
    bucket.at = t;
    return bucket;
  }
  const wait = (tokens: number) => Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));

  return {
    take(key) {
      if (limit.perMinute <= 0) return 0;
      const t = now();
      let bucket = current(key, t);
      if (!bucket) {
        if (buckets.size >= MAX_BUCKETS) prune(t);
        bucket = { tokens: limit.burst, at: t };
        buckets.set(key, bucket);
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return wait(bucket.tokens);
    },
    peek(key) {
      if (limit.perMinute <= 0) return 0;
      const bucket = current(key, now());
      return !bucket || bucket.tokens >= 1 ? 0 : wait(bucket.tokens);
    },
  };
}

/** The bucket key of a client address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64, the
 *  block one host is usually given, so that rotating through its addresses gains nothing. */
export function addressKey(address: string | undefined): string {
  if (!address) return 'addr:';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return `addr:${mapped[1]}`;
  if (!address.includes(':')) return `addr:${address}`;
  const [head = '', tail] = address.split('%', 1)[0]!.split('::');
  const groups = (text: string) => (text ? text.split(':') : []);
  const full =
    tail === undefined
      ? groups(head)
      : [
          ...groups(head),
          ...Array<string>(Math.max(0, 8 - groups(head).length - groups(tail).length)).fill('0'),
          ...groups(tail),
        ];
  const prefix = full.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16));
  return `addr:${prefix.join(':')}::/64`;
}
