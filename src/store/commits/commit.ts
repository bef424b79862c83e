// commit_task and project history. With a remote, push first and apply second: until a push
// lands, the drafts stay exactly as they were. A push records its intent first (push-intents.ts),
// so a crash between the push and the apply is reconciled (by the next commit_task, or in the
// background once the intent is old enough), not repeated.
// Where the remote branch moved under a changed file, the draft is merged three ways with the
// branch's version (base: the blob the draft was made on); only overlapping changes divert the
// commit to the conflict branch, so nobody's change is ever pushed over.
import { invalidInput } from '../../errors.js';
import { checkBranchName } from '../../git/branch-name.js';
import type { CallContext } from '../../call-context.js';
import type { FileChange, GitRemote, MergeText, PushOutcome } from '../../git/types.js';
import { pathsOf, refuseCommitTwins, type CommitApplier } from './apply.js';
import { changesOf, committedPaths, createBranchMerger } from './push.js';
import { decodeCursor, encodeCursor } from '../../formats/cursor.js';
import {
  insertCommit,
  selectCommitShas,
  selectHistory,
  selectPushedCommit,
  type CommitRecord,
} from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { getProject, type Project } from '../projects.js';
import type { Claim, IntentRow, PushIntents } from './push-intents.js';
import type { SecretService } from '../secrets.js';
import type { Actor, WorkspaceService } from '../workspace/service.js';
import type { WorkspaceCore } from '../workspace/core.js';
import type { ViewEntry } from '../workspace/view.js';

export type { CommitRecord };

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
  /** Push content holding likely secrets (secrets.ts) all the same. */
  allowSecrets?: boolean | undefined;
}

export interface AuthorConfig {
  /** Default: the principal. */
  name: string | undefined;
  /** `{principal}` is replaced. */
  email: string;
}

export function createCommitService(deps: {
  sql: Sql;
  workspace: WorkspaceService;
  applier: CommitApplier;
  intents: PushIntents;
  remote: GitRemote;
  author: AuthorConfig;
  mergeText: MergeText;
  core: WorkspaceCore;
  secrets: Pick<SecretService, 'refuse'>;
}) {
  const { sql, workspace, applier, intents, remote } = deps;
  const mergeWithBranch = createBranchMerger(deps);

  const authorOf = (principal: string) => ({
    name: deps.author.name ?? principal,
    email: deps.author.email.replaceAll('{principal}', principal.replace(/[^A-Za-z0-9._-]/g, '-')),
  });

  /** The history row of one commit_task, whatever became of it. */
  async function record(
    tx: Queryable,
    commit: CommitRow,
    outcome: { status: CommitRecord['status']; version: number | null; sha?: string; branch?: string },
    detail?: Record<string, unknown>,
  ): Promise<number> {
    return insertCommit(tx, {
      projectId: commit.projectId,
      version: outcome.version,
      taskId: commit.task.id,
      taskTitle: commit.task.title,
      message: commit.message,
      author: commit.principal,
      workspace: commit.workspace,
      files: commit.files,
      status: outcome.status,
      sha: outcome.sha ?? null,
      branch: outcome.branch ?? null,
      detail: detail ?? null,
    });
  }

  /** Applies the intents a dead process left for this workspace, if the remote holds them. */
  async function recover(project: Project, actor: Actor, left: readonly IntentRow[], call: CallContext) {
    const applied = await intents.reconcile(project, left, actor, call.signal);
    const last = applied.at(-1);
    if (!last) return undefined;
    const { intent, version } = last;
    return {
      commit: intent.id,
      status: 'pushed' as const,
      sha: intent.git_sha,
      branch: intent.branch,
      rebased: intent.detail.parent !== project.head_sha,
      recovered: true,
      files: intent.files,
      version,
    };
  }

  return {
    async commitTask(projectName: string, actor: Actor, input: CommitInput, call: CallContext = {}) {
      const task = validateTask(input.task);
      const taskBranch = `stowage/task-${task.id.replace(/[^A-Za-z0-9._-]/g, '-')}`;
      const conflictBranch = input.branch ?? taskBranch;
      checkBranchName(conflictBranch, 'branch', 'pass branch as a new branch name, e.g. stowage/task-1');
      const message = `Task #${task.id}: ${task.title}${input.message?.trim() ? `\n\n${input.message.trim()}` : ''}\n`;
      // The conflict branch takes a commit built on someone else's change of the same lines:
      // on the project's own branch it would replace their change without a word.
      const checkBranch = (remote: Project['remote']) => {
        if (remote && conflictBranch === remote.branch) {
          throw invalidInput(
            `branch '${conflictBranch}' is the project's own remote branch, but branch is where a commit goes when the remote changed the same lines: pass another name, e.g. ${taskBranch}`,
          );
        }
      };
      // The drafts, and any push of this workspace a dead process left behind, are read side by
      // side: intents are rare, and the commit path waits for no extra round trip.
      const prepare = () => settle(applier.prepareCommit(projectName, actor, input.paths));
      const preparing = prepare();
      const left = await intents.pending(projectName, workspace.workspaceOf(actor));
      if (left.length) {
        await preparing;
        const project = await getProject(sql, projectName);
        checkBranch(project.remote);
        // A push that landed before its process died is applied, not repeated.
        if (project.remote && input.push !== false) {
          const recovered = await recover(project, actor, left, call);
          if (recovered) return recovered;
        }
      }
      const ready = left.length ? await prepare() : await preparing;
      if ('err' in ready) throw ready.err;
      const prepared = ready.ok;
      const { project, pending } = prepared;
      const target = project.remote;
      checkBranch(target);
      const push = Boolean(target) && input.push !== false;
      if (push && !input.allowSecrets) {
        await deps.secrets.refuse(sql, project.id, pending, 'commit_task (push)', 'allow_secrets: true');
      }
      const files = pending.map((e) => ({ path: e.path, state: e.state }));
      const commit: CommitRow = {
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
      let intentId: number | undefined;
      const original = new Map<FileChange, ViewEntry>();
      if (push) {
        const changes = await changesOf(pending, workspace.contentOf, original);
        outcome = await remote
          .commitAndPush({
            remote: target!,
            branch: target!.branch,
            conflictBranch,
            changes,
            expectedHead: project.head_sha,
            message,
            author: authorOf(actor.principal),
            signal: call.signal,
            progress: call.progress,
            merge: mergeWithBranch(pending, call.signal),
            beforePush: async (intent) => {
              await stored;
              const detail = { parent: intent.parent, paths: committedPaths(intent.changes, original) };
              // Another commit may have brought a case twin since prepareCommit looked: refused
              // before anything lands (with an intent of a rejected attempt, which never did).
              await refuseCommitTwins(sql, project.id, detail.paths).catch(async (err: unknown) => {
                if (intentId !== undefined) await intents.drop(project.id, intentId);
                intentId = undefined;
                throw err;
              });
              // A rebuild after a rejected push (the branch moved) replaces the intent it had.
              if (intentId !== undefined) return intents.replace(project.id, intentId, intent.sha, detail);
              intentId = await intents.record(
                project.id,
                {
                  task_id: task.id,
                  task_title: task.title,
                  message,
                  author: actor.principal,
                  workspace: prepared.workspace,
                  files,
                  git_sha: intent.sha,
                  branch: target!.branch,
                },
                detail,
              );
            },
          })
          .finally(() => stored.catch(() => undefined));
      }
      await stored;
      // An intent of a push that was rejected, when the last attempt pushed nothing to the branch.
      if (intentId !== undefined && (outcome?.status === 'diverged' || outcome?.empty)) {
        await intents.drop(project.id, intentId);
        intentId = undefined;
      }

      if (outcome?.status === 'diverged') {
        const id = await record(
          sql,
          commit,
          { status: 'diverged', version: null, sha: outcome.sha, branch: outcome.branch },
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

      const pushed = outcome?.status === 'pushed' ? outcome : undefined;
      const detail =
        pushed?.rebased || pushed?.empty
          ? { ...(pushed.rebased ? { rebased: true } : {}), ...(pushed.empty ? { empty: true } : {}) }
          : undefined;
      let claimed: Claim | undefined;
      const applied = await applier.applyCommit(
        actor,
        prepared,
        pushed ? committedPaths(pushed.changes, original) : pathsOf(pending),
        {
          taskId: task.id,
          localOnly: Boolean(target) && !pushed,
          landed: Boolean(pushed),
          // A clean fast-forward of the head we knew: the committed tree matches the remote again.
          headSha: pushed && !pushed.rebased && pushed.parent === project.head_sha ? pushed.sha : undefined,
        },
        async (tx, version) => {
          const status = pushed ? 'pushed' : 'local';
          if (intentId !== undefined && claimed === 'mine') {
            await intents.markPushed(tx, project.id, intentId, version, detail);
            return intentId;
          }
          // No intent, or one a reconciler dropped (it asked before the push landed).
          const where = pushed ? { sha: pushed.sha, branch: pushed.branch } : {};
          return record(tx, commit, { status, version, ...where }, detail);
        },
        // Its own intent, unless a reconciler applied it already (it then holds the result).
        intentId === undefined
          ? undefined
          : async (tx) => (claimed = await intents.claim(tx, project.id, intentId!)) !== 'applied',
      );
      if (!applied) return alreadyApplied(project, intentId!, files);
      const { version, result: id } = applied;
      if (pushed) {
        const { sha, branch, rebased } = pushed;
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
      const rows = await selectHistory(sql, project.id, {
        taskId: input.taskId ?? null,
        before: before ?? null,
        limit: limit + 1,
      });
      const commits = rows.slice(0, limit);
      return {
        commits,
        next_cursor: rows.length > limit ? encodeCursor(String(commits.at(-1)!.id)) : undefined,
      };
    },

    /** The remote branch's newest commits, whoever made them; `stowage` marks those Stowage
     *  pushed (their SHA is one of the project's commits). */
    async remoteLog(projectName: string, limit: number, call: CallContext = {}) {
      const project = await getProject(sql, projectName);
      if (!project.remote) {
        throw invalidInput(
          `project '${projectName}' has no remote: attach one (update_project) or leave out remote_commits`,
        );
      }
      const log = await remote.log(project.remote, limit, { signal: call.signal });
      const ours = new Set(
        await selectCommitShas(
          sql,
          project.id,
          log.map((c) => c.sha),
        ),
      );
      return log.map((c) => ({ ...c, stowage: ours.has(c.sha) }));
    },

    /** Settles every push intent of a project (sync_project runs it before it moves the tree). */
    async reconcile(project: Project, actor: Actor, call: CallContext = {}) {
      await intents.reconcile(project, await intents.pending(project.name), actor, call.signal);
    },

    /** Settles the push intents of every project older than `olderThanMs` (startIntentRecovery). */
    settleAbandoned: (olderThanMs: number, signal?: AbortSignal) =>
      intents.settleAbandoned(olderThanMs, signal),
  };

  /** The answer when a reconciler applied this commit's intent while it was being pushed. */
  async function alreadyApplied(project: Project, id: number, files: CommitRow['files']) {
    const row = await selectPushedCommit(sql, project.id, id);
    return {
      commit: id,
      status: 'pushed' as const,
      sha: row!.git_sha,
      branch: row!.branch,
      rebased: false,
      files,
      version: row!.version,
    };
  }
}

/** A promise's outcome as a value, so it may settle before anyone awaits it. */
const settle = <T>(work: Promise<T>) =>
  work.then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );

interface CommitRow {
  projectId: string;
  principal: string;
  workspace: string;
  task: Task;
  message: string;
  files: { path: string; state: string }[];
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
