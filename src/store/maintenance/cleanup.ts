// Keeping storage in bounds: cleanup (expired jobs and artifacts, purged projects, unreferenced
// blobs, and what crashes left in the stores), the sweeper that runs it, project deletion and
// storage statistics.
import { notFound } from '../../errors.js';
import { collectStrayArtifacts } from './artifact-gc.js';
import { collectBlobs, collectStrayBlobs, type Freed } from './blob-gc.js';
import { bumpVersion, recordChange } from '../changes.js';
import {
  countCollectableBlobs,
  countPrunableVersions,
  countExpiredArtifacts,
  deleteExpiredArtifactBatch,
  deleteProjectContent,
  deleteProjectRow,
  lockDueProject,
  lockProjectsNamed,
  pruneVersions,
  selectAllProjectRefs,
  selectDueProjects,
  softDeleteProject,
  type CleanupTarget,
  type Due,
  type MeasuredProject,
} from '../db/queries/index.js';
import type { Queryable, Sql } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { getProject, type ProjectRef } from '../projects.js';
import { projectLimit, type QuotaLimits } from '../quota.js';
import type { ArtifactService } from '../artifacts.js';
import type { BlobCache } from '../blobs/blob-cache.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { storageStats } from './stats.js';
import { startSweeper, type SweeperOptions } from './sweeper.js';

export type { StorageStats } from './stats.js';
export type { Sweeper, SweeperOptions } from './sweeper.js';

export interface CleanupOptions {
  dryRun: boolean;
  /** Only the projects (and jobs) this accepts; absent: everything, blobs included. A scoped
   *  cleanup leaves blobs alone: whether one is still needed is a question over every tenant. */
  within?: ((project: ProjectRef) => boolean) | undefined;
  /** Also expire jobs finished (complete or failed) and purge projects soft-deleted this long ago. */
  olderThanHours?: number | undefined;
}

/** Projects whose content was removed. `files`: committed files and drafts; `bytes`: what was
 *  freed directly (artifacts, inline drafts). Their blobs are counted under `blobs` once no longer
 *  referenced and past the grace period. */
export interface RemovedProjects {
  count: number;
  /** The first 50 names. */
  names: string[];
  files: number;
  bytes: number;
}

export interface CleanupReport {
  dry_run: boolean;
  /** Jobs past their expiry: content removed, the row kept with status 'expired'. */
  expired_jobs: RemovedProjects;
  /** Soft-deleted projects removed for good (only with older_than_hours). */
  purged_projects: RemovedProjects;
  /** Expired artifacts, and those nothing will use any more (artifact-gc.ts). */
  expired_artifacts: Freed;
  /** Draft versions past HISTORY_RETENTION_DAYS that nothing needs (history/). */
  pruned_versions: number;
  /** Unreferenced blobs, and blob-store entries without a row (strays.ts). */
  blobs: Freed;
  bytes_freed: number;
}

export interface DeleteResult {
  project: string;
  hard: boolean;
  files: number;
  bytes_freed: number;
}

const ARTIFACT_BATCH = 100;
const VERSION_BATCH = 10_000;
const NAMES_SHOWN = 50;

/** What the maintenance service is built from (stowage.ts wires it). */
export interface MaintenanceDeps {
  sql: Sql;
  blobs: BlobStore;
  artifacts: ArtifactService;
  /** Its hit rate is part of the storage statistics. */
  cache: Pick<BlobCache, 'stats'>;
  limits: QuotaLimits;
  settings: { cleanupGraceMinutes: number; totalBytes: number; historyRetentionDays: number };
}

export function createMaintenanceService(base: MaintenanceDeps) {
  const { sql } = base;
  const artifactStore = base.artifacts.store;
  const retention = base.settings.historyRetentionDays;

  /** Deletes a project's content rows, then its artifacts' bytes, inside the caller's
   *  transaction: if a byte deletion fails, every row comes back. */
  async function removeContent(tx: Queryable, projectId: string) {
    const artifacts = await deleteProjectContent(tx, projectId);
    await mapBounded(artifacts, 8, (id) => artifactStore.delete(id));
  }

  /** Each target in its own transaction, re-checked under the row lock. */
  async function removeEach(targets: readonly CleanupTarget[], due: Due, hours: number | null) {
    const done: MeasuredProject[] = [];
    for (const target of targets) {
      const row = await sql.transaction(async (tx) => {
        const locked = await lockDueProject(tx, due, hours, target.id);
        if (!locked) return undefined;
        await removeContent(tx, locked.id);
        // An expired job's events went with its content: its version moves, with nothing to log.
        if (due === 'expire') await bumpVersion(tx, locked.id, 'expired');
        else await deleteProjectRow(tx, locked.id);
        return locked;
      });
      if (row) done.push(row);
    }
    return done;
  }

  /** The ids of every project, deleted ones included, that `within` accepts. */
  async function idsWithin(within: (project: ProjectRef) => boolean): Promise<string[]> {
    const rows = await selectAllProjectRefs(sql);
    return rows.filter(within).map((r) => r.id);
  }

  /** Expired artifacts, of the projects `ids` (null: all). */
  async function deleteExpiredArtifacts(ids: readonly string[] | null): Promise<Freed> {
    const freed: Freed = { count: 0, bytes: 0 };
    for (;;) {
      const rows = await sql.transaction(async (tx) => {
        const deleted = await deleteExpiredArtifactBatch(tx, ARTIFACT_BATCH, ids);
        await mapBounded(deleted, 8, (a) => artifactStore.delete(a.id));
        return deleted;
      });
      freed.count += rows.length;
      freed.bytes += rows.reduce((n, r) => n + r.size, 0);
      if (rows.length < ARTIFACT_BATCH) return freed;
    }
  }

  /** Prunes the draft versions past retention that nothing needs, in batches. */
  async function pruneAll(ids: readonly string[] | null): Promise<number> {
    let pruned = 0;
    for (;;) {
      const n = await pruneVersions(sql, retention, ids, VERSION_BATCH);
      pruned += n;
      if (n < VERSION_BATCH) return pruned;
    }
  }

  async function cleanup({ dryRun, olderThanHours, within }: CleanupOptions): Promise<CleanupReport> {
    const hours = olderThanHours ?? null;
    const grace = base.settings.cleanupGraceMinutes;
    const plan = async (due: Due) => {
      const targets = await selectDueProjects(sql, due, hours);
      return within ? targets.filter(within) : targets;
    };
    const jobs = await plan('expire');
    const purge = await plan('purge');
    const ids = within ? await idsWithin(within) : null;
    const noBlobs: Freed = { count: 0, bytes: 0 };
    // Stray blob-store entries are a question over every tenant, like unreferenced blobs.
    const strayBlobs = async () => (within ? noBlobs : collectStrayBlobs(sql, base.blobs, grace, dryRun));
    if (dryRun) {
      const removing = [...jobs, ...purge].map((t) => t.id);
      const expired = await countExpiredArtifacts(sql, removing, ids);
      const stray = await collectStrayArtifacts(sql, artifactStore, {
        graceMinutes: grace,
        ids,
        dryRun,
        removing,
      });
      const versions = await countPrunableVersions(sql, retention, ids, removing);
      const blobs = within ? noBlobs : await countCollectableBlobs(sql, grace, removing, retention);
      return report(true, jobs, purge, sum(expired, stray), versions, sum(blobs, await strayBlobs()));
    }
    const expired = await removeEach(jobs, 'expire', hours);
    const purged = await removeEach(purge, 'purge', hours);
    const artifacts = await deleteExpiredArtifacts(ids);
    const stray = await collectStrayArtifacts(sql, artifactStore, { graceMinutes: grace, ids, dryRun });
    const versions = await pruneAll(ids);
    const blobs = within ? noBlobs : await collectBlobs(sql, base.blobs, grace);
    return report(false, expired, purged, sum(artifacts, stray), versions, sum(blobs, await strayBlobs()));
  }

  return {
    cleanup,

    /** Runs cleanup (then `extra`) every interval on one instance at a time; 0 minutes: never. */
    startSweeper: (options: SweeperOptions) => startSweeper(sql, () => cleanup({ dryRun: false }), options),

    /** Soft: the project disappears and its name is free; its data stays until a hard delete or
     *  cleanup with older_than_hours. Hard: the live project of that name (else what soft deletes
     *  left under it) goes with its artifacts; its blobs are collected once unreferenced. */
    async deleteProject(
      name: string,
      { hard, principal }: { hard: boolean; principal: string },
    ): Promise<DeleteResult> {
      if (!hard) {
        // Logged as an event, so listings of projects hear that it went (resources list_changed).
        const gone = await sql.transaction(async (tx) => {
          const row = await softDeleteProject(tx, name);
          if (row) await recordChange(tx, row.id, { principal, kind: 'project.delete', at: row.version });
          return row;
        });
        if (!gone) throw projectNotFound(name);
        return { project: name, hard, files: 0, bytes_freed: 0 };
      }
      const removed = await sql.transaction(async (tx) => {
        const rows = await lockProjectsNamed(tx, name);
        for (const row of rows) {
          await removeContent(tx, row.id);
          await deleteProjectRow(tx, row.id);
        }
        return rows;
      });
      if (!removed.length) throw projectNotFound(name);
      const files = removed.reduce((n, r) => n + r.files, 0);
      return { project: name, hard, files, bytes_freed: removed.reduce((n, r) => n + r.bytes, 0) };
    },

    /** Figures for one project, or every live project (`within`: those it accepts). */
    async stats(projectName?: string, within?: (project: ProjectRef) => boolean) {
      const project = projectName === undefined ? undefined : await getProject(sql, projectName);
      const limit = project
        ? projectLimit(project, base.limits)
        : within
          ? null
          : base.limits.totalBytes || base.settings.totalBytes || null;
      const ids = !project && within ? await idsWithin(within) : undefined;
      return storageStats(sql, { project, within: ids, limit, cache: base.cache.stats() });
    },
  };
}

export type MaintenanceService = ReturnType<typeof createMaintenanceService>;

const sum = (a: Freed, b: Freed): Freed => ({ count: a.count + b.count, bytes: a.bytes + b.bytes });

function summarize(targets: readonly MeasuredProject[]): RemovedProjects {
  return {
    count: targets.length,
    names: targets.slice(0, NAMES_SHOWN).map((t) => t.name),
    files: targets.reduce((n, t) => n + t.files, 0),
    bytes: targets.reduce((n, t) => n + t.bytes, 0),
  };
}

function report(
  dryRun: boolean,
  jobs: readonly MeasuredProject[],
  purged: readonly MeasuredProject[],
  artifacts: Freed,
  prunedVersions: number,
  blobs: Freed,
): CleanupReport {
  const expired_jobs = summarize(jobs);
  const purged_projects = summarize(purged);
  return {
    dry_run: dryRun,
    expired_jobs,
    purged_projects,
    expired_artifacts: artifacts,
    pruned_versions: prunedVersions,
    blobs,
    bytes_freed: expired_jobs.bytes + purged_projects.bytes + artifacts.bytes + blobs.bytes,
  };
}

const projectNotFound = (name: string) =>
  notFound(
    `project '${name}' not found: check the name with list_projects (deleted projects are not listed)`,
  );
