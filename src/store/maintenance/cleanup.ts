// Keeping storage in bounds: cleanup (expired jobs and artifacts, purged projects, unreferenced
// blobs, and what crashes left in the stores), the sweeper that runs it, project deletion and
// storage statistics.
import { notFound } from '../../errors.js';
import { collectStrayArtifacts } from './artifact-gc.js';
import { collectBlobs, collectStrayBlobs, countCollectableBlobs, type Freed } from './blob-gc.js';
import { bumpVersion, recordChange } from '../changes.js';
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

interface Target extends ProjectRef {
  id: string;
  files: number;
  bytes: number;
}

// $1 is older_than_hours, or NULL.
const olderThan = (column: string) => `coalesce(${column} < now() - $1::float8 * interval '1 hour', false)`;
const HAS_CONTENT = `(EXISTS (SELECT 1 FROM files WHERE project_id = p.id)
  OR EXISTS (SELECT 1 FROM drafts WHERE project_id = p.id) OR EXISTS (SELECT 1 FROM artifacts WHERE project_id = p.id))`;
const PURGE = `p.deleted_at IS NOT NULL AND ${olderThan('p.deleted_at')}`;
const EXPIRE = `p.kind = 'job' AND NOT (${PURGE})
  AND (p.expires_at < now() OR (p.status IN ('complete', 'failed') AND ${olderThan('p.updated_at')}))
  AND (p.status <> 'expired' OR ${HAS_CONTENT})`;
const MEASURE = `(SELECT count(*) FROM files WHERE project_id = p.id)::int
    + (SELECT count(*) FROM drafts WHERE project_id = p.id)::int AS files,
  (SELECT coalesce(sum(size), 0) FROM drafts WHERE project_id = p.id AND content IS NOT NULL)::bigint
    + (SELECT coalesce(sum(size), 0) FROM artifacts WHERE project_id = p.id)::bigint AS bytes`;

const ARTIFACT_BATCH = 100;
const NAMES_SHOWN = 50;

/** What the maintenance service is built from (stowage.ts wires it). */
export interface MaintenanceDeps {
  sql: Sql;
  blobs: BlobStore;
  artifacts: ArtifactService;
  /** Its hit rate is part of the storage statistics. */
  cache: Pick<BlobCache, 'stats'>;
  limits: QuotaLimits;
  settings: { cleanupGraceMinutes: number; totalBytes: number };
}

export function createMaintenanceService(base: MaintenanceDeps) {
  const { sql } = base;
  const artifactStore = base.artifacts.store;

  /** Deletes a project's content rows, then its artifacts' bytes, inside the caller's
   *  transaction: if a byte deletion fails, every row comes back. */
  async function removeContent(tx: Queryable, projectId: string) {
    const artifacts = await tx.query<{ id: string }>(
      `DELETE FROM artifacts WHERE project_id = $1 RETURNING id`,
      [projectId],
    );
    for (const table of ['drafts', 'files', 'commits', 'events']) {
      await tx.query(`DELETE FROM ${table} WHERE project_id = $1`, [projectId]);
    }
    await mapBounded(artifacts, 8, (a) => artifactStore.delete(a.id));
  }

  /** Each target in its own transaction, re-checked under the row lock. */
  async function removeEach(
    targets: readonly Target[],
    where: string,
    hours: number | null,
    expire: boolean,
  ) {
    const done: Target[] = [];
    for (const target of targets) {
      const row = await sql.transaction(async (tx) => {
        const [locked] = await tx.query<Target>(
          `SELECT p.id, p.name, ${MEASURE} FROM projects p WHERE ${where} AND p.id = $2 FOR UPDATE OF p`,
          [hours, target.id],
        );
        if (!locked) return undefined;
        await removeContent(tx, locked.id);
        // An expired job's events went with its content: its version moves, with nothing to log.
        if (expire) await bumpVersion(tx, locked.id, 'expired');
        else await tx.query(`DELETE FROM projects WHERE id = $1`, [locked.id]);
        return locked;
      });
      if (row) done.push(row);
    }
    return done;
  }

  /** The ids of every project, deleted ones included, that `within` accepts. */
  async function idsWithin(within: (project: ProjectRef) => boolean): Promise<string[]> {
    const rows = await sql.query<ProjectRef & { id: string }>(
      `SELECT id, name, kind, created_by, owner_projects FROM projects`,
    );
    return rows.filter(within).map((r) => r.id);
  }

  /** Expired artifacts, of the projects `ids` (null: all). */
  async function deleteExpiredArtifacts(ids: readonly string[] | null): Promise<Freed> {
    const freed: Freed = { count: 0, bytes: 0 };
    for (;;) {
      const rows = await sql.transaction(async (tx) => {
        const deleted = await tx.query<{ id: string; size: number }>(
          `DELETE FROM artifacts WHERE (project_id, id) IN (
             SELECT project_id, id FROM artifacts WHERE expires_at < now() AND ($2::uuid[] IS NULL OR project_id = ANY($2))
             ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, size`,
          [ARTIFACT_BATCH, ids],
        );
        await mapBounded(deleted, 8, (a) => artifactStore.delete(a.id));
        return deleted;
      });
      freed.count += rows.length;
      freed.bytes += rows.reduce((n, r) => n + r.size, 0);
      if (rows.length < ARTIFACT_BATCH) return freed;
    }
  }

  async function cleanup({ dryRun, olderThanHours, within }: CleanupOptions): Promise<CleanupReport> {
    const hours = olderThanHours ?? null;
    const grace = base.settings.cleanupGraceMinutes;
    const plan = async (where: string) => {
      const targets = await sql.query<Target>(
        `SELECT p.id, p.name, p.kind, p.created_by, p.owner_projects, ${MEASURE}
         FROM projects p WHERE ${where} ORDER BY p.name`,
        [hours],
      );
      return within ? targets.filter(within) : targets;
    };
    const jobs = await plan(EXPIRE);
    const purge = await plan(PURGE);
    const ids = within ? await idsWithin(within) : null;
    const noBlobs: Freed = { count: 0, bytes: 0 };
    // Stray blob-store entries are a question over every tenant, like unreferenced blobs.
    const strayBlobs = async () => (within ? noBlobs : collectStrayBlobs(sql, base.blobs, grace, dryRun));
    if (dryRun) {
      const removing = [...jobs, ...purge].map((t) => t.id);
      const [expired] = await sql.query<Freed>(
        `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM artifacts
         WHERE expires_at < now() AND project_id <> ALL($1::uuid[]) AND ($2::uuid[] IS NULL OR project_id = ANY($2))`,
        [removing, ids],
      );
      const stray = await collectStrayArtifacts(sql, artifactStore, {
        graceMinutes: grace,
        ids,
        dryRun,
        removing,
      });
      const blobs = within ? noBlobs : await countCollectableBlobs(sql, grace, removing);
      return report(true, jobs, purge, sum(expired!, stray), sum(blobs, await strayBlobs()));
    }
    const expired = await removeEach(jobs, EXPIRE, hours, true);
    const purged = await removeEach(purge, PURGE, hours, false);
    const artifacts = await deleteExpiredArtifacts(ids);
    const stray = await collectStrayArtifacts(sql, artifactStore, { graceMinutes: grace, ids, dryRun });
    const blobs = within ? noBlobs : await collectBlobs(sql, base.blobs, grace);
    return report(false, expired, purged, sum(artifacts, stray), sum(blobs, await strayBlobs()));
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
          const [row] = await tx.query<{ id: string; version: number }>(
            `UPDATE projects SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL RETURNING id, version`,
            [name],
          );
          if (row) await recordChange(tx, row.id, { principal, kind: 'project.delete', at: row.version });
          return row;
        });
        if (!gone) throw projectNotFound(name);
        return { project: name, hard, files: 0, bytes_freed: 0 };
      }
      const removed = await sql.transaction(async (tx) => {
        const rows = await tx.query<Target>(
          `SELECT p.id, p.name, ${MEASURE} FROM projects p
           WHERE p.name = $1 AND (p.deleted_at IS NULL
             OR NOT EXISTS (SELECT 1 FROM projects l WHERE l.name = $1 AND l.deleted_at IS NULL))
           FOR UPDATE OF p`,
          [name],
        );
        for (const row of rows) {
          await removeContent(tx, row.id);
          await tx.query(`DELETE FROM projects WHERE id = $1`, [row.id]);
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

function summarize(targets: readonly Target[]): RemovedProjects {
  return {
    count: targets.length,
    names: targets.slice(0, NAMES_SHOWN).map((t) => t.name),
    files: targets.reduce((n, t) => n + t.files, 0),
    bytes: targets.reduce((n, t) => n + t.bytes, 0),
  };
}

function report(
  dryRun: boolean,
  jobs: readonly Target[],
  purged: readonly Target[],
  artifacts: Freed,
  blobs: Freed,
): CleanupReport {
  const expired_jobs = summarize(jobs);
  const purged_projects = summarize(purged);
  return {
    dry_run: dryRun,
    expired_jobs,
    purged_projects,
    expired_artifacts: artifacts,
    blobs,
    bytes_freed: expired_jobs.bytes + purged_projects.bytes + artifacts.bytes + blobs.bytes,
  };
}

const projectNotFound = (name: string) =>
  notFound(
    `project '${name}' not found: check the name with list_projects (deleted projects are not listed)`,
  );
