// projects: one row per project or job, named by `name` (unique among live ones) and referred to
// by its id everywhere else. A soft-deleted project keeps its row with deleted_at set.
import type { Prepared, Queryable, Statement } from '../sql.js';

export interface Project {
  id: string;
  name: string;
  kind: 'project' | 'job';
  description: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  status: string;
  version: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  remote: { url: string; branch: string } | null;
  head_sha: string | null;
  plan: unknown;
  error: string | null;
  expires_at: string | null;
  quota_bytes: number | null;
  /** Listed by list_projects {template: true}; any readable project can be copied (from). */
  template: boolean;
  /** A job's owner beside created_by: the creating token's project patterns (null: one user). */
  owner_projects: string[] | null;
}

/** What deciding who may see a project needs of its row (store/ownership.ts). */
export type ProjectRef = Pick<Project, 'name' | 'kind' | 'created_by' | 'owner_projects'>;

/** A job past its expiry reads as expired before the sweeper has marked it. */
const STATUS = `CASE WHEN kind = 'job' AND expires_at <= now() THEN 'expired' ELSE status END`;

const COLUMNS = `id, name, kind, description, tags, metadata,
  ${STATUS} AS status,
  version, created_by, remote, head_sha,
  plan, error, quota_bytes, template, owner_projects,
  to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expires_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`;

export async function insertProject(
  db: Queryable,
  project: {
    name: string;
    kind: Project['kind'];
    description: string | null;
    tags: readonly string[];
    metadata: Record<string, unknown>;
    createdBy: string;
    remote: Project['remote'];
    quotaBytes: number | null;
  },
): Promise<Project> {
  const [row] = await db.query<Project>(
    `INSERT INTO projects (name, kind, description, tags, metadata, created_by, remote, quota_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
    [
      project.name,
      project.kind,
      project.description,
      project.tags,
      project.metadata,
      project.createdBy,
      project.remote,
      project.quotaBytes,
    ],
  );
  return row!;
}

/** The live project named `name`, locked for the transaction with `forUpdate`. */
export async function selectProject(
  db: Queryable,
  name: string,
  forUpdate: boolean,
): Promise<Project | undefined> {
  const [row] = await db.query<Project>(
    `SELECT ${COLUMNS} FROM projects WHERE name = $1 AND deleted_at IS NULL ${forUpdate ? 'FOR UPDATE' : ''}`,
    [name],
  );
  return row;
}

/** selectProject(…, true) as a statement to open a transaction with (Sql.transaction's
 *  `opening`), prepared once per connection; its rows are Project rows. */
const LOCK_PROJECT: Prepared = {
  name: 'stowage_lock_project',
  text: `SELECT ${COLUMNS} FROM projects WHERE name = $1 AND deleted_at IS NULL FOR UPDATE`,
};
export const lockProjectByName = (name: string): Statement => ({ text: LOCK_PROJECT, values: [name] });

export type ProjectSort = 'name' | 'bytes' | 'updated';

export interface ProjectFilter {
  status?: string | undefined;
  tag?: string | undefined;
  /** Matched as a substring of the name or the description, without case. */
  query?: string | undefined;
  template?: boolean | undefined;
  /** A Linguist name as stored (store/project-facts.ts resolves what callers type). */
  language?: string | undefined;
  framework?: string | undefined;
  /** Bounds, inclusive, on the committed bytes. */
  minBytes?: number | undefined;
  maxBytes?: number | undefined;
  /** name: A to Z; bytes: largest first; updated: latest change first. Ties go by name. */
  sort?: ProjectSort | undefined;
}

/** A listed project, with what its listing is sorted by. */
export interface ListedProject extends Project {
  /** Its committed bytes (projects.committed_bytes, migration 0017). */
  bytes: number;
  /** updated_at in microseconds since the epoch: a cursor resumes after it exactly. */
  updated_us: number;
}

/** Where a page ended: the last project's name and, sorted by bytes or updated, its value. */
export interface ProjectKey {
  name: string;
  value?: number | undefined;
}

const UPDATED_US = `(extract(epoch FROM updated_at) * 1000000)::bigint`;
// updated_at is not indexed (migration 0017 says why): sorted by it, a listing sorts the live
// projects that pass its filters.
const SORTS: Record<ProjectSort, { value: string | null; order: string }> = {
  name: { value: null, order: 'name' },
  bytes: { value: 'committed_bytes', order: 'committed_bytes DESC, name' },
  // Not `updated_at DESC`: in ORDER BY that names the output column, the millisecond text.
  updated: { value: UPDATED_US, order: `${UPDATED_US} DESC, name` },
};

/** The statement of a listing filtered and sorted by `filter`, built once: each call reads up
 *  to `size` live projects after `after` in its order (null: from the first). */
export function projectPager(filter: ProjectFilter) {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (n: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filter.status) add((p) => `${STATUS} = ${p}`, filter.status);
  if (filter.tag) add((p) => `tags @> ARRAY[${p}::text]`, filter.tag);
  if (filter.template !== undefined) add((p) => `template = ${p}`, filter.template);
  if (filter.query) {
    const pattern = `%${filter.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    add((p) => `(name ILIKE ${p} OR description ILIKE ${p})`, pattern);
  }
  if (filter.language) {
    add(
      (p) =>
        `EXISTS (SELECT 1 FROM project_languages l WHERE l.project_id = projects.id AND l.language = ${p})`,
      filter.language,
    );
  }
  if (filter.framework) add((p) => `frameworks @> ARRAY[${p}::text]`, filter.framework);
  if (filter.minBytes !== undefined) add((p) => `committed_bytes >= ${p}`, filter.minBytes);
  if (filter.maxBytes !== undefined) add((p) => `committed_bytes <= ${p}`, filter.maxBytes);
  const sort = SORTS[filter.sort ?? 'name'];
  const after = `$${params.length + 1}`;
  const value = `$${params.length + 2}`;
  const batch = `$${params.length + (sort.value ? 3 : 2)}`;
  const resume = sort.value
    ? `(${after}::text IS NULL OR ${sort.value} < ${value}::bigint OR (${sort.value} = ${value}::bigint AND name > ${after}))`
    : `(${after}::text IS NULL OR name > ${after})`;
  const text = `SELECT ${COLUMNS}, committed_bytes AS bytes, ${UPDATED_US} AS updated_us FROM projects
         WHERE ${['deleted_at IS NULL', ...where, resume].join(' AND ')}
         ORDER BY ${sort.order} LIMIT ${batch}`;
  return (db: Queryable, from: ProjectKey | null, size: number) =>
    db.query<ListedProject>(
      text,
      sort.value
        ? [...params, from?.name ?? null, from?.value ?? null, size]
        : [...params, from?.name ?? null, size],
    );
}

/** Live projects (name and owner) whose names start with `prefix`, in order, after `from` (or
 *  from it, with `inclusive`; null: from the first). */
export const selectProjectRefs = (
  db: Queryable,
  prefix: string,
  from: string | null,
  inclusive: boolean,
  limit: number,
) =>
  db.query<ProjectRef>(
    `SELECT name, kind, created_by, owner_projects FROM projects
       WHERE deleted_at IS NULL AND starts_with(name, $1) AND ($2::text IS NULL OR name > $2 OR ($3 AND name = $2))
       ORDER BY name LIMIT $4`,
    [prefix, from, inclusive, limit],
  );

/** What update_project sets on a project row; an absent field is left as it is. */
export interface ProjectFields {
  description?: string | null | undefined;
  tags?: readonly string[] | undefined;
  metadata?: Record<string, unknown> | undefined;
  quotaBytes?: number | null | undefined;
  remote?: Project['remote'] | undefined;
  /** null with a remote changed: the new remote's head is not known until a sync. */
  headSha?: null | undefined;
  template?: boolean | undefined;
}

const FIELD_COLUMNS: Record<keyof ProjectFields, string> = {
  description: 'description',
  tags: 'tags',
  metadata: 'metadata',
  quotaBytes: 'quota_bytes',
  remote: 'remote',
  headSha: 'head_sha',
  template: 'template',
};

/** Sets the given fields of the project row (the version and updated_at move with its change). */
export async function updateProjectFields(tx: Queryable, projectId: string, fields: ProjectFields) {
  const set = (Object.keys(FIELD_COLUMNS) as (keyof ProjectFields)[]).filter((k) => fields[k] !== undefined);
  if (!set.length) return;
  await tx.query(
    `UPDATE projects SET ${set.map((k, i) => `${FIELD_COLUMNS[k]} = $${i + 2}`).join(', ')} WHERE id = $1`,
    [projectId, ...set.map((k) => fields[k])],
  );
}

/** The remote head the committed tree now matches. */
export async function setHeadSha(tx: Queryable, projectId: string, sha: string): Promise<void> {
  await tx.query(`UPDATE projects SET head_sha = $2 WHERE id = $1`, [projectId, sha]);
}

/** Makes a new project row a job: generating, with its plan (JSON text, or null), its expiry
 *  and its owner's project patterns (null: a one-user caller). */
export async function startJob(
  tx: Queryable,
  projectId: string,
  job: { plan: string | null; ttlSeconds: number; ownerProjects: readonly string[] | null },
): Promise<void> {
  await tx.query(
    `UPDATE projects SET status = 'generating', plan = $2::jsonb,
                   expires_at = now() + make_interval(secs => $3), owner_projects = $4 WHERE id = $1`,
    [projectId, job.plan, job.ttlSeconds, job.ownerProjects],
  );
}

/** Replaces the job's plan (JSON text; null: kept) and/or marks it failed with `error` (null:
 *  not failed). */
export async function updateJob(
  tx: Queryable,
  projectId: string,
  change: { plan: string | null; error: string | null },
): Promise<void> {
  await tx.query(
    `UPDATE projects SET plan = coalesce($2::jsonb, plan),
             status = CASE WHEN $3::text IS NULL THEN status ELSE 'failed' END,
             error = coalesce($3, error), updated_at = now()
           WHERE id = $1`,
    [projectId, change.plan, change.error],
  );
}

export async function completeJob(tx: Queryable, projectId: string): Promise<void> {
  await tx.query(`UPDATE projects SET status = 'complete', updated_at = now() WHERE id = $1`, [projectId]);
}

export async function selectProjectVersion(tx: Queryable, projectId: string): Promise<number> {
  const [row] = await tx.query<{ version: number }>(`SELECT version FROM projects WHERE id = $1`, [
    projectId,
  ]);
  return row!.version;
}

/** Live, active projects (not jobs) with no event for `days` (or, without events, created that
 *  long ago), in name order, and whether each has drafts. */
export const selectIdleProjects = (db: Queryable, days: number) =>
  db.query<{ name: string; drafts: boolean }>(
    `SELECT p.name, EXISTS (SELECT 1 FROM drafts d WHERE d.project_id = p.id) AS drafts
       FROM projects p
       WHERE p.deleted_at IS NULL AND p.kind = 'project' AND p.status = 'active'
         AND coalesce((SELECT e.created_at FROM events e WHERE e.project_id = p.id ORDER BY e.id DESC LIMIT 1),
                      p.created_at) < now() - $1 * interval '1 day'
       ORDER BY p.name`,
    [days],
  );

/** Every project, deleted ones included, with what deciding who may see it needs. */
export const selectAllProjectRefs = (db: Queryable) =>
  db.query<ProjectRef & { id: string }>(`SELECT id, name, kind, created_by, owner_projects FROM projects`);

export async function deleteProjectRow(tx: Queryable, projectId: string): Promise<void> {
  await tx.query(`DELETE FROM projects WHERE id = $1`, [projectId]);
}

/** Soft-deletes the live project `name`: its id and version, or undefined when there is none. */
export async function softDeleteProject(
  tx: Queryable,
  name: string,
): Promise<{ id: string; version: number } | undefined> {
  const [row] = await tx.query<{ id: string; version: number }>(
    `UPDATE projects SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL RETURNING id, version`,
    [name],
  );
  return row;
}

/** What deciding who may see the live project `name` needs of its row. */
export async function selectProjectRef(db: Queryable, name: string): Promise<ProjectRef | undefined> {
  const [row] = await db.query<ProjectRef>(
    `SELECT name, kind, created_by, owner_projects FROM projects WHERE name = $1 AND deleted_at IS NULL`,
    [name],
  );
  return row;
}

/** Live projects with a remote on `branch`: their refs and remote URLs. */
export const selectRemoteHolders = (db: Queryable, branch: string) =>
  db.query<ProjectRef & { url: string }>(
    `SELECT name, kind, created_by, owner_projects, remote->>'url' AS url FROM projects
         WHERE deleted_at IS NULL AND remote->>'branch' = $1`,
    [branch],
  );
