// commit_task and project history. With a remote, push first and apply second: until a push
// lands, the drafts stay exactly as they were.
import { invalidInput } from '../errors.js';
import { checkBranchName } from '../git/branch-name.js';
import type { GitRemote, Progress, PushOutcome } from '../git/types.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { Queryable, Sql } from './db/sql.js';
import { getProject } from './projects.js';
import type { CommitApplier } from './commit-apply.js';
import type { Actor, WorkspaceService } from './workspace.js';

export interface Task {
  id: string;
  title: string;
}

export interface CommitInput {
  task: Task;
  message?: string | undefined;
  paths?: readonly string[] | undefined;
  push?: boolean | undefined;
  /** Where the commit goes if the remote branch moved on the same paths (default stowage/task-<id>). */
  branch?: string | undefined;
}

export interface CallContext {
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
}

export interface AuthorConfig {
  /** Default: the principal. */
  name: string | undefined;
  /** `{principal}` is replaced. */
  email: string;
}

export interface CommitRecord {
  id: number;
  task_id: string;
  task_title: string;
  message: string;
  author: string;
  workspace: string;
  files: { path: string; state: string }[];
  status: 'local' | 'pushed' | 'diverged';
  git_sha: string | null;
  branch: string | null;
  version: number | null;
  created_at: string;
}

export function createCommitService(deps: {
  sql: Sql;
  workspace: WorkspaceService;
  applier: CommitApplier;
  remote: GitRemote;
  author: AuthorConfig;
}) {
  const { sql, workspace, applier, remote } = deps;

  const authorOf = (principal: string) => ({
    name: deps.author.name ?? principal,
    email: deps.author.email.replaceAll('{principal}', principal.replace(/[^A-Za-z0-9._-]/g, '-')),
  });

  /** The history row of one commit_task, whatever became of it. */
  async function record(
    tx: Queryable,
    commit: {
      projectId: string;
      principal: string;
      workspace: string;
      task: Task;
      message: string;
      files: unknown[];
    },
    outcome: { status: CommitRecord['status']; version: number | null; sha?: string; branch?: string },
    detail?: Record<string, unknown>,
  ): Promise<number> {
    const [row] = await tx.query<{ id: number }>(
      `INSERT INTO commits (project_id, version, task_id, task_title, message, author, workspace, files, status, git_sha, branch, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
      [
        commit.projectId,
        outcome.version,
        commit.task.id,
        commit.task.title,
        commit.message,
        commit.principal,
        commit.workspace,
        JSON.stringify(commit.files),
        outcome.status,
        outcome.sha ?? null,
        outcome.branch ?? null,
        detail ?? null,
      ],
    );
    return row!.id;
  }

  return {
    async commitTask(projectName: string, actor: Actor, input: CommitInput, call: CallContext = {}) {
      const task = validateTask(input.task);
      const taskBranch = `stowage/task-${task.id.replace(/[^A-Za-z0-9._-]/g, '-')}`;
      const conflictBranch = input.branch ?? taskBranch;
      checkBranchName(conflictBranch, 'branch', 'pass branch as a new branch name, e.g. stowage/task-1');
      const message = `Task #${task.id}: ${task.title}${input.message?.trim() ? `\n\n${input.message.trim()}` : ''}\n`;
      const prepared = await applier.prepareCommit(projectName, actor, input.paths);
      const { project, pending } = prepared;
      const files = pending.map((e) => ({ path: e.path, state: e.state }));
      const target = project.remote;
      // The conflict branch takes a commit built on someone else's change of the same files:
      // on the project's own branch it would replace their change without a word.
      if (target && conflictBranch === target.branch) {
        throw invalidInput(
          `branch '${conflictBranch}' is the project's own remote branch, but branch is where a commit goes when the remote changed the same files: pass another name, e.g. ${taskBranch}`,
        );
      }
      const commit = {
        projectId: project.id,
        principal: actor.principal,
        workspace: prepared.workspace,
        task,
        message,
        files,
      };

      // Storing the content and pushing are independent; only applying needs both done.
      const stored = applier.storeCommitContent(prepared);
      let outcome: PushOutcome | undefined;
      if (target && input.push !== false) {
        const changes = await Promise.all(
          pending.map(async (e) => ({
            path: e.path,
            // A file last committed without a push has no known remote base: no conflict check.
            base: e.committedLocal ? undefined : e.committedGitSha,
            content: e.state === 'deleted' ? undefined : await workspace.contentOf(e),
            mode: e.mode,
          })),
        );
        outcome = await remote
          .commitAndPush({
            remote: target,
            branch: target.branch,
            conflictBranch,
            changes,
            expectedHead: project.head_sha,
            message,
            author: authorOf(actor.principal),
            signal: call.signal,
            progress: call.progress,
          })
          .finally(() => stored.catch(() => undefined));
      }
      await stored;

      if (outcome?.status === 'diverged') {
        const id = await record(
          sql,
          commit,
          {
            status: 'diverged',
            version: null,
            sha: outcome.sha,
            branch: outcome.branch,
          },
          { conflicts: outcome.conflicts },
        );
        return {
          commit: id,
          status: 'diverged' as const,
          sha: outcome.sha,
          branch: outcome.branch,
          conflicts: outcome.conflicts,
          files,
          version: project.version,
        };
      }

      const pushed = outcome?.status === 'pushed';
      const status = pushed ? 'pushed' : 'local';
      const { version, result: id } = await applier.applyCommit(
        actor,
        prepared,
        {
          taskId: task.id,
          localOnly: Boolean(target) && !pushed,
          // A clean fast-forward of the head we knew: the committed tree matches the remote again.
          headSha:
            pushed && !outcome!.rebased && outcome!.parent === project.head_sha ? outcome!.sha : undefined,
        },
        (tx, applied) =>
          record(
            tx,
            commit,
            {
              status,
              version: applied,
              ...(pushed ? { sha: outcome!.sha, branch: outcome!.branch } : {}),
            },
            pushed && outcome!.rebased ? { rebased: true } : undefined,
          ),
      );
      if (pushed) {
        const { sha, branch, rebased } = outcome as Extract<PushOutcome, { status: 'pushed' }>;
        return { commit: id, status: 'pushed' as const, sha, branch, rebased, files, version };
      }
      return { commit: id, status: 'local' as const, files, version };
    },

    async history(
      projectName: string,
      input: { taskId?: string | undefined; cursor?: string | undefined; limit?: number | undefined },
    ) {
      const project = await getProject(sql, projectName);
      const limit = input.limit ?? 50;
      const before = input.cursor ? Number(decodeCursor(input.cursor, 'project_history')) : undefined;
      if (before !== undefined && !Number.isInteger(before)) {
        throw invalidInput(
          'cursor is not one project_history returned: pass next_cursor from the previous page',
        );
      }
      const rows = await sql.query<CommitRecord>(
        `SELECT id, task_id, task_title, message, author, workspace, files, status, git_sha, branch, version,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at
         FROM commits WHERE project_id = $1 AND ($2::text IS NULL OR task_id = $2) AND ($3::bigint IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4`,
        [project.id, input.taskId ?? null, before ?? null, limit + 1],
      );
      const commits = rows.slice(0, limit);
      return {
        commits,
        next_cursor: rows.length > limit ? encodeCursor(String(commits.at(-1)!.id)) : undefined,
      };
    },
  };
}

export type CommitService = ReturnType<typeof createCommitService>;

function validateTask(task: Task): Task {
  const id = String(task.id).trim();
  const title = task.title.trim().replace(/\s+/g, ' ');
  if (!id || id.length > 64 || /\p{Cc}/u.test(id)) {
    throw invalidInput('task.id must be 1-64 characters without control characters, e.g. "29"');
  }
  if (!title || title.length > 200)
    throw invalidInput('task.title must be 1-200 characters, e.g. "Add login page"');
  return { id, title };
}
