// Blob first, then metadata: stores contents in the blob store (skipping those it already holds)
// and records them in the blobs table, before any row may point at them.
import type { BlobCache } from './blobs/blob-cache.js';
import { gitBlobSha, type BlobStore } from './blobs/blob-store.js';
import type { Queryable } from './db/sql.js';
import { mapBounded } from './map-bounded.js';

export interface BlobItem {
  /** SHA-256 of `content`. */
  hash: string;
  content: Buffer;
}

export function createBlobWriter({
  sql,
  blobs,
  cache,
}: {
  sql: Queryable;
  blobs: BlobStore;
  cache: BlobCache;
}) {
  return async function storeBlobs(items: readonly BlobItem[]): Promise<void> {
    const unique = [...new Map(items.map((i) => [i.hash, i])).values()];
    if (!unique.length) return;
    const known = new Set(
      (
        await sql.query<{ hash: string }>(`SELECT hash FROM blobs WHERE hash = ANY($1::text[])`, [
          unique.map((i) => i.hash),
        ])
      ).map((r) => r.hash),
    );
    const missing = unique.filter((i) => !known.has(i.hash));
    await mapBounded(missing, 8, (i) => blobs.put(i.hash, i.content));
    if (missing.length) {
      await sql.query(
        `INSERT INTO blobs (hash, size, git_sha) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
         ON CONFLICT (hash) DO NOTHING`,
        [
          missing.map((i) => i.hash),
          missing.map((i) => i.content.byteLength),
          missing.map((i) => gitBlobSha(i.content)),
        ],
      );
    }
    for (const i of unique) cache.prime(i.hash, i.content);
  };
}

export type BlobWriter = ReturnType<typeof createBlobWriter>;
