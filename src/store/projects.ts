// Projects: create, list (filters + cursor pagination), get with stats, update, delete. A project
// is named by `name`; every other table refers to it by its id.
//
// Decisions (update):
// - A remote attached to a project that had none marks its committed files local (not known to
//   be on the remote), as a commit that was not pushed is: sync_project brings the remote's other
//   files in and keeps these, and no file that exists only here is removed or overwritten.
//   Changing an attached remote keeps what each file is: one that came from the old remote is
//   replaced by the new remote's at the next sync (it is still in the old remote).
// - Any change of the remote forgets the head (head_sha null) until a sync, and is refused while
//   a commit is being pushed (a 'pushing' row, push-intents.ts): that push, and its recovery,
//   name the old remote. Detaching otherwise keeps every file and commit; it pushes nothing.
// - A quota under what the project holds is refused: every write that grows it would be.
// - It is one change, 'project.update', that bumps the version, unlike a job's plan (changes.ts):
//   the remote it may change decides what sync and commit_task do with the files, and a caller
//   holding get_project's version sees that the settings moved.
import { alreadyExists, conflict, invalidInput, notFound, StowageError } from '../errors.js';
import type { RemoteRef } from '../git/types.js';
import { recordChange } from './changes.js';
import {
  committedTotals,
  draftTotalsByWorkspace,
  insertProject,
  lockProjectByName,
  markFilesLocal,
  projectPager,
  selectDraftWorkspaces,
  selectIntents,
  selectProject,
  selectProjectRefs,
  updateProjectFields,
  viewBytes,
  type Project,
  type ProjectFields,
  type ProjectRef,
  type ListedProject,
  type ProjectKey,
  type ProjectSort,
} from './db/queries/index.js';
import type { Queryable, Row, Sql, Statement } from './db/sql.js';
import { decodeCursor, encodeCursor } from '../formats/cursor.js';
import { assertProjectName } from '../paths.js';
import { checkQuotaHeld } from './quota.js';
import type { FactsService } from './project-facts.js';
import { JOB_PREFIX } from './visibility.js';

export type { Project, ProjectRef };

export { JOB_PREFIX };

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

/** What update_project changes; an absent field is left as it is, null clears it. */
export interface ProjectChanges {
  description?: string | null | undefined;
  tags?: string[] | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** null: none of its own (the server's MAX_PROJECT_BYTES). */
  quota_bytes?: number | null | undefined;
  /** null: detached. Checked by the caller (remotes.ts) as create_project's is. */
  remote?: RemoteRef | null | undefined;
  /** Listed by list_projects {template: true}. */
  template?: boolean | undefined;
}

const CHANGEABLE = ['description', 'tags', 'metadata', 'quota_bytes', 'remote', 'template'] as const;

export interface ListProjectsInput {
  status?: string | undefined;
  tag?: string | undefined;
  template?: boolean | undefined;
  query?: string | undefined;
  /** Facts (project-facts.ts): a language, a framework, bounds on the committed bytes. */
  language?: string | undefined;
  framework?: string | undefined;
  min_bytes?: number | undefined;
  max_bytes?: number | undefined;
  sort?: ProjectSort | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

export function createProjectService(sql: Sql, facts: Pick<FactsService, 'filter'>) {
  const refs = (prefix: string, limit: number, from?: string, inclusive = true) =>
    selectProjectRefs(sql, prefix, from ?? null, inclusive, limit);

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
          const row = await insertProject(tx, {
            name: input.name,
            kind: input.kind ?? 'project',
            description: input.description ?? null,
            tags: input.tags ?? [],
            metadata: input.metadata ?? {},
            createdBy: principal,
            remote: input.remote ?? null,
            quotaBytes: input.quota_bytes ?? null,
          });
          await recordChange(tx, row.id, { principal, kind: 'project.create', at: 0 });
          return populate ? populate(tx, row) : row;
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

    /** Changes what create_project set, as one recorded change; returns the project. */
    async update(name: string, changes: ProjectChanges, principal: string): Promise<Project> {
      const changed = CHANGEABLE.filter((field) => changes[field] !== undefined);
      if (!changed.length) {
        throw invalidInput(
          `nothing to change: pass one or more of ${CHANGEABLE.join(', ')} (null clears description, quota_bytes or remote)`,
        );
      }
      return sql.transaction(async (tx) => {
        const project = await getProject(tx, name, { forUpdate: true });
        if (project.kind === 'job') {
          throw invalidInput(`'${name}' is a job, not a project: change its plan with update_job`);
        }
        assertWritable(project);
        if (typeof changes.quota_bytes === 'number') {
          checkQuotaHeld(name, changes.quota_bytes, await heldBytes(tx, project.id));
        }
        const fields: ProjectFields = {
          description: changes.description,
          tags: changes.tags,
          metadata: changes.metadata,
          quotaBytes: changes.quota_bytes,
          template: changes.template,
        };
        const remote = changes.remote;
        if (remote !== undefined && !sameRemote(project.remote, remote)) {
          if (project.remote && (await selectIntents(tx, name, null)).length) {
            throw conflict(
              `a commit of '${name}' is being pushed to its remote: call update_project again once commit_task has finished (sync_project settles a push a failed process left)`,
            );
          }
          Object.assign(fields, { remote, headSha: null });
          if (!project.remote && remote) await markFilesLocal(tx, project.id);
        }
        await updateProjectFields(tx, project.id, fields);
        await recordChange(tx, project.id, { principal, kind: 'project.update', detail: { changed } });
        return getProject(tx, name);
      });
    },

    /** A page of projects, each with its committed bytes; with `visible`, only those it
     *  accepts (reading on past the others). */
    async list(
      input: ListProjectsInput,
      visible?: (project: Project) => boolean,
    ): Promise<{ projects: (Project & { bytes: number })[]; next_cursor: string | undefined }> {
      const limit = input.limit ?? 50;
      const sort = input.sort ?? 'name';
      let from = input.cursor ? decodeListCursor(input.cursor, sort) : null;
      const page = projectPager({ ...input, ...(await facts.filter(input)), sort });
      // Filtered: read batches past the projects the caller may not see until a page is full.
      const size = visible ? Math.max(limit + 1, 200) : limit + 1;
      const rows: ListedProject[] = [];
      for (;;) {
        const fetched = await page(sql, from, size);
        rows.push(...(visible ? fetched.filter(visible) : fetched));
        if (rows.length > limit || fetched.length < size) break;
        from = keyOf(fetched.at(-1)!, sort);
      }
      const projects = rows.slice(0, limit).map(({ updated_us: _us, ...p }) => p);
      return {
        projects,
        next_cursor: rows.length > limit ? encodeListCursor(keyOf(rows[limit - 1]!, sort), sort) : undefined,
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
      const files = await committedTotals(sql, project.id);
      const drafts = await draftTotalsByWorkspace(sql, project.id);
      return { files: files.files, bytes: files.bytes, drafts };
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
  const row = await selectProject(tx, name, opts.forUpdate ?? false);
  if (!row) throw projectNotFound(name);
  return row;
}

/** getProject(…, { forUpdate: true }) as a statement to open a transaction with
 *  (Sql.transaction's `opening`); `lockedProject` reads its rows. */
export function lockProjectStatement(name: string): Statement {
  assertProjectGiven(name);
  return lockProjectByName(name);
}

export function lockedProject(rows: readonly Row[] | undefined, name: string): Project {
  const row = rows?.[0] as unknown as Project | undefined;
  if (!row) throw projectNotFound(name);
  return row;
}

/** Where a page ended, in its sort's order. */
const keyOf = (row: ListedProject, sort: ProjectSort): ProjectKey =>
  sort === 'name'
    ? { name: row.name }
    : { name: row.name, value: sort === 'bytes' ? row.bytes : row.updated_us };

// A cursor of a listing by name is the name (as before sorts came); by bytes or updated, it is
// [sort, value, name]: a cursor passed with another sort is refused rather than misread.
const encodeListCursor = (key: ProjectKey, sort: ProjectSort) =>
  encodeCursor(sort === 'name' ? key.name : JSON.stringify([sort, key.value, key.name]));

function decodeListCursor(cursor: string, sort: ProjectSort): ProjectKey {
  const text = decodeCursor(cursor, 'list_projects');
  // A project name never starts with '['.
  const key = text.startsWith('[') ? parseSortedKey(text) : { by: 'name', name: text };
  if (!key) {
    throw invalidInput(
      `cursor '${cursor}' is not one list_projects returned: pass next_cursor from the previous page`,
    );
  }
  if (key.by !== sort) {
    throw invalidInput(
      `cursor is from list_projects sorted by ${key.by}, not ${sort}: pass sort: '${key.by}' with it, or leave cursor out to start from the first page`,
    );
  }
  return { name: key.name, value: key.value };
}

function parseSortedKey(text: string): (ProjectKey & { by: string }) | undefined {
  try {
    const [by, value, name, ...rest] = JSON.parse(text) as unknown[];
    const sorted =
      (by === 'bytes' || by === 'updated') && typeof value === 'number' && typeof name === 'string';
    return sorted && !rest.length ? { by, value, name } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether two remotes (or none) are the same URL and branch. */
export const sameRemote = (a: RemoteRef | null, b: RemoteRef | null) =>
  a === b || (a !== null && b !== null && a.url === b.url && a.branch === b.branch);

/** The bytes of the project's largest view: its committed files, or a workspace's view of them
 *  with its drafts (what a quota is checked against, quota.ts). */
async function heldBytes(tx: Queryable, projectId: string): Promise<number> {
  const committed = Number((await committedTotals(tx, projectId)).bytes);
  const views = await viewBytes(tx, projectId, await selectDraftWorkspaces(tx, projectId));
  return Math.max(committed, ...views.values());
}

function assertProjectGiven(name: string) {
  if (typeof name !== 'string' || !name)
    throw invalidInput('project is required: pass a project name (see list_projects)');
}

export const projectNotFound = (name: string) =>
  notFound(
    `project '${name}' not found: check the name with list_projects, or create it with create_project`,
  );
