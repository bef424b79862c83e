// Project facts (migration 0017): each project's committed bytes, files, languages and
// frameworks, which triggers on files keep as the tree changes; what get_project reads of them,
// and the statements that count a project whose rows predate them.
import type { Queryable } from '../sql.js';
import { frameworksColumn, languageColumn, type FileFacts } from './files.js';

export interface ProjectFactsRow {
  bytes: number;
  files: number;
  /** Largest first. */
  languages: { name: string; bytes: number; files: number }[];
  frameworks: string[];
  /** Languages and frameworks not counted yet (the project predates them). */
  pending: boolean;
}

/** A project's facts, with its `languages` largest languages. */
export async function selectProjectFacts(
  db: Queryable,
  projectId: string,
  languages: number,
): Promise<ProjectFactsRow> {
  const [row] = await db.query<ProjectFactsRow>(
    `SELECT committed_bytes AS bytes, committed_files AS files, frameworks, facts_pending AS pending,
       coalesce((SELECT json_agg(json_build_object('name', l.language, 'bytes', l.bytes, 'files', l.files)
                                 ORDER BY l.bytes DESC, l.language)
                 FROM (SELECT language, bytes, files FROM project_languages WHERE project_id = $1
                       ORDER BY bytes DESC, language LIMIT $2) l), '[]') AS languages
     FROM projects WHERE id = $1`,
    [projectId, languages],
  );
  return row!;
}

/** Live projects whose languages and frameworks were never counted, in name order; not archived
 *  ones, whose files are in their archives (restoring counts them). */
export const selectFactsPending = (db: Queryable, limit: number) =>
  db.query<{ name: string }>(
    `SELECT name FROM projects WHERE facts_pending AND deleted_at IS NULL AND status <> 'archived'
     ORDER BY name LIMIT $1`,
    [limit],
  );

/** A project's committed files, as counting them needs them. */
export const selectFilesToCount = (db: Queryable, projectId: string) =>
  db.query<{ path: string; hash: string }>(
    `SELECT path, blob_hash AS hash FROM files WHERE project_id = $1 ORDER BY path`,
    [projectId],
  );

/** Records what each file counts as (where its blob is still the one described), then counts
 *  the project's facts anew from its rows. */
export async function countTree(
  tx: Queryable,
  projectId: string,
  files: readonly (FileFacts & { path: string; hash: string })[],
): Promise<void> {
  if (files.length) {
    await tx.query(
      `UPDATE files f SET language = t.language, frameworks = string_to_array(t.frameworks, ',')
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS t(path, hash, language, frameworks)
       WHERE f.project_id = $1 AND f.path = t.path AND f.blob_hash = t.hash`,
      [
        projectId,
        files.map((f) => f.path),
        files.map((f) => f.hash),
        languageColumn(files),
        frameworksColumn(files),
      ],
    );
  }
  await tx.query(`SELECT stowage_recount_tree($1)`, [projectId]);
}
