// Backups (seed 003, issue 20): each project's settings and committed tree copied to a target
// elsewhere (BACKUP_TARGET), incrementally (a manifest plus the content the target lacks), listed
// and restored from the target alone, so a backup outlives STOWAGE_HOME and the database. Taking
// one is take.ts, restoring one restore.ts; this module lists, takes and restores many, prunes
// past BACKUP_RETENTION_DAYS and schedules backups every BACKUP_INTERVAL_HOURS on one instance.
//
// Decisions:
// - Pruning removes the manifests older than the retention, except each project's newest (kept
//   however old, so a project archived or deleted long ago can still be restored), then content
//   no kept manifest names and written longer ago than the cleanup grace period. It runs after
//   the sweeper's scheduled backups and after `stowage backup` of every project; never while a
//   backup is being taken (a transaction advisory lock: shared for backups, exclusive for it).
// - A scheduled round backs up every project (not jobs) whose newest backup is older than the
//   interval, reading that from the target: so one backup per interval, whichever instance runs
//   the round, and the first round on a fresh home sees the backups already there.
// - Listing every project's backups shows each project's newest with how many are kept; listing
//   one project shows each of its backups, newest first.
import type { CallContext } from '../../call-context.js';
import { forbidden, isStowageError, notFound, StowageError } from '../../errors.js';
import {
  decodeManifest,
  parseBackupRef,
  parseManifestKey,
  type BackupKey,
  type BackupManifest,
} from '../../formats/backup-manifest.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { Logger } from '../../logger.js';
import type { ArtifactService } from '../artifacts.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { selectProject, selectProjectNamesToBackUp, tryAdvisoryXactLock } from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { startSweeper, type Sweeper } from '../maintenance/sweeper.js';
import type { ProjectService } from '../projects.js';
import { createBackupRestorer, type RestoredBackup } from './restore.js';
import { createBackupTaker, TARGET_LOCK, type BackupSummary, type TakenBackup } from './take.js';
import type { BackupTarget } from './target.js';

export type { BackupSummary, RestoredBackup, TakenBackup };

const ROUND_LOCK = 0x5707_bac0; // scheduled backups; the cleanup sweeper's is 0x5707c1ea
const DAY_MS = 86_400_000;
const PAGE = 200;

export interface BackupSettings {
  /** BACKUP_INTERVAL_HOURS; 0: no scheduled backups. */
  intervalHours: number;
  /** BACKUP_RETENTION_DAYS; 0: every backup is kept. */
  retentionDays: number;
  /** Content younger than this is never pruned (CLEANUP_GRACE_MINUTES). */
  graceMinutes: number;
}

export interface BackupDeps {
  sql: Sql;
  blobs: BlobStore;
  projects: ProjectService;
  artifacts: ArtifactService;
  limits: { totalBytes?: number | undefined };
  /** Undefined: no BACKUP_TARGET; every call says how to configure one. */
  target: BackupTarget | undefined;
  settings: BackupSettings;
}

export interface BackupListing extends BackupSummary {
  /** Listing every project: how many backups of this one the target keeps. */
  kept?: number;
}

export interface PruneReport {
  /** Why nothing was pruned (backups were being taken), if so. */
  skipped?: string;
  manifests: number;
  blobs: { count: number; bytes: number };
}

export interface Skipped {
  project: string;
  reason: string;
}

type Within = ((project: string) => boolean) | undefined;

export function createBackupService(deps: BackupDeps) {
  const { sql, target, settings } = deps;
  const taker = target && createBackupTaker({ ...deps, target });
  const restorer = target && createBackupRestorer({ ...deps, target });
  const configured = () => {
    if (!target || !taker || !restorer) {
      throw new StowageError(
        'unavailable',
        'backups are not configured on this server: set BACKUP_TARGET (a directory, or s3://bucket/prefix) and restart Stowage',
      );
    }
    return { target, taker, restorer };
  };

  /** The manifests in the target (of one project, or all), oldest first within each project. */
  async function keys(project?: string): Promise<BackupKey[]> {
    const listed = await configured().target.listManifests(project);
    return listed.map(parseManifestKey).filter((k): k is BackupKey => k !== undefined);
  }

  const summary = (k: BackupKey): BackupSummary => ({
    id: k.id,
    project: k.project,
    time: k.time.toISOString(),
    files: k.files,
    bytes: k.bytes,
  });

  async function list(project?: string, within?: Within): Promise<BackupListing[]> {
    const found = await keys(project);
    if (project !== undefined) return found.reverse().map(summary);
    const byProject = group(found);
    return [...byProject]
      .filter(([name]) => !within || within(name))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, mine]) => ({ ...summary(mine.at(-1)!), kept: mine.length }));
  }

  /** Backs up every live project (not jobs) `select` accepts; one that fails is reported, not
   *  fatal to the others. */
  async function takeAll(
    options: CallContext & { select?: Within } = {},
  ): Promise<{ backups: TakenBackup[]; skipped: Skipped[] }> {
    const { taker } = configured();
    const verified = new Set<string>();
    const backups: TakenBackup[] = [];
    const skipped: Skipped[] = [];
    for (let after = ''; ;) {
      const rows = await selectProjectNamesToBackUp(sql, after, PAGE);
      for (const { name } of rows) {
        if (options.signal?.aborted) return { backups, skipped };
        if (options.select && !options.select(name)) continue;
        try {
          backups.push(await taker.take(name, { signal: options.signal }, verified));
        } catch (err) {
          if (!(err instanceof StowageError)) throw err;
          skipped.push({ project: name, reason: err.message });
        }
        options.progress?.(backups.length + skipped.length, undefined, `backed up ${name}`);
      }
      if (rows.length < PAGE) return { backups, skipped };
      after = rows.at(-1)!.name;
    }
  }

  /** The backup `ref` names (an id, or a project: its newest), its manifest checked. */
  async function resolve(ref: string): Promise<BackupManifest> {
    const { target } = configured();
    const { project, id } = parseBackupRef(ref);
    const mine = await keys(project);
    const key = id === undefined ? mine.at(-1) : mine.find((k) => k.id === id);
    if (!key) {
      throw notFound(
        id === undefined
          ? `no backup of project '${project}' in the backup target: list them with backup {list: true}`
          : `backup ${id} not found in the backup target: list them with backup {list: true, project: '${project}'}`,
      );
    }
    return decodeManifest(await target.readManifest(key.key), key.id);
  }

  async function restore(
    ref: string,
    call: CallContext & { principal: string; into?: string | undefined; allowed?: Within },
  ): Promise<RestoredBackup> {
    const { restorer } = configured();
    const { project } = parseBackupRef(ref);
    if (call.allowed && !call.allowed(project)) {
      throw forbidden(`backup ${ref} is of project '${project}', outside this token's projects`);
    }
    const manifest = await resolve(ref);
    return restorer.restore(manifest, call.into ?? manifest.project, call);
  }

  /** Restores the newest backup of every project in the target that is not a live project here;
   *  `present`: those that are, left alone. */
  async function restoreAll(call: CallContext & { principal: string }) {
    const { restorer } = configured();
    const restored: RestoredBackup[] = [];
    const present: string[] = [];
    const failed: Skipped[] = [];
    for (const [project] of group(await keys())) {
      if (await selectProject(sql, project, false)) {
        present.push(project);
        continue;
      }
      try {
        restored.push(await restorer.restore(await resolve(project), project, call));
      } catch (err) {
        if (!(err instanceof StowageError)) throw err;
        failed.push({ project, reason: err.message });
      }
    }
    return { restored, present, failed };
  }

  async function prune(now = new Date()): Promise<PruneReport> {
    const { target } = configured();
    return sql.transaction(async (tx) => {
      const report: PruneReport = { manifests: 0, blobs: { count: 0, bytes: 0 } };
      if (!(await tryAdvisoryXactLock(tx, TARGET_LOCK))) {
        return { ...report, skipped: 'backups were being taken: the next prune will' };
      }
      const cutoff = settings.retentionDays > 0 ? now.getTime() - settings.retentionDays * DAY_MS : -Infinity;
      const kept: BackupKey[] = [];
      for (const mine of group(await keys()).values()) {
        for (const k of mine) {
          if (k === mine.at(-1) || k.time.getTime() >= cutoff) {
            kept.push(k);
            continue;
          }
          await target.deleteManifest(k.key);
          report.manifests++;
        }
      }
      const named = new Set<string>();
      let unreadable = false;
      await mapBounded(kept, 8, async (k) => {
        try {
          for (const f of decodeManifest(await target.readManifest(k.key), k.id).files) named.add(f.hash);
        } catch (err) {
          if (!isStowageError(err, 'invalid_input') && !isStowageError(err, 'not_found')) throw err;
          unreadable = true;
        }
      });
      // What a damaged manifest names is unknown: its content stays until it is removed.
      if (unreadable) return { ...report, skipped: 'a kept manifest is damaged, so no content was pruned' };
      const grace = new Date(now.getTime() - settings.graceMinutes * 60_000);
      for await (const entries of target.blobs.list()) {
        for (const entry of entries) {
          if (entry.id !== undefined && named.has(entry.id)) continue;
          if (await target.blobs.reclaim(entry, grace)) {
            report.blobs.count++;
            report.blobs.bytes += entry.size;
          }
        }
      }
      return report;
    });
  }

  /** A round of the schedule: every project due, then a prune if any was backed up. */
  async function scheduledRound() {
    const newest = new Map([...group(await keys())].map(([p, mine]) => [p, mine.at(-1)!.time.getTime()]));
    const dueBefore = Date.now() - settings.intervalHours * 3_600_000;
    const { backups, skipped } = await takeAll({
      select: (p) => !((newest.get(p) ?? -Infinity) > dueBefore),
    });
    const pruned = backups.length ? await prune() : undefined;
    return { taken: backups.map((b) => b.id), skipped, pruned };
  }

  return {
    /** Whether BACKUP_TARGET is set. */
    configured: target !== undefined,
    list,
    take: (project: string, call: CallContext = {}) => configured().taker.take(project, call, new Set()),
    takeAll,
    resolve,
    restore,
    restoreAll,
    prune,

    /** Backs up what is due every BACKUP_INTERVAL_HOURS (checking at least hourly), on one
     *  instance at a time; nothing without a target or an interval. */
    startSchedule(logger: Logger): Sweeper {
      if (!target || !(settings.intervalHours > 0)) return { stop: () => Promise.resolve() };
      return startSweeper(sql, scheduledRound, {
        intervalMinutes: Math.min(settings.intervalHours * 60, 60),
        logger,
        lock: { key: ROUND_LOCK, what: 'backup' },
      });
    },
  };
}

export type BackupService = ReturnType<typeof createBackupService>;

/** Keys by project, each project's oldest first. */
function group(keys: readonly BackupKey[]): Map<string, BackupKey[]> {
  const byProject = new Map<string, BackupKey[]>();
  for (const k of [...keys].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    const mine = byProject.get(k.project) ?? [];
    mine.push(k);
    byProject.set(k.project, mine);
  }
  return byProject;
}
