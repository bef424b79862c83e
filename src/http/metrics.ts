// Prometheus metrics of one server process for GET /metrics: tool calls, latency and errors (told
// by registerTools), and the blob cache, Postgres pool and open sessions read at scrape time.
// Each instance has its own registry, not prom-client's global one, so that several servers can
// share a process (the tests do).
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BlobCacheStats } from '../store/blobs/blob-cache.js';
import type { ToolCallObserver } from '../call-context.js';

export interface MetricsSources {
  cache: { stats(): BlobCacheStats };
  pool: Pick<pg.Pool, 'totalCount' | 'idleCount' | 'waitingCount' | 'options'>;
  /** Node's own metrics too (CPU, memory, event loop, GC): process-wide, so for one instance only. */
  processMetrics?: boolean | undefined;
}

export interface Metrics extends ToolCallObserver {
  /** The Content-Type of `render()`: the Prometheus text format. */
  readonly contentType: string;
  render(): Promise<string>;
  /** Where the open-session count comes from; the HTTP app tells it once it has sessions. */
  countSessions(count: () => number): void;
}

// From a cached read (about 1 ms) to a large archive or git push (tens of seconds).
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (sources.processMetrics) collectDefaultMetrics({ register: registry });

  const calls = new Counter({
    name: 'stowage_tool_calls_total',
    help: 'Tool calls by tool and outcome (ok or error).',
    labelNames: ['tool', 'outcome'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'stowage_tool_duration_seconds',
    help: 'Tool call latency in seconds, failed calls included.',
    labelNames: ['tool'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: 'stowage_tool_errors_total',
    help: 'Failed tool calls by tool and error code (not_found, forbidden, internal, ...).',
    labelNames: ['tool', 'code'] as const,
    registers,
  });

  // The cache keeps its own running totals since start-up, so the counters are set from them.
  const cacheTotal = (name: string, help: string, read: (s: BlobCacheStats) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read(sources.cache.stats()));
      },
    });
  cacheTotal('stowage_blob_cache_hits_total', 'Blob reads served from memory.', (s) => s.hits);
  cacheTotal('stowage_blob_cache_misses_total', 'Blob reads that went to the blob store.', (s) => s.misses);
  const cacheGauge = (name: string, help: string, read: (s: BlobCacheStats) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read(sources.cache.stats()));
      },
    });
  cacheGauge('stowage_blob_cache_bytes', 'Bytes of blob content held in the cache.', (s) => s.bytes);
  cacheGauge('stowage_blob_cache_entries', 'Blobs held in the cache.', (s) => s.entries);
  cacheGauge('stowage_blob_cache_max_bytes', 'The cache size limit (CACHE_MAX_BYTES).', (s) => s.maxBytes);

  const { pool } = sources;
  new Gauge({
    name: 'stowage_db_pool_connections',
    help: 'Postgres pool: connections open (total) and idle, and queries waiting for one (waiting).',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  new Gauge({
    name: 'stowage_db_pool_max_connections',
    help: 'Postgres pool size limit.',
    registers,
    collect() {
      this.set(pool.options.max);
    },
  });

  let sessions: () => number = () => 0;
  new Gauge({
    name: 'stowage_http_sessions_open',
    help: 'MCP sessions open over streamable HTTP (0 when stateless).',
    registers,
    collect() {
      this.set(sessions());
    },
  });

  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    countSessions(count) {
      sessions = count;
    },
    observe({ tool, seconds, error }) {
      calls.inc({ tool, outcome: error ? 'error' : 'ok' });
      duration.observe({ tool }, seconds);
      if (error) errors.inc({ tool, code: error });
    },
  };
}
