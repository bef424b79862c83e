// blobs: one row per stored blob, by SHA-256; the content lives in the blob store. Writers lock and
// touch the rows they reuse; garbage collection condemns unreferenced rows (created_at
// '-infinity') and then deletes those still unreferenced (maintenance/blob-gc.ts says how the
// two stay safe together).
import type { Queryable } from '../sql.js';
import { prunable } from './history.js';

/** Locks (in hash order, so writers never deadlock) and touches the known rows of `hashes`;
 *  returns them, each saying whether cleanup had condemned it. The lock waits for a cleanup that
 *  is deleting one of them. */
export const touchBlobs = (db: Queryable, hashes: readonly string[]) =>
  db.query<{ hash: string; condemned: boolean }>(
    `WITH locked AS (
             SELECT hash, created_at = '-infinity' AS condemned FROM blobs
             WHERE hash = ANY($1::text[]) ORDER BY hash FOR NO KEY UPDATE)
           UPDATE blobs b SET created_at = now() FROM locked WHERE b.hash = locked.hash
           RETURNING b.hash, locked.condemned`,
    [hashes],
  );

/** Records stored blobs, each with its search text (`text`: null for binary content; absent:
 *  none, the first search that reads it records it), in one statement; a row there already is
 *  left as it is. */
export async function insertBlobs(
  db: Queryable,
  blobs: readonly { hash: string; size: number; gitSha: string }[],
): Promise<void> {
  await db.query(
    `INSERT INTO blobs (hash, size, git_sha) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
         ON CONFLICT (hash) DO NOTHING`,
    [blobs.map((b) => b.hash), blobs.map((b) => b.size), blobs.map((b) => b.gitSha)],
  );
}

/** Of `hashes`, those with a row. */
export async function selectRecordedBlobs(db: Queryable, hashes: readonly string[]): Promise<string[]> {
  const rows = await db.query<{ hash: string }>(`SELECT hash FROM blobs WHERE hash = ANY($1::text[])`, [
    hashes,
  ]);
  return rows.map((r) => r.hash);
}

/** Blobs referenced by no file, no draft and no kept version, except those of the projects in
 *  $1 and (with $3, retention days) the versions cleanup is about to prune. A draft in conflict
 *  references its base too (the committed tree no longer holds it). */
const unreferenced = (
  retention: string | null,
) => `NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_hash = b.hash AND f.project_id <> ALL($1::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.blob_hash = b.hash AND d.project_id <> ALL($1::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM drafts d WHERE d.conflict AND d.base_hash = b.hash AND d.project_id <> ALL($1::uuid[]))
  AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.blob_hash = b.hash AND v.project_id <> ALL($1::uuid[])
                  ${retention ? `AND NOT (${prunable(retention, null)})` : ''})`;
const UNREFERENCED = unreferenced(null);
const UNUSED = `b.created_at < now() - $2::float8 * interval '1 minute'`;

/** How many blobs, and bytes, are unused for `graceMinutes` and unreferenced once the projects
 *  in `removing` and the prunable versions are gone. */
export async function countCollectableBlobs(
  db: Queryable,
  graceMinutes: number,
  removing: readonly string[],
  /** HISTORY_RETENTION_DAYS: the draft versions cleanup prunes first hold no blob. */
  retentionDays: number,
): Promise<{ count: number; bytes: number }> {
  const [row] = await db.query<{ count: number; bytes: number }>(
    `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM blobs b
     WHERE ${UNUSED} AND ${unreferenced('$3')}`,
    [removing, graceMinutes, retentionDays],
  );
  return row!;
}

/** Condemns up to `limit` unused, unreferenced blobs with hashes after `after` (skipping rows a
 *  writer holds); returns their hashes. */
export async function condemnBlobs(
  db: Queryable,
  graceMinutes: number,
  after: string,
  limit: number,
): Promise<string[]> {
  const rows = await db.query<{ hash: string }>(
    `UPDATE blobs SET created_at = '-infinity' WHERE hash IN (
           SELECT hash FROM blobs b WHERE b.hash > $3 AND ${UNUSED} AND ${UNREFERENCED}
           ORDER BY hash LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING hash`,
    [[], graceMinutes, after, limit],
  );
  return rows.map((r) => r.hash);
}

/** Locks the rows of `hashes` still condemned, skipping those a writer holds (touching, or
 *  referencing through a foreign key); returns their hashes. */
export async function lockCondemnedBlobs(tx: Queryable, hashes: readonly string[]): Promise<string[]> {
  const rows = await tx.query<{ hash: string }>(
    `SELECT hash FROM blobs WHERE hash = ANY($1::text[]) AND created_at = '-infinity'
           ORDER BY hash FOR UPDATE SKIP LOCKED`,
    [hashes],
  );
  return rows.map((r) => r.hash);
}

/** Deletes the rows of `hashes` still unreferenced, seen by a snapshot of its own (a new
 *  statement): references committed before the locks are seen. */
export const deleteUnreferencedBlobs = (tx: Queryable, hashes: readonly string[]) =>
  tx.query<{ hash: string; size: number }>(
    `DELETE FROM blobs b WHERE b.hash = ANY($2::text[]) AND ${UNREFERENCED} RETURNING hash, size`,
    [[], hashes],
  );
