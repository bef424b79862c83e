// versions and checkpoints: every version of every path (recorded by the triggers of migration
// 0013 on drafts and files), named points, and the statements that resolve a point in time to a
// project version and read a view as of one.
import type { Queryable } from '../sql.js';

/** One version of a path, with how it came to be: the event logged at its project version. */
export interface VersionRow {
  id: string;
  version: number;
  /** null: the committed tree. */
  workspace: string | null;
  path: string;
  op: 'upsert' | 'delete' | 'clean';
  content_hash: string | null;
  size: number;
  principal: string | null;
  created_at: Date;
  /** The event's kind at that version (file.write, file.move, commit, sync, …), if any. */
  kind: string | null;
  detail: Record<string, unknown> | null;
  git_sha: string | null;
  task_id: string | null;
}

/** The versions of `path` seen from `workspace` (its drafts, and the committed tree's), newest
 *  first, with versions at or below `below` (a project version) and ids before `beforeId`. */
export const selectPathVersions = (
  db: Queryable,
  q: {
    projectId: string;
    path: string;
    workspace: string;
    below: number;
    beforeId: string | null;
    limit: number;
  },
) =>
  db.query<VersionRow>(
    `SELECT v.id::text AS id, v.version::int AS version, v.workspace, v.path, v.op, v.content_hash, v.size::int AS size,
            coalesce(v.principal, e.principal) AS principal, v.created_at, e.kind, e.detail, c.git_sha, c.task_id
     FROM versions v
     LEFT JOIN LATERAL (SELECT kind, principal, detail FROM events e
                        WHERE e.project_id = v.project_id AND e.version = v.version
                          AND (e.path = v.path OR e.path IS NULL)
                        ORDER BY e.path IS NULL, e.id DESC LIMIT 1) e ON true
     LEFT JOIN commits c ON v.workspace IS NULL AND c.project_id = v.project_id AND c.version = v.version
     WHERE v.project_id = $1 AND v.path = $2 AND (v.workspace = $3 OR v.workspace IS NULL) AND v.version <= $4
       AND ($5::bigint IS NULL OR v.id < $5::bigint)
     ORDER BY v.id DESC LIMIT $6`,
    [q.projectId, q.path, q.workspace, q.below, q.beforeId, q.limit],
  );

/** A version by id, in the project. */
export async function selectVersion(db: Queryable, projectId: string, id: string) {
  const [row] = await db.query<{ version: number; workspace: string | null }>(
    `SELECT version::int AS version, workspace FROM versions WHERE project_id = $1 AND id = $2`,
    [projectId, id],
  );
  return row;
}

/** A path's content as a point sees it. */
export interface VersionContent {
  id: string;
  path: string;
  op: 'upsert' | 'delete';
  content: Buffer | null;
  blob_hash: string | null;
  content_hash: string | null;
  size: number;
  mode: number | null;
  version: number;
  workspace: string | null;
}

/** A workspace's newest version of a path shares its draft's inline content (migration 0019):
 *  the draft `d` joined where `v` has neither content nor blob gives it. */
const SHARED_DRAFT = (v: string) => `LEFT JOIN drafts d
  ON ${v}.op = 'upsert' AND ${v}.content IS NULL AND ${v}.blob_hash IS NULL AND d.project_id = ${v}.project_id
  AND d.workspace = ${v}.workspace AND d.path = ${v}.path AND d.content_hash = ${v}.content_hash`;

/** Per path, the version a point sees ($1 project, $2 version, $3 the point's workspace or null,
 *  $4 paths or null for every path): the workspace's latest version unless it went back to the
 *  committed one ('clean'), else the committed tree's latest; deleted paths included, 'clean'
 *  ones not. One sort, so the plan does not hinge on row estimates (a fresh table has none). */
const CHOSEN_AT = `(
       SELECT DISTINCT ON (path) * FROM (
         (SELECT DISTINCT ON (path) * FROM versions
          WHERE project_id = $1 AND workspace = $3 AND version <= $2 AND ($4::text[] IS NULL OR path = ANY($4::text[]))
          ORDER BY path, version DESC, id DESC)
         UNION ALL
         (SELECT DISTINCT ON (path) * FROM versions
          WHERE project_id = $1 AND workspace IS NULL AND version <= $2 AND ($4::text[] IS NULL OR path = ANY($4::text[]))
          ORDER BY path, version DESC, id DESC)
       ) latest
       ORDER BY path, (workspace IS NOT NULL AND op <> 'clean') DESC, workspace IS NULL DESC
     ) chosen`;

/** The view of `workspace` (null: the committed tree alone) at project `version`, for `paths`
 *  (null: every path), with each version's content. */
export const selectViewAt = (
  db: Queryable,
  projectId: string,
  point: { version: number; workspace: string | null },
  paths: readonly string[] | null,
) =>
  db.query<VersionContent>(
    `SELECT chosen.id::text AS id, chosen.path, chosen.op, coalesce(chosen.content, d.content) AS content,
            chosen.blob_hash, chosen.content_hash, chosen.size::int AS size, chosen.mode,
            chosen.version::int AS version, chosen.workspace
     FROM ${CHOSEN_AT} ${SHARED_DRAFT('chosen')}
     WHERE chosen.op <> 'clean'
     ORDER BY chosen.path`,
    [projectId, point.version, point.workspace, paths],
  );

/** What restoring a workspace's view of a path to a point takes: nothing (it is as it was),
 *  `write` the version `id`, `revert` (the point has the committed content: the draft goes),
 *  `delete` (a deletion draft over the committed file) or `drop` (the draft of a file the
 *  committed tree lacks goes). */
export interface RestoreStep {
  path: string;
  action: 'write' | 'revert' | 'delete' | 'drop' | null;
  id: string | null;
  /** The committed file's blob (a deletion draft's base). */
  committed: string | null;
  /** The path's size in the view now (0 when absent), and at the point. */
  have_size: number;
  want_size: number;
}

/** Per path of the point's view or the workspace's (of `paths`, or all), the step restoring it:
 *  both views are compared in Postgres, and only what the steps need comes back. */
export const selectRestoreSteps = (
  db: Queryable,
  projectId: string,
  point: { version: number; workspace: string | null },
  workspace: string,
  paths: readonly string[] | null,
) =>
  db.query<RestoreStep>(
    `WITH want AS (
       SELECT chosen.path, chosen.id, chosen.content_hash, chosen.size FROM ${CHOSEN_AT}
       WHERE chosen.op = 'upsert'),
     have AS (
       SELECT coalesce(d.path, f.path) AS path, f.blob_hash AS committed,
              CASE WHEN d.op IS NULL THEN f.blob_hash WHEN d.op = 'upsert' THEN d.content_hash END AS hash,
              CASE WHEN d.op IS NULL THEN f.size WHEN d.op = 'upsert' THEN d.size ELSE 0 END AS size
       FROM (SELECT path, blob_hash, size FROM files
             WHERE project_id = $1 AND ($4::text[] IS NULL OR path = ANY($4::text[]))) f
       FULL JOIN (SELECT path, op, content_hash, size FROM drafts
                  WHERE project_id = $1 AND workspace = $5 AND ($4::text[] IS NULL OR path = ANY($4::text[]))) d
         ON d.path = f.path)
     SELECT coalesce(w.path, h.path) AS path,
            CASE WHEN w.path IS NOT NULL THEN
                   CASE WHEN h.hash = w.content_hash THEN NULL
                        WHEN w.content_hash = h.committed THEN 'revert' ELSE 'write' END
                 WHEN h.hash IS NULL THEN NULL
                 WHEN h.committed IS NOT NULL THEN 'delete' ELSE 'drop' END AS action,
            w.id::text AS id, h.committed, coalesce(h.size, 0)::int AS have_size, coalesce(w.size, 0)::int AS want_size
     FROM want w FULL JOIN have h ON h.path = w.path
     ORDER BY 1`,
    [projectId, point.version, point.workspace, paths, workspace],
  );

/** The paths whose view may differ between points `a` and `b`, so that a diff reads only those
 *  (a view holds every path): a path with no version in between, in the committed tree or the
 *  points' workspace, reads the same at both. When one point is a workspace's and the other the
 *  committed tree's, every path the workspace has a version of by its point is included too.
 *  Null when the points are two workspaces': any path may differ. */
export async function selectPathsBetween(
  db: Queryable,
  projectId: string,
  a: { version: number; workspace: string | null },
  b: { version: number; workspace: string | null },
): Promise<string[] | null> {
  if (a.workspace !== null && b.workspace !== null && a.workspace !== b.workspace) return null;
  const shared = a.workspace === b.workspace ? a.workspace : null;
  const own = a.workspace !== b.workspace ? (a.workspace === null ? b : a) : null;
  const rows = await db.query<{ path: string }>(
    `SELECT DISTINCT path FROM versions
     WHERE project_id = $1 AND (((workspace IS NULL OR workspace = $2) AND version > $3 AND version <= $4)
                                OR (workspace = $5 AND version <= $6))`,
    [
      projectId,
      shared,
      Math.min(a.version, b.version),
      Math.max(a.version, b.version),
      own?.workspace ?? null,
      own?.version ?? null,
    ],
  );
  return rows.map((r) => r.path);
}

/** The project version of the newest change at or before `at` (to the millisecond, as ISO
 *  timestamps and file_history's `at` give it). */
export async function selectVersionAtTime(
  db: Queryable,
  projectId: string,
  at: Date,
): Promise<number | null> {
  const [row] = await db.query<{ version: number | null }>(
    `SELECT max(version)::int AS version FROM events
     WHERE project_id = $1 AND date_trunc('milliseconds', created_at) <= $2 AND version IS NOT NULL`,
    [projectId, at],
  );
  return row?.version ?? null;
}

/** The project version of the newest commit with a git SHA starting with `sha`, or of `task`. */
export async function selectCommitVersion(
  db: Queryable,
  projectId: string,
  by: { sha: string } | { task: string },
): Promise<{ version: number; git_sha: string | null; task_id: string }[]> {
  const where = 'sha' in by ? `git_sha LIKE $2 || '%'` : 'task_id = $2';
  return db.query(
    `SELECT version::int AS version, git_sha, task_id FROM commits
     WHERE project_id = $1 AND version IS NOT NULL AND ${where} ORDER BY id DESC LIMIT 2`,
    [projectId, 'sha' in by ? by.sha.toLowerCase() : by.task],
  );
}

export interface CheckpointRow {
  name: string;
  workspace: string;
  version: number;
  created_by: string;
  created_at: Date;
}

/** Names the workspace's view at the project's current version; null if the name is taken. */
export async function insertCheckpoint(
  db: Queryable,
  c: { projectId: string; name: string; workspace: string; principal: string },
): Promise<CheckpointRow | null> {
  const [row] = await db.query<CheckpointRow>(
    `INSERT INTO checkpoints (project_id, name, workspace, version, created_by)
       SELECT $1, $2, $3, version, $4 FROM projects WHERE id = $1
       ON CONFLICT (project_id, name) DO NOTHING
       RETURNING name, workspace, version::int AS version, created_by, created_at`,
    [c.projectId, c.name, c.workspace, c.principal],
  );
  return row ?? null;
}

export async function selectCheckpoint(db: Queryable, projectId: string, name: string) {
  const [row] = await db.query<CheckpointRow>(
    `SELECT name, workspace, version::int AS version, created_by, created_at FROM checkpoints
     WHERE project_id = $1 AND name = $2`,
    [projectId, name],
  );
  return row;
}

export const selectCheckpoints = (db: Queryable, projectId: string, limit: number) =>
  db.query<CheckpointRow>(
    `SELECT name, workspace, version::int AS version, created_by, created_at FROM checkpoints
     WHERE project_id = $1 ORDER BY version DESC, created_at DESC LIMIT $2`,
    [projectId, limit],
  );

/** Turns history recording off for the rest of the transaction (archiving and restoring an
 *  archive move the committed tree out and back: no file changes). */
export async function pauseHistory(tx: Queryable): Promise<void> {
  await tx.query(`SELECT set_config('stowage.history', 'off', true)`);
}

/** Draft versions cleanup may prune: older than `days`, of the projects `ids` (null: all), with a
 *  later version of their path in their workspace, and none a checkpoint needs (the latest of its
 *  path at or before the checkpoint's version). Committed versions are kept while the project is.
 *  Over `v`, with the parameters named (blob collection's dry run asks it with its own). */
export const prunable = (days: string, ids: string | null) => `v.workspace IS NOT NULL
  AND v.created_at < now() - ${days}::float8 * interval '1 day'
  ${ids ? `AND (${ids}::uuid[] IS NULL OR v.project_id = ANY(${ids}::uuid[]))` : ''}
  AND EXISTS (SELECT 1 FROM versions n WHERE n.project_id = v.project_id AND n.workspace = v.workspace
              AND n.path = v.path AND (n.version, n.id) > (v.version, v.id))
  AND NOT EXISTS (
    SELECT 1 FROM checkpoints c WHERE c.project_id = v.project_id AND c.workspace = v.workspace AND c.version >= v.version
      AND NOT EXISTS (SELECT 1 FROM versions n WHERE n.project_id = v.project_id AND n.workspace = v.workspace
                      AND n.path = v.path AND (n.version, n.id) > (v.version, v.id) AND n.version <= c.version))`;
const PRUNABLE = prunable('$1', '$2');

/** How many cleanup would prune, leaving out the projects in `removing` (their history goes with
 *  their content). */
export async function countPrunableVersions(
  db: Queryable,
  days: number,
  ids: readonly string[] | null,
  removing: readonly string[],
) {
  const [row] = await db.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM versions v WHERE ${PRUNABLE} AND v.project_id <> ALL($3::uuid[])`,
    [days, ids, removing],
  );
  return row!.count;
}

/** Prunes up to `limit` of them; returns how many went. */
export async function pruneVersions(
  db: Queryable,
  days: number,
  ids: readonly string[] | null,
  limit: number,
) {
  const rows = await db.query(
    `DELETE FROM versions WHERE (project_id, id) IN (
       SELECT v.project_id, v.id FROM versions v WHERE ${PRUNABLE} LIMIT $3)
     RETURNING 1`,
    [days, ids, limit],
  );
  return rows.length;
}

/** Drafts in `workspace` holding the content of the versions `ids` (restore): no content is
 *  copied but inline bytes; each is based on what is committed at its path, and resolves a
 *  conflicted draft there. */
export async function upsertDraftsFromVersions(
  tx: Queryable,
  d: { projectId: string; workspace: string; version: number; principal: string; ids: readonly string[] },
): Promise<void> {
  await tx.query(
    `INSERT INTO drafts (project_id, workspace, path, op, content, blob_hash, content_hash, size, mode, version,
                         updated_by, base_hash)
     SELECT v.project_id, $2, v.path, 'upsert', coalesce(v.content, d.content), v.blob_hash, v.content_hash, v.size,
            coalesce(v.mode, 33188), $3, $4, f.blob_hash
     FROM versions v LEFT JOIN files f ON f.project_id = v.project_id AND f.path = v.path ${SHARED_DRAFT('v')}
     WHERE v.project_id = $1 AND v.id = ANY($5::bigint[])
     ON CONFLICT (project_id, workspace, path) DO UPDATE SET op = 'upsert', content = excluded.content, utf8 = NULL,
       blob_hash = excluded.blob_hash, content_hash = excluded.content_hash, size = excluded.size,
       mode = excluded.mode, deflated = NULL, deflated_crc = NULL, deflated_of = NULL,
       version = excluded.version, updated_by = excluded.updated_by, updated_at = now(),
       base_hash = CASE WHEN drafts.conflict THEN excluded.base_hash ELSE drafts.base_hash END, conflict = false`,
    [d.projectId, d.workspace, d.version, d.principal, d.ids],
  );
}
