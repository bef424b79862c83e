// Applying a commit to the committed tree: what it takes from a workspace, its content in the
// blob store, and one transaction that applies exactly what was prepared (and pushed), rebasing
// other drafts on the paths it changed. A commit that would put a case twin of a committed path
// into the tree (case-twins.ts) is refused before it is pushed, and again as it is applied
// unless it has landed on the remote already: the committed tree then follows the remote, and
// deleting one spelling there is a commit away.
import { conflict, invalidInput, notFound } from '../../errors.js';
import { refuseTwinsInTree } from '../case-twins.js';
import { recordChange } from '../changes.js';
import {
  clearCommittedDrafts,
  deleteFiles,
  selectFileBlobs,
  setHeadSha,
  upsertCommittedFiles,
  type CommitPath,
} from '../db/queries/index.js';
import type { Sql, Queryable } from '../db/sql.js';
import type { DraftRebaser, RebaseReport } from './draft-rebase.js';
import { normalizePath } from '../../paths.js';
import { describeStored } from '../project-facts.js';
import { assertWritable, getProject, type Project } from '../projects.js';
import type { Actor, WorkspaceCore } from '../workspace/core.js';
import { readView, type ViewEntry } from '../workspace/view.js';

export type { CommitPath };

export interface PreparedCommit {
  project: Project;
  workspace: string;
  pending: ViewEntry[];
}

export interface AppliedCommitInfo {
  taskId: string;
  /** Committed on a project with a remote without pushing: sync keeps these files. */
  localOnly: boolean;
  /** The remote head the committed tree now matches, when that is known. */
  headSha?: string | undefined;
  /** Recovering a push whose process died: paths the committed tree moved on from since (a sync
   *  brought the remote's newer version) are left as they are. */
  onlyUnmoved?: boolean | undefined;
  /** The commit is on the remote's branch already: applied as it landed, case twins or not. */
  landed?: boolean | undefined;
}

/** Refuses a commit that would bring a case twin of a path it leaves in the committed tree. */
export const refuseCommitTwins = (q: Queryable, projectId: string, paths: readonly CommitPath[]) =>
  refuseTwinsInTree(q, projectId, {
    // A path the commit was made on is there already: updating it brings no new name.
    arriving: paths.filter((p) => p.hash !== null && p.committed === null).map((p) => p.path),
    leaving: paths.filter((p) => p.hash === null).map((p) => p.path),
  });

export function createCommitApplier(sql: Sql, core: WorkspaceCore, rebaser: DraftRebaser) {
  const { storeBlobs, workspaceOf, withWritableProject } = core;
  return {
    /** The drafts a commit will take (all, or `paths`), each with its base's git SHA. Call
     *  storeCommitContent before applyCommit: committed content always lives in the blob store.
     *  Drafts in conflict are refused, naming them and the fix. */
    async prepareCommit(
      projectName: string,
      actor: Actor,
      rawPaths?: readonly string[],
    ): Promise<PreparedCommit> {
      const workspace = workspaceOf(actor);
      const paths = rawPaths?.length ? [...new Set(rawPaths.map((p) => normalizePath(p)))] : undefined;
      const project = await getProject(sql, projectName);
      assertWritable(project);
      const pending = await readView(sql, project.id, workspace, {
        changedOnly: true,
        withContent: true,
        withBaseSha: true,
        ...(paths ? { paths } : {}),
      });
      if (paths) {
        const found = new Set(pending.map((e) => e.path));
        const missing = paths.filter((p) => !found.has(p));
        if (missing.length) {
          throw notFound(`no changes to commit for: ${missing.join(', ')} (check list_changes)`, { missing });
        }
      }
      if (!pending.length)
        throw invalidInput(`workspace '${workspace}' has no changes to commit (check list_changes)`);
      const conflicts = pending.filter((e) => e.conflict).map((e) => e.path);
      if (conflicts.length) {
        throw conflict(
          `nothing was committed: ${conflicts.join(', ')} ${conflicts.length === 1 ? 'is' : 'are'} in conflict (the ` +
            `committed version changed the same lines since you wrote yours). For each, read the other side ` +
            `(read_file with side: 'theirs', or list_changes with diff: true), then write the resolved file ` +
            `(write_file or edit_file), or discard_changes to take theirs; then commit again, or pass paths ` +
            `to commit the other changes first`,
          { conflicts },
        );
      }
      // Drafts of two workspaces may each be fine in their own view, yet twins once both commit.
      await refuseCommitTwins(sql, project.id, pathsOf(pending));
      return { project, workspace, pending };
    },

    /** Moves a prepared commit's inline drafts into the blob store. */
    storeCommitContent: (prepared: PreparedCommit) =>
      storeBlobs(
        prepared.pending
          .filter((e) => e.inline && e.hash)
          .map((e) => ({ hash: e.hash!, content: e.inline! })),
      ),

    /** Applies a commit to the committed tree in one transaction, exactly as it was prepared
     *  (and, with a remote, pushed), and rebases other drafts on its paths. Drafts are cleared
     *  only where they still hold what was committed, so a write that raced the commit stays a
     *  draft (and is rebased too). `claim`, run first, may decline (undefined is returned). */
    async applyCommit<T>(
      actor: Actor,
      target: { project: Project; workspace: string },
      paths: readonly CommitPath[],
      commit: AppliedCommitInfo,
      /** Runs in the same transaction (the history row). */
      alongside: (tx: Queryable, version: number, rebased: RebaseReport) => Promise<T>,
      claim?: (tx: Queryable) => Promise<boolean>,
    ) {
      const { workspace } = target;
      // What each file counts as in the project's facts (a manifest's content is read), before
      // the lock is taken.
      const described = new Map(
        (await describeStored(paths.filter(hasContent), core.readBlob)).map((f) => [f.path, f]),
      );
      return withWritableProject(target.project.name, async (tx, locked) => {
        if (claim && !(await claim(tx))) return undefined;
        const applying = commit.onlyUnmoved ? await unmoved(tx, locked.id, paths) : paths;
        // Under the project lock: a commit of the other spelling that was applied meanwhile.
        if (!commit.landed) await refuseCommitTwins(tx, locked.id, applying);
        const version = await recordChange(tx, locked.id, {
          principal: actor.principal,
          workspace,
          kind: 'commit',
          paths: paths.map((p) => p.path),
          detail: { task_id: commit.taskId },
        });
        const upserts = applying.filter(hasContent).map((p) => described.get(p.path)!);
        const deletions = applying.filter((p) => p.hash === null).map((p) => p.path);
        if (upserts.length) {
          const inserted = await upsertCommittedFiles(tx, locked.id, version, upserts, commit.localOnly);
          // The join on blobs guards the foreign key; a blob collected meanwhile must not drop a file.
          if (inserted.length !== upserts.length) {
            throw conflict(
              'some committed content vanished from the blob store while committing: commit again',
            );
          }
        }
        if (deletions.length) {
          await deleteFiles(tx, locked.id, deletions);
        }
        // This workspace's drafts go; every other draft on these paths (other workspaces', or a
        // write that raced this commit) is read in the same statement, to be rebased.
        const others = await clearCommittedDrafts(
          tx,
          locked.id,
          workspace,
          paths,
          applying.map((p) => p.path),
        );
        const rebased = others.length
          ? await rebaser.rebase(tx, locked.id, applying, version, others)
          : { merged: [], conflicts: [] };
        if (commit.headSha !== undefined) {
          await setHeadSha(tx, locked.id, commit.headSha);
        }
        return { version, rebased, result: await alongside(tx, version, rebased) };
      });
    },
  };
}

const hasContent = (p: CommitPath): p is CommitPath & { hash: string } => p.hash !== null;

/** The paths whose committed blob is still the one the commit was made on. */
async function unmoved(tx: Queryable, projectId: string, paths: readonly CommitPath[]) {
  const rows = await selectFileBlobs(
    tx,
    projectId,
    paths.map((p) => p.path),
  );
  const now = new Map(rows.map((r) => [r.path, r.blob_hash]));
  return paths.filter((p) => (now.get(p.path) ?? null) === p.committed);
}

export type CommitApplier = ReturnType<typeof createCommitApplier>;

/** The commit paths of a prepared commit as its drafts hold them. */
export const pathsOf = (pending: readonly ViewEntry[]): CommitPath[] =>
  pending.map((e) => ({
    path: e.path,
    hash: e.state === 'deleted' ? null : e.hash,
    mode: e.mode,
    draft: e.hash,
    committed: e.committedHash,
  }));
