// Artifacts nothing will use any more, beyond the expired ones: archives that are not the current
// archive of an archived project (a crash between an archive's row and its transaction left one
// in earlier versions, which neither a retry, a restore nor an expiry removed), and what crashes
// leave in the artifact store without a row (strays.ts). Only those older than the grace period.
import type { ArtifactStore } from '../blobs/artifact-store.js';
import type { Freed } from './blob-gc.js';
import { countStaleArchives, deleteStaleArchives, selectRecordedArtifacts } from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { collectStrays, minutesAgo } from './strays.js';

const BATCH = 100;

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
    const row = await countStaleArchives(sql, graceMinutes, ids, removing);
    freed.count += row.count;
    freed.bytes += row.bytes;
  } else {
    for (;;) {
      // Rows first, then their bytes, in one transaction: a failed byte deletion brings the rows back.
      const rows = await sql.transaction(async (tx) => {
        const deleted = await deleteStaleArchives(tx, graceMinutes, ids, BATCH);
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
    recorded: async (artifactIds) => new Set(await selectRecordedArtifacts(sql, artifactIds)),
  });
  return { count: freed.count + strays.count, bytes: freed.bytes + strays.bytes };
}
