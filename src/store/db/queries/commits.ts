// commits: project history, one row per commit_task, and push intents: the row of a commit about
// to be pushed, in status 'pushing' until the transaction that applies it marks it 'pushed'
// (commits/push-intents.ts).
import type { Queryable } from '../sql.js';

export type CommitStatus = 'local' | 'pushed' | 'diverged';

export interface CommitRecord {
  id: number;
  task_id: string;
  task_title: string;
  message: string;
  author: string;
  workspace: string;
  files: { path: string; state: string }[];
  status: CommitStatus;
  git_sha: string | null;
  branch: string | null;
  version: number | null;
  created_at: string;
}

/** What a commit leaves at one path, as a push intent's detail keeps it. */
export interface CommitPath {
  path: string;
  /** The committed blob it leaves there (null: the path is deleted). */
  hash: string | null;
  mode: number;
  /** The draft content it was made from: the draft is cleared only while it still holds this. */
  draft: string | null;
  /** The committed blob it was made on (a recovered commit applies only paths still holding it). */
  committed: string | null;
}

/** A push intent: a 'pushing' row. */
export interface IntentRow {
  id: number;
  task_id: string;
  workspace: string;
  git_sha: string;
  branch: string;
  files: { path: string; state: string }[];
  detail: { parent: string; paths: CommitPath[] };
}

/** What a history row and a push intent both record of a commit. */
interface CommitFields {
  projectId: string;
  taskId: string;
  taskTitle: string;
  message: string;
  author: string;
  workspace: string;
  files: readonly { path: string; state: string }[];
}

/** A history row of one commit_task, whatever became of it; returns its id. */
export async function insertCommit(
  db: Queryable,
  commit: CommitFields & {
    version: number | null;
    status: CommitStatus;
    sha: string | null;
    branch: string | null;
    detail: Record<string, unknown> | null;
  },
): Promise<number> {
  const [row] = await db.query<{ id: number }>(
    `INSERT INTO commits (project_id, version, task_id, task_title, message, author, workspace, files, status, git_sha, branch, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
    [
      commit.projectId,
      commit.version,
      commit.taskId,
      commit.taskTitle,
      commit.message,
      commit.author,
      commit.workspace,
      JSON.stringify(commit.files),
      commit.status,
      commit.sha,
      commit.branch,
      commit.detail,
    ],
  );
  return row!.id;
}

/** A page of history, newest first: `limit` rows before id `before` (null: from the newest),
 *  of one task when given. A commit still being pushed ('pushing') is not history yet. */
export const selectHistory = (
  db: Queryable,
  projectId: string,
  page: { taskId: string | null; before: number | null; limit: number },
) =>
  db.query<CommitRecord>(
    `SELECT id, task_id, task_title, message, author, workspace, files, status, git_sha, branch, version,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
         FROM commits WHERE project_id = $1 AND status <> 'pushing' AND ($2::text IS NULL OR task_id = $2)
           AND ($3::bigint IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4`,
    [projectId, page.taskId, page.before, page.limit],
  );

/** Where a pushed commit went, and the version it produced. */
export async function selectPushedCommit(db: Queryable, projectId: string, id: number) {
  const [row] = await db.query<{ git_sha: string; branch: string; version: number }>(
    `SELECT git_sha, branch, version FROM commits WHERE project_id = $1 AND id = $2`,
    [projectId, id],
  );
  return row;
}

/** Locks the row (the project is locked already); its status, or undefined when it is gone. */
export async function lockCommitStatus(
  db: Queryable,
  projectId: string,
  id: number,
): Promise<string | undefined> {
  const [row] = await db.query<{ status: string }>(
    `SELECT status FROM commits WHERE project_id = $1 AND id = $2 FOR UPDATE`,
    [projectId, id],
  );
  return row?.status;
}

/** Marks an intent applied, with the version it produced. */
export const markIntentPushed = (
  db: Queryable,
  projectId: string,
  id: number,
  version: number,
  detail?: object,
) =>
  db.query(
    `UPDATE commits SET status = 'pushed', version = $3, detail = coalesce($4::jsonb, detail) WHERE project_id = $1 AND id = $2`,
    [projectId, id, version, detail ?? null],
  );

/** Drops an intent (still 'pushing') whose commit never landed. */
export async function deleteIntent(db: Queryable, projectId: string, id: number): Promise<void> {
  await db.query(`DELETE FROM commits WHERE project_id = $1 AND id = $2 AND status = 'pushing'`, [
    projectId,
    id,
  ]);
}

/** Records a commit about to be pushed as a 'pushing' row; returns its id. */
export async function insertIntent(
  db: Queryable,
  intent: CommitFields & { sha: string; branch: string; detail: IntentRow['detail'] },
): Promise<number> {
  const [inserted] = await db.query<{ id: number }>(
    `INSERT INTO commits (project_id, task_id, task_title, message, author, workspace, files, status, git_sha, branch, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pushing', $8, $9, $10) RETURNING id`,
    [
      intent.projectId,
      intent.taskId,
      intent.taskTitle,
      intent.message,
      intent.author,
      intent.workspace,
      JSON.stringify(intent.files),
      intent.sha,
      intent.branch,
      intent.detail,
    ],
  );
  return inserted!.id;
}

/** Points a 'pushing' row at the commit rebuilt on the moved branch. */
export async function repointIntent(
  db: Queryable,
  projectId: string,
  id: number,
  sha: string,
  detail: IntentRow['detail'],
): Promise<void> {
  await db.query(
    `UPDATE commits SET git_sha = $3, detail = $4 WHERE project_id = $1 AND id = $2 AND status = 'pushing'`,
    [projectId, id, sha, detail],
  );
}

/** The 'pushing' rows of a live project (of one workspace, when given), oldest first. */
export const selectIntents = (db: Queryable, projectName: string, workspace: string | null) =>
  db.query<IntentRow>(
    `SELECT c.id, c.task_id, c.workspace, c.git_sha, c.branch, c.files, c.detail
         FROM commits c JOIN projects p ON p.id = c.project_id
         WHERE p.name = $1 AND p.deleted_at IS NULL AND c.status = 'pushing'
           AND ($2::text IS NULL OR c.workspace = $2)
         ORDER BY c.id`,
    [projectName, workspace],
  );

/** Up to `limit` 'pushing' rows of live projects older than `olderThanMs`, by project. */
export const selectAbandonedIntents = (db: Queryable, olderThanMs: number, limit: number) =>
  db.query<IntentRow & { project: string; author: string }>(
    `SELECT c.id, c.task_id, c.workspace, c.git_sha, c.branch, c.files, c.detail, c.author, p.name AS project
         FROM commits c JOIN projects p ON p.id = c.project_id
         WHERE c.status = 'pushing' AND c.created_at < now() - make_interval(secs => $1 / 1000.0)
           AND p.deleted_at IS NULL
         ORDER BY c.project_id, c.id LIMIT $2`,
    [olderThanMs, limit],
  );

/** Ms until the youngest 'pushing' row younger than `olderThanMs` comes of age; undefined: none. */
export async function msUntilNextIntentDue(db: Queryable, olderThanMs: number): Promise<number | undefined> {
  const [next] = await db.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM min(created_at) + make_interval(secs => $1 / 1000.0) - now()) * 1000)::float8 AS ms
         FROM commits WHERE status = 'pushing' AND created_at >= now() - make_interval(secs => $1 / 1000.0)`,
    [olderThanMs],
  );
  return next?.ms ?? undefined;
}

/** Of `shas`, those of the project's commits. */
export async function selectCommitShas(db: Queryable, projectId: string, shas: readonly string[]) {
  const rows = await db.query<{ git_sha: string }>(
    `SELECT DISTINCT git_sha FROM commits WHERE project_id = $1 AND git_sha = ANY($2::text[])`,
    [projectId, shas],
  );
  return rows.map((r) => r.git_sha);
}
