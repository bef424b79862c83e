-- Case-insensitive lookups of paths (src/store/case-twins.ts): a write, move or import that would
-- put 'Readme.md' next to 'README.md' is refused, and finding the other spelling must be an index
-- probe, not a scan of the project. Paths are COLLATE "C", whose lower() changes ASCII only, so
-- lower() runs under stowage_fold: ICU's root locale (Unicode case mapping) where the server
-- has ICU, else C.UTF-8, else "C" (ASCII only: 'Ä' and 'ä' then count as different names). Its
-- result is compared in "C" order again, so a directory's paths are one range ('dir/' .. 'dir0').
DO $$
BEGIN
  BEGIN
    CREATE COLLATION stowage_fold (provider = icu, locale = 'und');
  EXCEPTION WHEN OTHERS THEN
    BEGIN
      CREATE COLLATION stowage_fold (provider = libc, locale = 'C.UTF-8');
    EXCEPTION WHEN OTHERS THEN
      CREATE COLLATION stowage_fold FROM "C";
    END;
  END;
END
$$;

CREATE INDEX files_path_fold_idx ON files (project_id, (lower(path COLLATE stowage_fold) COLLATE "C"));
-- Deletion drafts hide a path rather than add one: only upserts can be the other spelling.
CREATE INDEX drafts_path_fold_idx ON drafts (project_id, workspace, (lower(path COLLATE stowage_fold) COLLATE "C"))
  WHERE op = 'upsert';
