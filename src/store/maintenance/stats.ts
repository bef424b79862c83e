// Storage statistics, for everything or one project: files, drafts, what deduplication saves,
// jobs, artifacts, quota use and the blob cache. Soft-deleted projects are left out (except as a
// count): their data is counted by cleanup's report when it is purged.
import type { BlobCacheStats } from '../blobs/blob-cache.js';
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

interface Figures {
  files: number;
  file_bytes: number;
  drafts: number;
  draft_bytes: number;
  referenced_bytes: number;
  blobs: number;
  stored_bytes: number;
  artifacts: number;
  artifact_bytes: number;
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
  const [f] = await sql.query<Figures>(
    `WITH scope AS (SELECT id FROM projects WHERE deleted_at IS NULL AND ($1::uuid[] IS NULL OR id = ANY($1))),
          f AS (SELECT f.blob_hash, f.size FROM files f JOIN scope s ON s.id = f.project_id),
          d AS (SELECT d.blob_hash, d.size FROM drafts d JOIN scope s ON s.id = d.project_id),
          refs AS (SELECT blob_hash, size FROM f UNION ALL SELECT blob_hash, size FROM d WHERE blob_hash IS NOT NULL),
          used AS (SELECT b.size FROM blobs b WHERE b.hash IN (SELECT blob_hash FROM refs))
     SELECT (SELECT count(*) FROM f)::int AS files, (SELECT coalesce(sum(size), 0) FROM f)::bigint AS file_bytes,
            (SELECT count(*) FROM d)::int AS drafts, (SELECT coalesce(sum(size), 0) FROM d)::bigint AS draft_bytes,
            (SELECT coalesce(sum(size), 0) FROM refs)::bigint AS referenced_bytes,
            (SELECT count(*) FROM used)::int AS blobs, (SELECT coalesce(sum(size), 0) FROM used)::bigint AS stored_bytes,
            (SELECT count(*) FROM artifacts a JOIN scope s ON s.id = a.project_id)::int AS artifacts,
            (SELECT coalesce(sum(a.size), 0) FROM artifacts a JOIN scope s ON s.id = a.project_id)::bigint AS artifact_bytes`,
    [ids],
  );
  const figures = f!;
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

  const groups = await sql.query<{ kind: string; status: string; count: number }>(
    `SELECT kind, CASE WHEN deleted_at IS NOT NULL THEN 'deleted'
                       WHEN kind = 'job' AND expires_at <= now() THEN 'expired' ELSE status END AS status,
            count(*)::int AS count
     FROM projects WHERE $1::uuid[] IS NULL OR id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2`,
    [ids],
  );
  const tally = (kind: string) =>
    Object.fromEntries(groups.filter((g) => g.kind === kind).map((g) => [g.status, g.count]));
  if (ids) return { ...stats, projects: tally('project'), jobs: tally('job') };
  const [blobs] = await sql.query<{ count: number; bytes: number }>(
    `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM blobs`,
  );
  return { ...stats, projects: tally('project'), blobs: blobs!, jobs: tally('job') };
}
