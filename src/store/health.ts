// What a serving process reads of its storage's health: the checks behind /readyz (Postgres
// answers; the blob store is reachable, takes writes and has room: blobs/blob-readiness.ts) and
// what /metrics reads at scrape time (the blob cache's counters, the Postgres pool's).
import type { BlobCache } from './blobs/blob-cache.js';
import { blobReadinessChecks, type BlobReadinessOptions } from './blobs/blob-readiness.js';
import type { BlobStore } from './blobs/blob-store.js';
import { ping } from './db/queries/index.js';
import type { Sql } from './db/sql.js';

export function createHealth({ sql, blobs, cache }: { sql: Sql; blobs: BlobStore; cache: BlobCache }) {
  return {
    /** The readiness checks by name; each throws when not ready. */
    readiness: (options: BlobReadinessOptions): Record<string, () => Promise<unknown>> => ({
      database: () => ping(sql),
      ...blobReadinessChecks(blobs, options),
    }),
    /** The blob cache and the Postgres pool, read when metrics are scraped. */
    metricSources: { cache: { stats: () => cache.stats() }, pool: sql.pool },
  };
}

export type Health = ReturnType<typeof createHealth>;
