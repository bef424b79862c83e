// restore: makes a workspace's view of some paths (or all) what it was at a point, as ordinary
// drafts in one transaction. Nothing in history is overwritten: the restore is itself a set of
// new versions, undone by restoring again, and commit_task commits it like any change. Content is
// not copied: a restored draft names the version's blob (or holds its inline bytes). The point's
// view and the workspace's are compared in Postgres (selectRestoreSteps): reading both here, two
// rows a path, took longer than the comparison.
import { recordChange } from '../changes.js';
import {
  deleteDrafts,
  selectRestoreSteps,
  upsertDeletionDrafts,
  upsertDraftsFromVersions,
  viewBytes,
  type RestoreStep,
} from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { normalizePath } from '../../paths.js';
import { getProject } from '../projects.js';
import { checkWorkspaceBytes, refuseOverTotal, type QuotaLimits } from '../quota.js';
import type { Actor, WorkspaceCore } from '../workspace/core.js';
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

/** A step that leaves content at its path: a version's, or the committed one (a revert). */
const writes = (s: RestoreStep) => s.action === 'write' || s.action === 'revert';

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
      const steps = await selectRestoreSteps(tx, project.id, point, workspace, paths);
      // In the order the paths were asked for (else path order, as the steps come).
      const asked = paths && new Map([...new Set(paths)].map((p, i) => [p, i]));
      const taken = steps.filter((s) => s.action !== null);
      if (asked) taken.sort((a, b) => asked.get(a.path)! - asked.get(b.path)!);
      const restored: Restored[] = taken.map((s) => ({
        path: s.path,
        action: writes(s) ? 'write' : 'delete',
      }));
      const unchanged = (asked ? asked.size : steps.length) - taken.length;
      const result = { point, restored, unchanged, dry_run: options.dryRun };
      if (options.dryRun || !restored.length) return result;
      const of = (action: RestoreStep['action']) => taken.filter((s) => s.action === action);
      // What the workspace grows by; only growth is checked against the quotas.
      const grows = taken.reduce((n, s) => n + (writes(s) ? s.want_size : 0) - s.have_size, 0);
      if (grows > 0) {
        const before = (await viewBytes(tx, project.id, [workspace])).get(workspace) ?? 0;
        checkWorkspaceBytes(project, before + grows, limits);
      }
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
      const versions = of('write');
      const gone = [...of('revert'), ...of('drop')].map((s) => s.path);
      const deletions = of('delete');
      if (versions.length) await upsertDraftsFromVersions(tx, { ...draft, ids: versions.map((s) => s.id!) });
      if (gone.length) await deleteDrafts(tx, project.id, workspace, gone);
      if (deletions.length) {
        await upsertDeletionDrafts(tx, {
          ...draft,
          paths: deletions.map((s) => s.path),
          bases: deletions.map((s) => s.committed),
        });
      }
      if (grows > 0) await refuseOverTotal(tx, limits.totalBytes, `restoring to '${to}'`);
      return result;
    });
  };
}
