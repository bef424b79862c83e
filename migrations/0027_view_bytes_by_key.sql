-- A lookup whose cached plan could read a whole project for each row it looked up. A function's
-- plan is made once per connection, and the pool keeps a connection for a while (sql.ts): a plan
-- made while a project was small (every index looks alike, a scan looks free) serves it once it
-- is large. The lookup is now written so that every plan the planner may take finds its row
-- directly: sequential scans are off, and each index it could use gets all of its key columns.
--
-- stowage_view_bytes (0022), asked by every write that grows a file: the committed sizes under a
-- workspace's drafts. Its join took files_path_fold_idx by project alone and tested each draft's
-- path against every committed file: with 2,000 files, a write_files call grew from 81 to 318 ms
-- as the workspace's drafts grew from 600 to 2,000 (1,500 drafts: 262 ms in this function, 4.9
-- ms now). The lookup is per draft, by path and by its folded spelling, which are the key
-- columns of both indexes on files.
CREATE OR REPLACE FUNCTION stowage_view_bytes(p uuid, ws text[]) RETURNS TABLE (workspace text, bytes bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
BEGIN
  RETURN QUERY
  SELECT w,
         (SELECT CASE WHEN pr.facts_kept
                   THEN (SELECT coalesce(sum(f.size), 0) FROM files f WHERE f.project_id = p)
                   ELSE pr.committed_bytes END
            FROM projects pr WHERE pr.id = p)::bigint
       - (SELECT coalesce(sum((SELECT f.size FROM files f
                                WHERE f.project_id = p AND f.path = d.path
                                  AND (lower(f.path COLLATE stowage_fold) COLLATE "C")
                                      = (lower(d.path COLLATE stowage_fold) COLLATE "C"))), 0)
            FROM drafts d WHERE d.project_id = p AND d.workspace = w)::bigint
       + (SELECT coalesce(sum(d.size), 0) FROM drafts d WHERE d.project_id = p AND d.workspace = w AND d.op = 'upsert')::bigint
  FROM unnest(ws) AS w;
END
$$;

