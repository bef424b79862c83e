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
import type { Sql } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { collectStrays, minutesAgo } from './strays.js';

const BATCH = 500;

/** Blobs referenced by no file and no draft, except those of the projects in $1. A draft in
 *  conflict references its base too (the committed tree no longer holds it). */
const UNREFERENCED = `NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_hash = b.hash AND f.project_id <> ALL($1::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.blob_hash = b.hash AND d.project_id <> ALL($1::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.conflict AND d.base_hash = b.hash AND d.project_id <> ALL($1::uuid[]))`;
const UNUSED = `b.created_at < now() - $2::float8 * interval '1 minute'`;

export interface Freed {
  count: number;
  bytes: number;
}

/** What collectBlobs would free once the projects in `removing` are gone. */
export async function countCollectableBlobs(
  sql: Sql,
  graceMinutes: number,
  removing: readonly string[],
): Promise<Freed> {
  const [row] = await sql.query<Freed>(
    `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM blobs b
     WHERE ${UNUSED} AND ${UNREFERENCED}`,
    [removing, graceMinutes],
  );
  return row!;
}

export async function collectBlobs(sql: Sql, store: BlobStore, graceMinutes: number): Promise<Freed> {
  const freed: Freed = { count: 0, bytes: 0 };
  // Keyset over hashes: every candidate is visited once per run, even those a writer held.
  let after = '';
  for (;;) {
    const condemned = (
      await sql.query<{ hash: string }>(
        `UPDATE blobs SET created_at = '-infinity' WHERE hash IN (
           SELECT hash FROM blobs b WHERE b.hash > $3 AND ${UNUSED} AND ${UNREFERENCED}
           ORDER BY hash LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING hash`,
        [[], graceMinutes, after, BATCH],
      )
    ).map((r) => r.hash);
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
      const locked = (
        await tx.query<{ hash: string }>(
          `SELECT hash FROM blobs WHERE hash = ANY($1::text[]) AND created_at = '-infinity'
           ORDER BY hash FOR UPDATE SKIP LOCKED`,
          [hashes],
        )
      ).map((r) => r.hash);
      if (!locked.length) return { count: 0, bytes: 0 };
      // A new statement, so a new snapshot: references committed before the locks are seen.
      const rows = await tx.query<{ hash: string; size: number }>(
        `DELETE FROM blobs b WHERE b.hash = ANY($2::text[]) AND ${UNREFERENCED} RETURNING hash, size`,
        [[], locked],
      );
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
    recorded: async (hashes) =>
      new Set(
        (
          await sql.query<{ hash: string }>(`SELECT hash FROM blobs WHERE hash = ANY($1::text[])`, [hashes])
        ).map((r) => r.hash),
      ),
  });
}
