-- search_files without reading every blob: the text of each blob up to 1 MiB, content-addressed
-- like the blobs themselves, under a pg_trgm index, so a literal is found by one index scan and
-- only the files that hold it are read (store/workspace/search.ts). Rows are written with their
-- blob's row (blobs/writer.ts), or by the first search that reads a blob without one (blobs from
-- before this migration, drafts' blobs); a blob's row goes with it (ON DELETE CASCADE), so
-- cleanup needs nothing more. pg_trgm is a trusted extension: a role with CREATE on the database
-- may add it.
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION
  WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'search_files needs the pg_trgm extension, and this role may not create it: have the database owner run CREATE EXTENSION pg_trgm in this database (or grant this role CREATE on it), then start Stowage again';
  WHEN undefined_file THEN
    RAISE EXCEPTION 'search_files needs the pg_trgm extension, which this Postgres server does not have: install its contrib modules (postgresql-contrib), then start Stowage again';
END
$$;

-- body: the blob's text as search_files decodes it (UTF-8 without NUL, a leading BOM dropped);
-- NULL for binary content. "C" collation: LIKE is bytewise and ILIKE folds ASCII alone, whatever
-- the database's locale (formats/search-prefilter.ts relies on it).
CREATE TABLE search_texts (
  hash text PRIMARY KEY REFERENCES blobs (hash) ON DELETE CASCADE,
  body text COLLATE "C"
);

-- A small pending list: GIN's fast update queues new entries, and every search reads the queue
-- through (40-60 ms behind 1,000 new files of 9 KiB at the default 4 MB, 1 ms at 256 kB).
CREATE INDEX search_texts_body_idx ON search_texts USING gin (body gin_trgm_ops)
  WITH (gin_pending_list_limit = 256);

-- Of a view's blobs (hashes), those whose text may hold a literal (pattern: a LIKE pattern, ILIKE
-- unless case_sensitive), found by the trigram index, and those with no row yet (indexed false).
-- The planner cannot see what testing a row costs (its text detoasted and scanned: ~25 us per
-- 9 KiB): on a small table it reads every row rather than the index (25 ms for 1,000 files of
-- 9 KiB, against 2.5 ms). Without sequential scans it takes the index, or the primary key for the
-- view's hashes when the pattern gives the index nothing to narrow by.
CREATE FUNCTION stowage_search_candidates(hashes text[], pattern text, case_sensitive boolean)
RETURNS TABLE (hash text, indexed boolean) LANGUAGE sql STABLE
SET enable_seqscan = off
AS $$
  SELECT s.hash, true FROM search_texts s
  WHERE case_sensitive AND s.hash = ANY(hashes) AND s.body LIKE pattern
  UNION ALL
  SELECT s.hash, true FROM search_texts s
  WHERE NOT case_sensitive AND s.hash = ANY(hashes) AND s.body ILIKE pattern
  UNION ALL
  SELECT h, false FROM unnest(hashes) AS h WHERE NOT EXISTS (SELECT 1 FROM search_texts s WHERE s.hash = h)
$$;
