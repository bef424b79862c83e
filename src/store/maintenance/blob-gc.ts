// Blob garbage collection: blobs no file or draft references and nobody used for the grace period,
// and (collectStrayBlobs) what crashes left in the blob store without a row.
// Two steps, so a failure between them never leaves a row that looks healthy without its bytes:
//   1. condemn: mark candidates `created_at = '-infinity'` (committed);
//   2. delete: lock the condemned rows still unreferenced, delete their rows and then their bytes,
//      and only then commit.
// Writers (blobs/writer.ts) lock and touch every blob they reuse, in the same row-lock queue:
//   - a touch before step 1 makes the blob young again, so it is not a candidate;
//   - a touch between 1 and 2 un-condemns it and rewrites its bytes; step 2 skips it;
//   - a touch during step 2 waits for its commit, then finds no row and stores blob and row anew;
//   - after a failed step 2 the row stays condemned, and a writer rewrites its bytes.
// A row that gains a reference is never deleted: step 2 holds FOR UPDATE, which the foreign-key
// check of a new reference must wait for, and re-tests references with a snapshot taken after.
import type { BlobStore } from '../blobs/blob-store.js';
import { isStowageError } from '../../errors.js';
import {
  condemnBlobs,
  deleteUnreferencedBlobs,
  lockCondemnedBlobs,
  selectRecordedBlobs,
} from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { collectStrays, minutesAgo } from './strays.js';

const BATCH = 500;

export interface Freed {
  count: number;
  bytes: number;
}

export async function collectBlobs(sql: Sql, store: BlobStore, graceMinutes: number): Promise<Freed> {
  const freed: Freed = { count: 0, bytes: 0 };
  // Keyset over hashes: every candidate is visited once per run, even those a writer held.
  let after = '';
  for (;;) {
    const condemned = await condemnBlobs(sql, graceMinutes, after, BATCH);
    if (!condemned.length) return freed;
    after = condemned.reduce((max, h) => (h > max ? h : max));
    const deleted = await deleteCondemned(sql, store, condemned);
    freed.count += deleted.count;
    freed.bytes += deleted.bytes;
    if (condemned.length < BATCH) return freed;
  }
}

async function deleteCondemned(sql: Sql, store: BlobStore, hashes: readonly string[]): Promise<Freed> {
  try {
    return await sql.transaction(async (tx) => {
      // Rows a writer holds (touching, or referencing through a foreign key) are skipped.
      const locked = await lockCondemnedBlobs(tx, hashes);
      if (!locked.length) return { count: 0, bytes: 0 };
      // A new statement, so a new snapshot: references committed before the locks are seen.
      const rows = await deleteUnreferencedBlobs(tx, locked);
      await mapBounded(rows, 8, (r) => store.delete(r.hash));
      return { count: rows.length, bytes: rows.reduce((n, r) => n + r.size, 0) };
    });
  } catch (err) {
    // 23503: a reference arrived by a path that does not touch the blob (it stays; next round).
    if (!isStowageError(err) && (err as { code?: string }).code === '23503') return { count: 0, bytes: 0 };
    throw err;
  }
}

/** Blob-store entries no row records (a crash between a blob and its row) and temp files of
 *  interrupted writes, older than the grace period (strays.ts). */
export function collectStrayBlobs(
  sql: Sql,
  store: BlobStore,
  graceMinutes: number,
  dryRun: boolean,
): Promise<Freed> {
  return collectStrays(store, {
    cutoff: minutesAgo(graceMinutes),
    dryRun,
    recorded: async (hashes) => new Set(await selectRecordedBlobs(sql, hashes)),
  });
}
