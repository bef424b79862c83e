// search_texts: the text of each blob up to the search index's size cap, under a pg_trgm index
// (migration 0020); written with the blob's row (blobs.ts insertBlobs) or, for a blob stored
// without one, by the first search that reads it. Keyed by content hash, so a row never goes
// stale: which blobs a search looks at comes from the workspace view, read first.
import type { LikeFilter } from '../../../formats/search-prefilter.js';
import type { Queryable } from '../sql.js';

/** Of `hashes`, those whose text may hold the literal (`like`; the trigram index finds them), and
 *  those with no row yet (`indexed` false). The others cannot hold it, or are binary. */
export const selectSearchCandidates = (db: Queryable, hashes: readonly string[], like: LikeFilter) =>
  db.query<{ hash: string; indexed: boolean }>(
    `SELECT hash, indexed FROM stowage_search_candidates($1::text[], $2, $3)`,
    [hashes, like.pattern, like.caseSensitive],
  );

/** The rows of `hashes` there are: each text, or null for binary content. */
export const selectSearchTexts = (db: Queryable, hashes: readonly string[]) =>
  db.query<{ hash: string; body: string | null }>(
    `SELECT hash, body FROM search_texts WHERE hash = ANY($1::text[])`,
    [hashes],
  );

/** Records the texts of blobs stored without one; a blob whose row is gone meanwhile (cleanup)
 *  is skipped, and a text recorded meanwhile is left as it is. */
export async function insertSearchTexts(
  db: Queryable,
  texts: readonly { hash: string; body: string | null }[],
): Promise<void> {
  await db.query(
    `INSERT INTO search_texts (hash, body)
     SELECT t.hash, t.body FROM unnest($1::text[], $2::text[]) AS t(hash, body)
     WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.hash = t.hash)
     ON CONFLICT (hash) DO NOTHING`,
    [texts.map((t) => t.hash), texts.map((t) => t.body)],
  );
}
