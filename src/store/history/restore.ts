// restore: makes a workspace's view of some paths (or all) what it was at a point, as ordinary
// drafts in one transaction. Nothing in history is overwritten: the restore is itself a set of
// new versions, undone by restoring again, and commit_task commits it like any change. Content is
// not copied: a restored draft names the version's blob (or holds its inline bytes).
import { recordChange } from '../changes.js';
import {
  deleteDrafts,
  selectViewAt,
  upsertDeletionDrafts,
  upsertDraftsFromVersions,
} from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { normalizePath } from '../../paths.js';
import { getProject } from '../projects.js';
import { checkWorkspaceBytes, refuseOverTotal, type QuotaLimits } from '../quota.js';
import type { Actor, WorkspaceCore } from '../workspace/core.js';
import { readView, type ViewEntry } from '../workspace/view.js';
import { resolvePoint, type MayRead, type Point } from './points.js';

export interface RestoreDeps {
  sql: Sql;
  core: Pick<WorkspaceCore, 'workspaceOf' | 'withWritableProject'>;
  limits: QuotaLimits;
}

/** What a path becomes: written (content of the point), or deleted (absent at the point). */
export interface Restored {
  path: string;
  action: 'write' | 'delete';
}

export interface RestoreResult {
  point: Point;
  restored: Restored[];
  /** Paths already as they were at the point. */
  unchanged: number;
  dry_run: boolean;
}

/** Restored paths logged one event each at most; more are logged as one event of the project. */
const EVENT_PATHS = 100;

export function createRestore({ sql, core, limits }: RestoreDeps) {
  return async function restore(
    projectName: string,
    actor: Actor,
    to: string,
    options: { paths?: readonly string[] | undefined; dryRun: boolean; mayRead: MayRead },
  ): Promise<RestoreResult> {
    const workspace = core.workspaceOf(actor);
    const paths = options.paths?.map((p) => normalizePath(p)) ?? null;
    const point = await resolvePoint(sql, await getProject(sql, projectName), to, workspace, options.mayRead);
    return core.withWritableProject(projectName, async (tx, project) => {
      // Sent together: Postgres reads the workspace's view while the point's rows are parsed here.
      const [at, view] = await Promise.all([
        selectViewAt(tx, project.id, point, paths, false),
        readView(tx, project.id, workspace),
      ]);
      const target = new Map(at.map((r) => [r.path, r]));
      const byPath = new Map(view.map((e) => [e.path, e]));
      const current = new Map(view.filter((e) => e.state !== 'deleted').map((e) => [e.path, e]));
      const wanted = paths ?? [...new Set([...target.keys(), ...current.keys()])].sort();
      const writes: string[] = [];
      const reverts: string[] = [];
      const deletions: ViewEntry[] = [];
      const drops: string[] = [];
      const restored: Restored[] = [];
      let unchanged = 0;
      for (const path of wanted) {
        const want = target.get(path);
        const have = current.get(path);
        if (want?.op === 'upsert') {
          if (have?.hash === want.content_hash) unchanged++;
          else {
            restored.push({ path, action: 'write' });
            // Back to the committed content: the draft goes, as a write of it would drop it.
            if (want.content_hash === byPath.get(path)?.committedHash) reverts.push(path);
            else writes.push(want.id);
          }
        } else if (!have) unchanged++;
        else {
          restored.push({ path, action: 'delete' });
          if (have.committedHash) deletions.push(have);
          else drops.push(path);
        }
      }
      const result = { point, restored, unchanged, dry_run: options.dryRun };
      if (options.dryRun || !restored.length) return result;
      const before = view.reduce((n, e) => n + e.size, 0);
      const sizeOf = (path: string) => current.get(path)?.size ?? 0;
      const after =
        before +
        restored.reduce(
          (n, r) => n + (r.action === 'write' ? target.get(r.path)!.size : 0) - sizeOf(r.path),
          0,
        );
      if (after > before) checkWorkspaceBytes(project, after, limits);
      // A restore of many paths is logged as one change of the project (its subscribers all hear
      // of it), not an event per path: 2,000 rows were a tenth of the time a whole-tree restore took.
      const many = restored.length > EVENT_PATHS;
      const version = await recordChange(tx, project.id, {
        principal: actor.principal,
        workspace,
        kind: 'file.restore',
        paths: many ? undefined : restored.map((r) => r.path),
        detail: many ? { to, paths: restored.length } : { to },
      });
      const draft = { projectId: project.id, workspace, version, principal: actor.principal };
      if (writes.length) await upsertDraftsFromVersions(tx, { ...draft, ids: writes });
      if (reverts.length || drops.length)
        await deleteDrafts(tx, project.id, workspace, [...reverts, ...drops]);
      if (deletions.length) {
        await upsertDeletionDrafts(tx, {
          ...draft,
          paths: deletions.map((e) => e.path),
          bases: deletions.map((e) => e.committedHash),
        });
      }
      if (after > before) await refuseOverTotal(tx, limits.totalBytes, `restoring to '${to}'`);
      return result;
    });
  };
}
