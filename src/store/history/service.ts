// History: the versions of a path, reads as of a point in time, checkpoints, diffs and restore. The versions
// themselves are recorded by the database (migration 0013's triggers) as drafts and committed
// files change, so no write path here has anything to remember.
import { alreadyExists, invalidInput, notFound } from '../../errors.js';
import { decodeCursor, encodeCursor } from '../../formats/cursor.js';
import { etagOf } from '../../formats/content.js';
import {
  insertCheckpoint,
  selectCheckpoints,
  selectPathVersions,
  selectViewAt,
  type CheckpointRow,
  type VersionContent,
  type VersionRow,
} from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { normalizePath } from '../../paths.js';
import { getProject, type Project } from '../projects.js';
import type { QuotaLimits } from '../quota.js';
import type { Actor, WorkspaceCore } from '../workspace/core.js';
import type { BatchSource } from '../workspace/batch-read.js';
import { assertReadable } from '../workspace/service.js';
import { looksLikeOtherPoint, resolvePoint, type MayRead, type Point } from './points.js';

import { createDiff, type DiffDeps } from './diff.js';
import { createRestore } from './restore.js';

export interface HistoryDeps {
  sql: Sql;
  core: Pick<WorkspaceCore, 'workspaceOf' | 'readBlob' | 'withWritableProject' | 'storeBlobs'>;
  limits: QuotaLimits;
  cpu: DiffDeps['cpu'];
}

/** One version as file_history shows it. */
export interface FileVersion {
  id: string;
  path: string;
  /** null: committed. */
  workspace: string | null;
  /** upsert: content; delete: the path was deleted; clean: the draft went (discarded or
   *  committed) and the workspace sees the committed version again. */
  op: VersionRow['op'];
  etag: string | null;
  size: number;
  by: string | null;
  at: string;
  how: string | null;
  commit?: { sha: string | null; task: string } | undefined;
}

const CHECKPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function createHistoryService({ sql, core, limits, cpu }: HistoryDeps) {
  const readable = async (name: string) => assertReadable(await getProject(sql, name));

  /** The content of a version row: its inline bytes, or its blob. */
  const contentOf = (row: VersionContent) =>
    row.content ? Promise.resolve(row.content) : core.readBlob(row.blob_hash!);

  return {
    /** Makes the workspace's view of some paths (or all) what it was at a point (restore.ts). */
    restore: createRestore({ sql, core, limits }),

    /** What changed between two points, with unified diffs within a budget (diff.ts). */
    diff: createDiff({ sql, core, cpu }),

    /** Resolves `at` for the actor (its workspace where the point names none); a point in
     *  another workspace is let through `mayRead` first. */
    async point(
      projectName: string,
      actor: Actor,
      at: string,
      mayRead: MayRead,
    ): Promise<{ project: Project; point: Point }> {
      const project = await readable(projectName);
      return { project, point: await resolvePoint(sql, project, at, core.workspaceOf(actor), mayRead) };
    },

    /** The versions of `path` the actor's workspace has seen, newest first, continued across a
     *  move to the path it was moved from. */
    async fileHistory(
      projectName: string,
      actor: Actor,
      rawPath: string,
      page: { cursor?: string | undefined; limit: number },
    ) {
      const project = await readable(projectName);
      const workspace = core.workspaceOf(actor);
      let [path, below, beforeId] = page.cursor
        ? (JSON.parse(decodeCursor(page.cursor, 'file_history')) as [string, number, string | null])
        : [normalizePath(rawPath), project.version, null];
      const versions: FileVersion[] = [];
      for (;;) {
        const rows = await selectPathVersions(sql, {
          projectId: project.id,
          path,
          workspace,
          below,
          beforeId,
          limit: page.limit - versions.length + 1,
        });
        const shown = rows.slice(0, page.limit - versions.length);
        versions.push(...shown.map(describe));
        const last = shown.at(-1);
        if (rows.length > shown.length && last) {
          return { versions, next_cursor: encodeCursor(JSON.stringify([path, below, last.id])) };
        }
        // The oldest version came from a move: the history goes on at the path it left.
        const from = last?.kind === 'file.move' && last.detail?.to === path ? last.detail.from : undefined;
        if (typeof from !== 'string') return { versions };
        [path, below, beforeId] = [from, last!.version - 1, null];
        if (versions.length >= page.limit) {
          return { versions, next_cursor: encodeCursor(JSON.stringify([path, below, beforeId])) };
        }
      }
    },

    /** One path as the point sees it. */
    async read(projectName: string, actor: Actor, rawPath: string, at: string, mayRead: MayRead) {
      const path = normalizePath(rawPath);
      const { project, point } = await this.point(projectName, actor, at, mayRead);
      const [row] = await selectViewAt(sql, project.id, point, [path]);
      if (!row || row.op === 'delete') {
        throw notFound(`'${path}' did not exist at '${at}' in project '${projectName}': see file_history`);
      }
      return { project, point, entry: entryOf(row), content: await contentOf(row) };
    },

    /** batch_read's files as the point sees them (workspace/batch-read.ts). */
    async sourceAt(projectName: string, actor: Actor, at: string, mayRead: MayRead): Promise<BatchSource> {
      const { project, point } = await this.point(projectName, actor, at, mayRead);
      const rows = new Map<string, VersionContent>();
      return {
        async entries(paths, prefix) {
          const found = await selectViewAt(sql, project.id, point, prefix === undefined ? paths : null);
          const wanted = new Set(paths);
          const present = found.filter(
            (r) =>
              r.op === 'upsert' &&
              (wanted.has(r.path) || (prefix !== undefined && r.path.startsWith(prefix))),
          );
          for (const row of present) rows.set(row.path, row);
          return present.map(entryOf);
        },
        content: (entry) => contentOf(rows.get(entry.path)!),
      };
    },

    /** The files of `source` as the point sees them, each as a blob (a draft's inline content
     *  is stored as one): what a project made from it starts with (create_project {from}). */
    async treeAt(source: string, actor: Actor, at: string, mayRead: MayRead) {
      const { project, point } = await this.point(source, actor, at, mayRead);
      const rows = (await selectViewAt(sql, project.id, point, null)).filter((r) => r.op === 'upsert');
      await core.storeBlobs(
        rows.flatMap((r) => (r.content ? [{ hash: r.content_hash!, content: r.content }] : [])),
      );
      return rows.map((r) => ({
        path: r.path,
        hash: r.content_hash!,
        mode: r.mode ?? 0o100644,
        size: r.size,
      }));
    },

    /** Names the workspace's whole view as it is now. */
    async checkpoint(projectName: string, actor: Actor, name?: string): Promise<CheckpointRow> {
      const project = await readable(projectName);
      const workspace = core.workspaceOf(actor);
      const chosen = name ?? `checkpoint-${project.version}-${workspace}`;
      if (!CHECKPOINT_NAME.test(chosen) || looksLikeOtherPoint(chosen)) {
        throw invalidInput(
          `checkpoint name '${chosen}' is not usable: letters, digits, . _ - (up to 64), not 'committed', a version id, a SHA, a time or 'Task #…'`,
        );
      }
      const row = await insertCheckpoint(sql, {
        projectId: project.id,
        name: chosen,
        workspace,
        principal: actor.principal,
      });
      if (!row)
        throw alreadyExists(`checkpoint '${chosen}' exists in project '${projectName}': choose another name`);
      return row;
    },

    async checkpoints(projectName: string, limit: number): Promise<CheckpointRow[]> {
      const project = await readable(projectName);
      return selectCheckpoints(sql, project.id, limit);
    },
  };
}

export type HistoryService = ReturnType<typeof createHistoryService>;

function describe(row: VersionRow): FileVersion {
  return {
    id: `v${row.id}`,
    path: row.path,
    workspace: row.workspace,
    op: row.op,
    etag: row.op === 'upsert' && row.content_hash ? etagOf(row.content_hash) : null,
    size: row.size,
    by: row.principal,
    at: row.created_at.toISOString(),
    how: row.kind,
    ...(row.workspace === null && row.task_id !== null
      ? { commit: { sha: row.git_sha, task: row.task_id } }
      : {}),
  };
}

function entryOf(row: VersionContent) {
  return {
    path: row.path,
    hash: row.content_hash!,
    etag: etagOf(row.content_hash!),
    size: row.size,
    mode: row.mode,
    state: row.workspace === null ? ('committed' as const) : ('modified' as const),
    conflict: false,
  };
}
