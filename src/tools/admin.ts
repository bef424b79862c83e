// Admin tools: cleanup, storage_stats, delete_project.
import { z } from 'zod';
import type { Access } from '../access.js';
import { runCleanup } from '../store/maintenance/run-cleanup.js';
import { canSee } from '../store/visibility.js';
import type { ProjectRef } from '../store/projects.js';
import { defineTool, projectArg, READ } from './define.js';

/** What an admin acts on: everything with a `*` admin token, else only the projects it may see. */
const withinOf = (access: Access) => (access.global ? undefined : (p: ProjectRef) => canSee(access, p));

const freed = z.object({ count: z.number(), bytes: z.number() });
const removed = z.object({
  count: z.number(),
  names: z.array(z.string()).describe('The first 50'),
  files: z.number().describe('Committed files and drafts removed'),
  bytes: z.number().describe('Artifact and inline draft bytes; their blobs count under blobs'),
});

const cleanup = defineTool({
  name: 'cleanup',
  toolset: 'admin',
  title: 'Clean up storage',
  description:
    'Remove expired jobs and artifacts, old draft versions, unused blobs; older_than_hours also finished jobs and deleted projects that old. dry_run reports.',
  input: {
    dry_run: z.boolean().optional(),
    older_than_hours: z.number().min(0).optional(),
    archive_idle_days: z.number().positive().optional(),
  },
  output: {
    dry_run: z.boolean(),
    expired_jobs: removed.describe('Content removed; the job stays, status expired'),
    purged_projects: removed.describe('Soft-deleted projects removed for good'),
    expired_artifacts: freed,
    pruned_versions: z.number(),
    blobs: freed,
    bytes_freed: z.number(),
    archived: z.array(z.string()).optional(),
    not_archived: z.array(z.object({ project: z.string(), reason: z.string() })).optional(),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handle({ dry_run, older_than_hours, archive_idle_days }, { stowage, access }) {
    const dryRun = dry_run ?? false;
    const within = withinOf(access);
    const { report, summary } = await runCleanup(stowage, {
      dryRun,
      olderThanHours: older_than_hours,
      within,
    });
    if (archive_idle_days === undefined) return { structured: report, summary };
    // Idle projects archived on demand (seed 003's archive_old_projects), as the sweeper does
    // with AUTO_ARCHIVE_DAYS: those with drafts are left alone.
    const idle = await stowage.lifecycle.archiveIdleProjects({
      days: archive_idle_days,
      dryRun,
      // Only projects (not jobs) go idle: the caller's patterns decide, as canSee does for them.
      within: access.global ? undefined : (name) => access.allows(name),
    });
    const verb = dryRun ? 'would archive' : 'archived';
    return {
      structured: { ...report, archived: idle.archived, not_archived: idle.skipped },
      summary: `${summary}; ${verb} ${idle.archived.length} project(s) idle ${archive_idle_days} day(s)${idle.skipped.length ? `, ${idle.skipped.length} left (see not_archived)` : ''}`,
    };
  },
});

const count = z.object({ count: z.number(), bytes: z.number() });

const storageStats = defineTool({
  name: 'storage_stats',
  toolset: 'admin',
  title: 'Storage statistics',
  description:
    'Storage use (all projects or one): files, drafts, dedup, jobs, artifacts, quotas, cache hits.',
  input: { project: projectArg.optional() },
  output: {
    project: z.string().optional(),
    projects: z.record(z.string(), z.number()).optional().describe('By status; deleted: soft-deleted'),
    files: count,
    drafts: count,
    dedup: z.object({ referenced_bytes: z.number(), stored_bytes: z.number(), saved_bytes: z.number() }),
    blobs: count,
    jobs: z.record(z.string(), z.number()),
    artifacts: count,
    quota: z.object({ used_bytes: z.number(), limit_bytes: z.number().nullable() }),
    cache: z.object({
      hits: z.number(),
      misses: z.number(),
      hit_rate: z.number(),
      bytes: z.number(),
      entries: z.number(),
      max_bytes: z.number(),
    }),
  },
  annotations: READ,
  async handle({ project }, { stowage, access }) {
    const stats = await stowage.maintenance.stats(project, withinOf(access));
    const limit = stats.quota.limit_bytes === null ? 'no limit' : `limit ${stats.quota.limit_bytes}`;
    return {
      structured: stats,
      summary: `${project ?? 'all projects'}: ${stats.files.count} file(s), ${stats.quota.used_bytes} bytes used (${limit}), ${stats.dedup.saved_bytes} saved by dedup`,
    };
  },
});

const deleteProject = defineTool({
  name: 'delete_project',
  toolset: 'admin',
  title: 'Delete project',
  description:
    'Delete a project: its name is free at once, its data kept until cleanup older_than_hours, or gone now with hard: true.',
  input: {
    project: projectArg,
    hard: z.boolean().optional(),
  },
  output: {
    project: z.string(),
    hard: z.boolean(),
    files: z.number().describe('Committed files and drafts removed'),
    bytes_freed: z.number().describe('Artifact and inline draft bytes; blobs go at the next cleanup'),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  async handle({ project, hard }, { stowage, principal }) {
    const result = await stowage.maintenance.deleteProject(project, { hard: hard ?? false, principal });
    return {
      structured: result,
      summary: result.hard
        ? `deleted project ${project} for good: ${result.files} file(s), ${result.bytes_freed} bytes freed`
        : `deleted project ${project}; its data stays until delete_project {hard: true} or cleanup with older_than_hours`,
    };
  },
});

export default [cleanup, storageStats, deleteProject];
