// Storage statistics, for everything or one project: files, drafts, what deduplication saves,
// jobs, artifacts, quota use and the blob cache. Soft-deleted projects are left out (except as a
// count): their data is counted by cleanup's report when it is purged.
import type { BlobCacheStats } from '../blobs/blob-cache.js';
import { blobTotals, countProjectsByStatus, selectStorageFigures } from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import type { Project } from '../projects.js';

export interface StorageStats {
  /** The project these figures are scoped to; absent: every live project (the caller's). */
  project?: string;
  /** Live projects by status, and soft-deleted ones (not for one project). */
  projects?: Record<string, number>;
  files: { count: number; bytes: number };
  /** Every workspace's changes; deletions count, with 0 bytes. */
  drafts: { count: number; bytes: number };
  /** referenced: sizes of all references (files and blob-stored drafts); stored: sizes of the
   *  distinct blobs behind them; saved: the difference. */
  dedup: { referenced_bytes: number; stored_bytes: number; saved_bytes: number };
  /** Everything: the whole blob table (unreferenced blobs included); a project, or a caller's
   *  projects: the blobs they use. */
  blobs: { count: number; bytes: number };
  jobs: Record<string, number>;
  artifacts: { count: number; bytes: number };
  /** used: committed files + drafts; limit: the project's quota, or MAX_TOTAL_BYTES (null: none). */
  quota: { used_bytes: number; limit_bytes: number | null };
  cache: {
    hits: number;
    misses: number;
    hit_rate: number;
    bytes: number;
    entries: number;
    max_bytes: number;
  };
}

export async function storageStats(
  sql: Queryable,
  input: {
    project: Project | undefined;
    /** Without a project: the ids of the projects a caller may see; absent: every project. */
    within?: readonly string[] | undefined;
    limit: number | null;
    cache: BlobCacheStats;
  },
): Promise<StorageStats> {
  const { project, cache } = input;
  const ids = project ? [project.id] : (input.within ?? null);
  const figures = await selectStorageFigures(sql, ids);
  const stats: StorageStats = {
    files: { count: figures.files, bytes: figures.file_bytes },
    drafts: { count: figures.drafts, bytes: figures.draft_bytes },
    dedup: {
      referenced_bytes: figures.referenced_bytes,
      stored_bytes: figures.stored_bytes,
      saved_bytes: figures.referenced_bytes - figures.stored_bytes,
    },
    blobs: { count: figures.blobs, bytes: figures.stored_bytes },
    jobs: project?.kind === 'job' ? { [project.status]: 1 } : {},
    artifacts: { count: figures.artifacts, bytes: figures.artifact_bytes },
    quota: { used_bytes: figures.file_bytes + figures.draft_bytes, limit_bytes: input.limit },
    cache: {
      hits: cache.hits,
      misses: cache.misses,
      hit_rate: cache.hits + cache.misses ? cache.hits / (cache.hits + cache.misses) : 0,
      bytes: cache.bytes,
      entries: cache.entries,
      max_bytes: cache.maxBytes,
    },
  };
  if (project) return { project: project.name, ...stats };

  const groups = await countProjectsByStatus(sql, ids);
  const tally = (kind: string) =>
    Object.fromEntries(groups.filter((g) => g.kind === kind).map((g) => [g.status, g.count]));
  if (ids) return { ...stats, projects: tally('project'), jobs: tally('job') };
  const blobs = await blobTotals(sql);
  return { ...stats, projects: tally('project'), blobs, jobs: tally('job') };
}
