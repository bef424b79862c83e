// Reclaiming what crashes leave in a store: entries no metadata row records (a blob stored whose
// row was never written, an artifact whose transaction never committed) and the temp files of
// interrupted writes. Only entries older than the grace period go: every write finishes well
// within it (CLEANUP_GRACE_MINUTES), so an old entry without a row is one nobody will record any
// more. A blob someone reuses meanwhile is moved by its put and kept (BlobStore.put, reclaim).
import type { ReclaimableStore, StoredEntry } from '../blobs/blob-store.js';
import { mapBounded } from '../../formats/map-bounded.js';

export interface StrayOptions {
  /** Entries last written before this may go. */
  cutoff: Date;
  /** Which of `ids` a metadata row records. */
  recorded: (ids: string[]) => Promise<Set<string>>;
  /** Count only. */
  dryRun: boolean;
}

export async function collectStrays(
  store: ReclaimableStore,
  { cutoff, recorded, dryRun }: StrayOptions,
): Promise<{ count: number; bytes: number }> {
  const freed = { count: 0, bytes: 0 };
  const take = (entry: StoredEntry) => {
    freed.count += 1;
    freed.bytes += entry.size;
  };
  for await (const page of store.list()) {
    const old = page.filter((e) => e.modified < cutoff);
    const ids = old.flatMap((e) => (e.id === undefined ? [] : [e.id]));
    const known = ids.length ? await recorded(ids) : new Set<string>();
    const strays = old.filter((e) => e.id === undefined || !known.has(e.id));
    if (dryRun) strays.forEach(take);
    else
      await mapBounded(strays, 8, async (e) => {
        if (await store.reclaim(e, cutoff)) take(e);
      });
  }
  return freed;
}

/** The cutoff `minutes` ago. */
export const minutesAgo = (minutes: number): Date => new Date(Date.now() - minutes * 60_000);
