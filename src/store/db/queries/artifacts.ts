// artifacts: the rows of stored archives (job zips, project archives, exports). The bytes live in
// the artifact store under the artifact's id; the row is written after them.
import type { Queryable } from '../sql.js';

export type ArtifactKind = 'job_zip' | 'archive' | 'export';

export interface Artifact {
  project_id: string;
  id: string;
  kind: ArtifactKind;
  name: string;
  size: number;
  sha256: string;
  files: number;
  created_at: string;
  expires_at: string | null;
}

const COLUMNS = `project_id, id, kind, name, size, sha256, files,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expires_at`;

export async function insertArtifact(
  db: Queryable,
  projectId: string,
  artifact: Pick<Artifact, 'id' | 'kind' | 'name' | 'size' | 'sha256' | 'files'> & { expiresAt: Date | null },
): Promise<Artifact> {
  const { id, kind, name, size, sha256, files, expiresAt } = artifact;
  const [row] = await db.query<Artifact>(
    `INSERT INTO artifacts (project_id, id, kind, name, size, sha256, files, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [projectId, id, kind, name, size, sha256, files, expiresAt],
  );
  return row!;
}

/** The artifact, while its project is not deleted: a deleted project's artifacts are gone for
 *  readers too, even before cleanup runs. */
export async function selectArtifact(
  db: Queryable,
  projectId: string,
  id: string,
): Promise<Artifact | undefined> {
  const [row] = await db.query<Artifact>(
    `SELECT ${COLUMNS} FROM artifacts a WHERE project_id = $1 AND id = $2
           AND EXISTS (SELECT 1 FROM projects p WHERE p.id = a.project_id AND p.deleted_at IS NULL)`,
    [projectId, id],
  );
  return row;
}

/** A project's artifacts (of one kind, when given), newest first. */
export const listArtifacts = (db: Queryable, projectId: string, kind: ArtifactKind | null) =>
  db.query<Artifact>(
    `SELECT ${COLUMNS} FROM artifacts WHERE project_id = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY created_at DESC`,
    [projectId, kind],
  );

export async function deleteArtifact(db: Queryable, projectId: string, id: string): Promise<void> {
  await db.query(`DELETE FROM artifacts WHERE project_id = $1 AND id = $2`, [projectId, id]);
}

/** The id of the project's newest job zip, if it has one. */
export async function latestJobZipId(db: Queryable, projectId: string): Promise<string | undefined> {
  const [artifact] = await db.query<{ id: string }>(
    `SELECT id FROM artifacts WHERE project_id = $1 AND kind = 'job_zip' ORDER BY created_at DESC LIMIT 1`,
    [projectId],
  );
  return artifact?.id;
}

/** Of `ids`, those with a row. */
export async function selectRecordedArtifacts(db: Queryable, ids: readonly string[]): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `SELECT id::text AS id FROM artifacts WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows.map((r) => r.id);
}

/** Deletes up to `limit` expired artifacts of the projects `ids` (null: all), skipping rows
 *  another cleanup holds; returns their ids and sizes. */
export const deleteExpiredArtifactBatch = (tx: Queryable, limit: number, ids: readonly string[] | null) =>
  tx.query<{ id: string; size: number }>(
    `DELETE FROM artifacts WHERE (project_id, id) IN (
             SELECT project_id, id FROM artifacts WHERE expires_at < now() AND ($2::uuid[] IS NULL OR project_id = ANY($2))
             ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, size`,
    [limit, ids],
  );

/** How many expired artifacts, and bytes, the projects `ids` (null: all) hold, leaving out those
 *  of the projects in `removing`. */
export async function countExpiredArtifacts(
  db: Queryable,
  removing: readonly string[],
  ids: readonly string[] | null,
): Promise<{ count: number; bytes: number }> {
  const [row] = await db.query<{ count: number; bytes: number }>(
    `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM artifacts
         WHERE expires_at < now() AND project_id <> ALL($1::uuid[]) AND ($2::uuid[] IS NULL OR project_id = ANY($2))`,
    [removing, ids],
  );
  return row!;
}

// $1: grace minutes; $2: the projects in scope (NULL: all).
const STALE_ARCHIVE = `a.kind = 'archive' AND a.created_at < now() - $1::float8 * interval '1 minute'
  AND ($2::uuid[] IS NULL OR a.project_id = ANY($2))
  AND (NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = a.project_id AND p.status = 'archived')
    OR EXISTS (SELECT 1 FROM artifacts n WHERE n.project_id = a.project_id AND n.kind = 'archive'
               AND n.created_at > a.created_at))`;

/** How many stale archives (older than `graceMinutes`, and not the current archive of an archived
 *  project), and bytes, the projects `ids` (null: all) hold, leaving out the projects in
 *  `removing`. */
export async function countStaleArchives(
  db: Queryable,
  graceMinutes: number,
  ids: readonly string[] | null,
  removing: readonly string[],
): Promise<{ count: number; bytes: number }> {
  const [row] = await db.query<{ count: number; bytes: number }>(
    `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM artifacts a
       WHERE ${STALE_ARCHIVE} AND a.project_id <> ALL($3::uuid[])`,
    [graceMinutes, ids, removing],
  );
  return row!;
}

/** Deletes up to `limit` stale archives (see countStaleArchives), skipping rows another cleanup
 *  holds; returns their ids and sizes. */
export const deleteStaleArchives = (
  tx: Queryable,
  graceMinutes: number,
  ids: readonly string[] | null,
  limit: number,
) =>
  tx.query<{ id: string; size: number }>(
    `DELETE FROM artifacts WHERE (project_id, id) IN (
             SELECT project_id, id FROM artifacts a WHERE ${STALE_ARCHIVE}
             ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING id, size`,
    [graceMinutes, ids, limit],
  );
