// Projects: create, list (filters + cursor pagination), get with stats, delete. A project is
// named by `name`; every other table refers to it by its id.
import { alreadyExists, conflict, invalidInput, notFound, StowageError } from '../errors.js';
import { recordChange } from './changes.js';
import { escapeLiteral } from './db/literal.js';
import type { Queryable, Row, Sql } from './db/sql.js';
import { decodeCursor, encodeCursor } from '../formats/cursor.js';
import { assertProjectName } from './paths.js';

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
  /** A job's owner beside created_by: the creating token's project patterns (null: one user). */
  owner_projects: string[] | null;
}

/** What deciding who may see a project needs of its row (store/ownership.ts). */
export type ProjectRef = Pick<Project, 'name' | 'kind' | 'created_by' | 'owner_projects'>;

/** Every job's id starts with this; a project may not, so a name tells which it is. */
export const JOB_PREFIX = 'job-';

export interface ProjectStats {
  files: number;
  bytes: number;
  /** Per workspace; `owner`: the principal it belongs to. */
  drafts: { workspace: string; owner: string | null; changes: number; bytes: number }[];
}

export interface CreateProjectInput {
  name: string;
  description?: string | undefined;
  tags?: string[] | undefined;
  metadata?: Record<string, unknown> | undefined;
  kind?: 'project' | 'job';
  remote?: { url: string; branch: string } | undefined;
  /** Bytes this project may hold; absent: the server's MAX_PROJECT_BYTES. */
  quota_bytes?: number | undefined;
}

export interface ListProjectsInput {
  status?: string | undefined;
  tag?: string | undefined;
  query?: string | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

// A job past its expiry reads as 'expired' (and so refuses writes) before cleanup marks it so.
/** A job past its expiry reads as expired before the sweeper has marked it. */
const STATUS = `CASE WHEN kind = 'job' AND expires_at <= now() THEN 'expired' ELSE status END`;

const COLUMNS = `id, name, kind, description, tags, metadata,
  ${STATUS} AS status,
  version, created_by, remote, head_sha,
  plan, error, quota_bytes, owner_projects,
  to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS expires_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at`;

export function createProjectService(sql: Sql) {
  const refs = (prefix: string, limit: number, from?: string, inclusive = true) =>
    sql.query<ProjectRef>(
      `SELECT name, kind, created_by, owner_projects FROM projects
       WHERE deleted_at IS NULL AND starts_with(name, $1) AND ($2::text IS NULL OR name > $2 OR ($3 AND name = $2))
       ORDER BY name LIMIT $4`,
      [prefix, from ?? null, inclusive, limit],
    );

  return {
    /** Creates the project; `populate` runs in the same transaction (an imported tree). */
    async create(
      input: CreateProjectInput,
      principal: string,
      populate?: (tx: Queryable, project: Project) => Promise<Project>,
    ): Promise<Project> {
      assertProjectName(input.name);
      if ((input.kind ?? 'project') === 'project' && input.name.startsWith(JOB_PREFIX)) {
        throw invalidInput(
          `project names starting with '${JOB_PREFIX}' are kept for jobs: choose another name, or create a job with create_job`,
        );
      }
      try {
        return await sql.transaction(async (tx) => {
          const [row] = await tx.query<Project>(
            `INSERT INTO projects (name, kind, description, tags, metadata, created_by, remote, quota_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
            [
              input.name,
              input.kind ?? 'project',
              input.description ?? null,
              input.tags ?? [],
              input.metadata ?? {},
              principal,
              input.remote ?? null,
              input.quota_bytes ?? null,
            ],
          );
          await recordChange(tx, row!.id, { principal, kind: 'project.create', at: 0 });
          return populate ? populate(tx, row!) : row!;
        });
      } catch (err) {
        if (err instanceof StowageError && err.code === 'already_exists') {
          throw alreadyExists(
            `project '${input.name}' already exists: choose another name, or use it as it is`,
          );
        }
        throw err;
      }
    },

    /** A page of projects; with `visible`, only those it accepts (reading on past the others). */
    async list(
      input: ListProjectsInput,
      visible?: (project: Project) => boolean,
    ): Promise<{ projects: Project[]; next_cursor: string | undefined }> {
      const limit = input.limit ?? 50;
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: (n: string) => string, value: unknown) => {
        params.push(value);
        where.push(clause(`$${params.length}`));
      };
      if (input.status) add((p) => `${STATUS} = ${p}`, input.status);
      if (input.tag) add((p) => `tags @> ARRAY[${p}::text]`, input.tag);
      if (input.query) {
        const pattern = `%${input.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        add((p) => `(name ILIKE ${p} OR description ILIKE ${p})`, pattern);
      }
      const after = `$${params.length + 1}`;
      const batch = `$${params.length + 2}`;
      const text = `SELECT ${COLUMNS} FROM projects
         WHERE ${['deleted_at IS NULL', ...where, `(${after}::text IS NULL OR name > ${after})`].join(' AND ')}
         ORDER BY name LIMIT ${batch}`;
      // Filtered: read batches past the projects the caller may not see until a page is full.
      const size = visible ? Math.max(limit + 1, 200) : limit + 1;
      let from = input.cursor ? decodeCursor(input.cursor, 'list_projects') : null;
      const rows: Project[] = [];
      for (;;) {
        const fetched = await sql.query<Project>(text, [...params, from, size]);
        rows.push(...(visible ? fetched.filter(visible) : fetched));
        if (rows.length > limit || fetched.length < size) break;
        from = fetched.at(-1)!.name;
      }
      const page = rows.slice(0, limit);
      return {
        projects: page,
        next_cursor: rows.length > limit ? encodeCursor(page.at(-1)!.name) : undefined,
      };
    },

    /** Projects (name and owner) whose names start with `prefix`, in order, optionally from (or
     *  after) `from`. */
    refs,

    /** Project names starting with `prefix`, in order, optionally from (or after) `from`. */
    async names(prefix: string, limit: number, from?: string, inclusive = true): Promise<string[]> {
      return (await refs(prefix, limit, from, inclusive)).map((r) => r.name);
    },

    /** The project row; `not_found` names the fix. */
    get: (name: string, tx: Queryable = sql) => getProject(tx, name),

    async stats(project: Project): Promise<ProjectStats> {
      const [files] = await sql.query<{ files: number; bytes: number }>(
        `SELECT count(*)::int AS files, coalesce(sum(size), 0)::bigint AS bytes FROM files WHERE project_id = $1`,
        [project.id],
      );
      const drafts = await sql.query<ProjectStats['drafts'][number]>(
        `SELECT d.workspace, w.owner, count(*)::int AS changes, coalesce(sum(d.size), 0)::bigint AS bytes
         FROM drafts d LEFT JOIN workspaces w ON w.project_id = d.project_id AND w.name = d.workspace
         WHERE d.project_id = $1 GROUP BY d.workspace, w.owner ORDER BY d.workspace`,
        [project.id],
      );
      return { files: files!.files, bytes: files!.bytes, drafts };
    },
  };
}

export type ProjectService = ReturnType<typeof createProjectService>;

/** Statuses whose files may still change: an active project, a job still generating. */
export const WRITABLE_STATUSES: readonly string[] = ['active', 'generating'];

/** Refuses changes to archived projects and finished jobs, saying what to do instead. */
export function assertWritable(project: Project): void {
  if (WRITABLE_STATUSES.includes(project.status)) return;
  throw conflict(
    project.kind === 'job'
      ? `job '${project.name}' is ${project.status} and can no longer be written: create a new job`
      : `project '${project.name}' is ${project.status} and cannot be changed: restore it first (restore_project)`,
  );
}

export async function getProject(
  tx: Queryable,
  name: string,
  opts: { forUpdate?: boolean } = {},
): Promise<Project> {
  assertProjectGiven(name);
  const [row] = await tx.query<Project>(
    `SELECT ${COLUMNS} FROM projects WHERE name = $1 AND deleted_at IS NULL ${opts.forUpdate ? 'FOR UPDATE' : ''}`,
    [name],
  );
  if (!row) throw projectNotFound(name);
  return row;
}

/** getProject(…, { forUpdate: true }) as a statement without parameters, to open a transaction
 *  with (Sql.transaction's `opening`); `lockedProject` reads its rows. */
export function lockProjectStatement(name: string): string {
  assertProjectGiven(name);
  return `SELECT ${COLUMNS} FROM projects WHERE name = ${escapeLiteral(name)} AND deleted_at IS NULL FOR UPDATE`;
}

export function lockedProject(rows: readonly Row[] | undefined, name: string): Project {
  const row = rows?.[0] as unknown as Project | undefined;
  if (!row) throw projectNotFound(name);
  return row;
}

function assertProjectGiven(name: string) {
  if (typeof name !== 'string' || !name)
    throw invalidInput('project is required: pass a project name (see list_projects)');
}

export const projectNotFound = (name: string) =>
  notFound(
    `project '${name}' not found: check the name with list_projects, or create it with create_project`,
  );
