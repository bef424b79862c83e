// Artifacts nothing will use any more, beyond the expired ones: archives that are not the current
// archive of an archived project (a crash between an archive's row and its transaction left one
// in earlier versions, which neither a retry, a restore nor an expiry removed), and what crashes
// leave in the artifact store without a row (strays.ts). Only those older than the grace period.
import type { ArtifactStore } from '../blobs/artifact-store.js';
import type { Freed } from './blob-gc.js';
import type { Sql } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { collectStrays, minutesAgo } from './strays.js';

const BATCH = 100;

// $1: grace minutes; $2: the projects in scope (NULL: all).
const STALE_ARCHIVE = `a.kind = 'archive' AND a.created_at < now() - $1::float8 * interval '1 minute'
  AND ($2::uuid[] IS NULL OR a.project_id = ANY($2))
  AND (NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = a.project_id AND p.status = 'archived')
    OR EXISTS (SELECT 1 FROM artifacts n WHERE n.project_id = a.project_id AND n.kind = 'archive'
               AND n.created_at > a.created_at))`;

export interface StrayArtifactOptions {
  graceMinutes: number;
  /** The projects in scope; null: all, and then also the store's entries without a row. */
  ids: readonly string[] | null;
  dryRun: boolean;
  /** With dryRun: projects the same cleanup removes (their artifacts are counted there). */
  removing?: readonly string[] | undefined;
}

export async function collectStrayArtifacts(
  sql: Sql,
  store: ArtifactStore,
  { graceMinutes, ids, dryRun, removing = [] }: StrayArtifactOptions,
): Promise<Freed> {
  const freed: Freed = { count: 0, bytes: 0 };
  if (dryRun) {
    const [row] = await sql.query<Freed>(
      `SELECT count(*)::int AS count, coalesce(sum(size), 0)::bigint AS bytes FROM artifacts a
       WHERE ${STALE_ARCHIVE} AND a.project_id <> ALL($3::uuid[])`,
      [graceMinutes, ids, removing],
    );
    freed.count += row!.count;
    freed.bytes += row!.bytes;
  } else {
    for (;;) {
      // Rows first, then their bytes, in one transaction: a failed byte deletion brings the rows back.
      const rows = await sql.transaction(async (tx) => {
        const deleted = await tx.query<{ id: string; size: number }>(
          `DELETE FROM artifacts WHERE (project_id, id) IN (
             SELECT project_id, id FROM artifacts a WHERE ${STALE_ARCHIVE}
             ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING id, size`,
          [graceMinutes, ids, BATCH],
        );
        await mapBounded(deleted, 8, (a) => store.delete(a.id));
        return deleted;
      });
      freed.count += rows.length;
      freed.bytes += rows.reduce((n, r) => n + r.size, 0);
      if (rows.length < BATCH) break;
    }
  }
  if (ids !== null) return freed;
  const strays = await collectStrays(store, {
    cutoff: minutesAgo(graceMinutes),
    dryRun,
    recorded: async (artifactIds) =>
      new Set(
        (
          await sql.query<{ id: string }>(`SELECT id::text AS id FROM artifacts WHERE id = ANY($1::uuid[])`, [
            artifactIds,
          ])
        ).map((r) => r.id),
      ),
  });
  return { count: freed.count + strays.count, bytes: freed.bytes + strays.bytes };
}
