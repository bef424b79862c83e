// What is stored, summed over several tables: the storage statistics of a project, of a caller's
// projects or of everything, and the bytes all live projects hold (the total quota).
import type { Queryable } from '../sql.js';

export interface StorageFigures {
  files: number;
  file_bytes: number;
  drafts: number;
  draft_bytes: number;
  /** Sizes of all references (files and blob-stored drafts). */
  referenced_bytes: number;
  /** The distinct blobs behind those references. */
  blobs: number;
  stored_bytes: number;
  artifacts: number;
  artifact_bytes: number;
}

/** The figures of the live projects `ids` (null: all) in one query. */
export async function selectStorageFigures(
  db: Queryable,
  ids: readonly string[] | null,
): Promise<StorageFigures> {
  const [f] = await db.query<StorageFigures>(
    `WITH scope AS (SELECT id FROM projects WHERE deleted_at IS NULL AND ($1::uuid[] IS NULL OR id = ANY($1))),
          f AS (SELECT f.blob_hash, f.size FROM files f JOIN scope s ON s.id = f.project_id),
          d AS (SELECT d.blob_hash, d.size FROM drafts d JOIN scope s ON s.id = d.project_id),
          refs AS (SELECT blob_hash, size FROM f UNION ALL SELECT blob_hash, size FROM d WHERE blob_hash IS NOT NULL),
          used AS (SELECT b.size FROM blobs b WHERE b.hash IN (SELECT blob_hash FROM refs))
     SELECT (SELECT count(*) FROM f)::int AS files, (SELECT coalesce(sum(size), 0) FROM f)::bigint AS file_bytes,
            (SELECT count(*) FROM d)::int AS drafts, (SELECT coalesce(sum(size), 0) FROM d)::bigint AS draft_bytes,
            (SELECT coalesce(sum(size), 0) FROM refs)::bigint AS referenced_bytes,
            (SELECT count(*) FROM used)::int AS blobs, (SELECT coalesce(sum(size), 0) FROM used)::bigint AS stored_bytes,
            (SELECT count(*) FROM artifacts a JOIN scope s ON s.id = a.project_id)::int AS artifacts,
            (SELECT coalesce(sum(a.size), 0) FROM artifacts a JOIN scope s ON s.id = a.project_id)::bigint AS artifact_bytes`,
    [ids],
  );
  return f!;
}

/** How many of the projects `ids` (null: all) there are by kind and status; soft-deleted ones
 *  count as 'deleted', jobs past their expiry as 'expired'. */
export const countProjectsByStatus = (db: Queryable, ids: readonly string[] | null) =>
  db.query<{ kind: string; status: string; count: number }>(
    `SELECT kind, CASE WHEN deleted_at IS NOT NULL THEN 'deleted'
                       WHEN kind = 'job' AND expires_at <= now() THEN 'expired' ELSE status END AS status,
            count(*)::int AS count
     FROM projects WHERE $1::uuid[] IS NULL OR id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2`,
    [ids],
  );

/** The whole blob table: rows and bytes, unreferenced blobs included. */
export async function blobTotals(db: Queryable): Promise<{ count: number; bytes: number }> {
  const [blobs] = await db.query<{ count: number; bytes: number }>(
    `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM blobs`,
  );
  return blobs!;
}

/** Bytes of every live project's committed files and drafts: one aggregate over both tables, so
 *  linear in all files (measured: ~0.5 ms for 2,000 files, ~20 ms for 200,000). */
export async function storedBytes(tx: Queryable): Promise<number> {
  const [row] = await tx.query<{ bytes: number }>(
    `SELECT (SELECT coalesce(sum(f.size), 0) FROM files f JOIN projects p ON p.id = f.project_id
             WHERE p.deleted_at IS NULL)
          + (SELECT coalesce(sum(d.size), 0) FROM drafts d JOIN projects p ON p.id = d.project_id
             WHERE p.deleted_at IS NULL) AS bytes`,
  );
  return Number(row!.bytes);
}
