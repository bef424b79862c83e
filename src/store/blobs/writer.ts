// Blob first, then metadata: stores contents in the blob store (skipping those it already holds)
// and records them in the blobs table, before any row may point at them. Blobs it already holds
// are marked used now, so cleanup (blob-gc.ts) leaves them alone for its grace period.
import type { BlobCache } from './blob-cache.js';
import { gitBlobSha, type BlobStore } from './blob-store.js';
import { insertBlobs, touchBlobs } from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';

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
    // Lock (in hash order, so writers never deadlock) and touch every known row. The lock waits
    // for a cleanup that is deleting one of them; a row cleanup has condemned (created_at
    // -infinity) may have lost its bytes already, so it is rewritten like a missing one.
    const known = new Set(
      (
        await touchBlobs(
          sql,
          unique.map((i) => i.hash),
        )
      )
        .filter((r) => !r.condemned)
        .map((r) => r.hash),
    );
    const missing = unique.filter((i) => !known.has(i.hash));
    await mapBounded(missing, 8, (i) => blobs.put(i.hash, i.content));
    if (missing.length) {
      await insertBlobs(
        sql,
        missing.map((i) => ({ hash: i.hash, size: i.content.byteLength, gitSha: gitBlobSha(i.content) })),
      );
    }
    for (const i of unique) cache.prime(i.hash, i.content);
  };
}

export type BlobWriter = ReturnType<typeof createBlobWriter>;

/** Collects blobs to store in batches of at most 200 files or 16 MiB: import, sync and restore
 *  stream many files, and one round trip per file would dominate. */
export function createBlobBatcher(storeBlobs: BlobWriter) {
  let batch: BlobItem[] = [];
  let bytes = 0;
  const flush = async () => {
    const items = batch;
    batch = [];
    bytes = 0;
    await storeBlobs(items);
  };
  return {
    async add(item: BlobItem) {
      batch.push(item);
      bytes += item.content.byteLength;
      if (batch.length >= 200 || bytes >= 16 * 1024 * 1024) await flush();
    },
    flush,
  };
}
