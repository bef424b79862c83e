// Applying a commit to the committed tree: what it takes from a workspace, its content in the
// blob store, and one transaction that applies exactly what was prepared (and pushed).
import { conflict, invalidInput, notFound } from '../errors.js';
import type { Sql, Queryable } from './db/sql.js';
import { normalizePath } from './paths.js';
import { assertWritable, getProject, type Project } from './projects.js';
import type { Actor, WorkspaceCore } from './workspace-core.js';
import { readView, type ViewEntry } from './workspace-view.js';

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
}

export function createCommitApplier(sql: Sql, core: WorkspaceCore) {
  const { storeBlobs, workspaceOf, withWritableProject, recordChange } = core;
  return {
    /** The drafts a commit will take (all, or `paths`). Call storeCommitContent before
     *  applyCommit: committed content always lives in the blob store. */
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
      return { project, workspace, pending };
    },

    /** Moves a prepared commit's inline drafts into the blob store. */
    storeCommitContent: (prepared: PreparedCommit) =>
      storeBlobs(
        prepared.pending
          .filter((e) => e.inline && e.hash)
          .map((e) => ({ hash: e.hash!, content: e.inline! })),
      ),

    /** Applies a prepared commit to the committed tree in one transaction, exactly as it was
     *  prepared (and, with a remote, pushed). Drafts are cleared only where they still hold what
     *  was committed, so a write that raced the commit stays a draft. */
    async applyCommit<T>(
      actor: Actor,
      prepared: PreparedCommit,
      commit: AppliedCommitInfo,
      /** Runs in the same transaction (the history row). */
      alongside: (tx: Queryable, version: number) => Promise<T>,
    ) {
      const { workspace, pending } = prepared;
      return withWritableProject(prepared.project.name, async (tx, locked) => {
        const paths = pending.map((e) => e.path);
        const version = await recordChange(
          tx,
          { project: locked, actor, workspace, kind: 'commit', paths },
          {
            task_id: commit.taskId,
          },
        );
        const upserts = pending.filter((e) => e.state !== 'deleted');
        const deletions = pending.filter((e) => e.state === 'deleted').map((e) => e.path);
        if (upserts.length) {
          const inserted = await tx.query(
            `INSERT INTO files (project_id, path, blob_hash, size, git_sha, mode, version, local)
             SELECT $1, t.path, t.hash, b.size, b.git_sha, t.mode, $2, $6
             FROM unnest($3::text[], $4::text[], $5::int[]) AS t(path, hash, mode) JOIN blobs b ON b.hash = t.hash
             ON CONFLICT (project_id, path) DO UPDATE SET blob_hash = excluded.blob_hash, size = excluded.size,
               git_sha = excluded.git_sha, mode = excluded.mode, version = excluded.version,
               local = excluded.local, updated_at = now()
             RETURNING path`,
            [
              locked.id,
              version,
              upserts.map((e) => e.path),
              upserts.map((e) => e.hash),
              upserts.map((e) => e.mode),
              commit.localOnly,
            ],
          );
          // The join on blobs guards the foreign key; a blob collected meanwhile must not drop a file.
          if (inserted.length !== upserts.length) {
            throw conflict(
              'some committed content vanished from the blob store while committing: commit again',
            );
          }
        }
        if (deletions.length) {
          await tx.query(`DELETE FROM files WHERE project_id = $1 AND path = ANY($2::text[])`, [
            locked.id,
            deletions,
          ]);
        }
        await tx.query(
          `DELETE FROM drafts d USING unnest($3::text[], $4::text[]) AS t(path, hash)
           WHERE d.project_id = $1 AND d.workspace = $2 AND d.path = t.path
             AND d.content_hash IS NOT DISTINCT FROM t.hash`,
          [locked.id, workspace, paths, pending.map((e) => e.hash)],
        );
        if (commit.headSha !== undefined) {
          await tx.query(`UPDATE projects SET head_sha = $2 WHERE id = $1`, [locked.id, commit.headSha]);
        }
        return { version, result: await alongside(tx, version) };
      });
    },
  };
}

export type CommitApplier = ReturnType<typeof createCommitApplier>;
