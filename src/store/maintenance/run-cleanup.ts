// Cleanup as the cleanup tool and `stowage cleanup` run it: the report, and one line saying what
// was removed (or, on a dry run, what would be).
import type { CleanupOptions, CleanupReport, MaintenanceService } from './cleanup.js';

/** Runs cleanup (or, with dryRun, reports what it would remove) and says it in one line. */
export async function runCleanup(
  services: { maintenance: Pick<MaintenanceService, 'cleanup'> },
  options: CleanupOptions,
): Promise<{ report: CleanupReport; summary: string }> {
  const report = await services.maintenance.cleanup(options);
  const parts = [
    `${report.expired_jobs.count} expired job(s)`,
    `${report.purged_projects.count} deleted project(s)`,
    `${report.expired_artifacts.count} artifact(s)`,
    `${report.pruned_versions} old draft version(s)`,
    `${report.blobs.count} blob(s)`,
  ];
  const scope = options.within
    ? ' in your projects (blobs are collected by a cleanup over all projects)'
    : '';
  const summary = report.dry_run
    ? `dry run: would remove ${parts.join(', ')}${scope}, freeing ${report.bytes_freed} bytes; nothing was changed`
    : `removed ${parts.join(', ')}${scope}: ${report.bytes_freed} bytes freed`;
  return { report, summary };
}
