// What cleanup and project deletion select and remove across tables: the projects due (jobs to
// expire, soft-deleted projects to purge), measured by the files, drafts and artifacts they hold,
// and a project's content rows in every table.
import type { Queryable } from '../sql.js';
import type { ProjectRef } from './projects.js';

/** A project measured: committed files and drafts, and the bytes removing it frees directly
 *  (inline drafts, artifacts). */
export interface MeasuredProject {
  id: string;
  name: string;
  files: number;
  bytes: number;
}

export type CleanupTarget = MeasuredProject & ProjectRef;

/** Jobs past their expiry (or finished, with older_than_hours), or soft-deleted projects. */
export type Due = 'expire' | 'purge';

// $1 is older_than_hours, or NULL.
const olderThan = (column: string) => `coalesce(${column} < now() - $1::float8 * interval '1 hour', false)`;
const HAS_CONTENT = `(EXISTS (SELECT 1 FROM files WHERE project_id = p.id)
  OR EXISTS (SELECT 1 FROM drafts WHERE project_id = p.id) OR EXISTS (SELECT 1 FROM artifacts WHERE project_id = p.id))`;
const PURGE = `p.deleted_at IS NOT NULL AND ${olderThan('p.deleted_at')}`;
const EXPIRE = `p.kind = 'job' AND NOT (${PURGE})
  AND (p.expires_at < now() OR (p.status IN ('complete', 'failed') AND ${olderThan('p.updated_at')}))
  AND (p.status <> 'expired' OR ${HAS_CONTENT})`;
const MEASURE = `(SELECT count(*) FROM files WHERE project_id = p.id)::int
    + (SELECT count(*) FROM drafts WHERE project_id = p.id)::int AS files,
  (SELECT coalesce(sum(size), 0) FROM drafts WHERE project_id = p.id AND content IS NOT NULL)::bigint
    + (SELECT coalesce(sum(size), 0) FROM artifacts WHERE project_id = p.id)::bigint AS bytes`;
const WHERE: Record<Due, string> = { expire: EXPIRE, purge: PURGE };

/** Every project `due`, measured, by name; `hours`: older_than_hours, or null. */
export const selectDueProjects = (db: Queryable, due: Due, hours: number | null) =>
  db.query<CleanupTarget>(
    `SELECT p.id, p.name, p.kind, p.created_by, p.owner_projects, ${MEASURE}
         FROM projects p WHERE ${WHERE[due]} ORDER BY p.name`,
    [hours],
  );

/** Locks the project `id` if it is still `due`, measured again. */
export async function lockDueProject(
  tx: Queryable,
  due: Due,
  hours: number | null,
  id: string,
): Promise<MeasuredProject | undefined> {
  const [row] = await tx.query<MeasuredProject>(
    `SELECT p.id, p.name, ${MEASURE} FROM projects p WHERE ${WHERE[due]} AND p.id = $2 FOR UPDATE OF p`,
    [hours, id],
  );
  return row;
}

/** Locks, measured, the live project `name`, or if there is none, what soft deletes left under
 *  that name. */
export const lockProjectsNamed = (tx: Queryable, name: string) =>
  tx.query<MeasuredProject>(
    `SELECT p.id, p.name, ${MEASURE} FROM projects p
           WHERE p.name = $1 AND (p.deleted_at IS NULL
             OR NOT EXISTS (SELECT 1 FROM projects l WHERE l.name = $1 AND l.deleted_at IS NULL))
           FOR UPDATE OF p`,
    [name],
  );

/** Deletes a project's content rows (artifacts, drafts, files, commits, events, history); returns its
 *  artifacts' ids, whose bytes the caller deletes. */
export async function deleteProjectContent(tx: Queryable, projectId: string): Promise<string[]> {
  const artifacts = await tx.query<{ id: string }>(
    `DELETE FROM artifacts WHERE project_id = $1 RETURNING id`,
    [projectId],
  );
  // Its history goes with its content, unrecorded (a job's expiry, a purge).
  await tx.query(`SELECT set_config('stowage.history', 'off', true)`);
  // Versions before drafts: a removed draft's content is copied into the version sharing it.
  for (const table of ['versions', 'checkpoints', 'drafts', 'files', 'commits', 'events']) {
    await tx.query(`DELETE FROM ${table} WHERE project_id = $1`, [projectId]);
  }
  return artifacts.map((a) => a.id);
}
