-- Two lookups whose cached plans could read a whole project for each row they looked up. A
-- function's plan is made once per connection, and the pool keeps a connection for as long as
-- the server runs: a plan made while a project was small (every index looks alike, a scan looks
-- free) serves it once it is large. Each lookup is now written so that every plan the planner
-- may take finds its row directly: sequential scans are off, and each index a lookup could use
-- gets all of its key columns.
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

-- stowage_drafts_removed (0019): a removed draft's content goes into the version sharing it, the
-- workspace's latest of its path. Matched as `v.id = stowage_latest_version(...)`, the plan took
-- versions_view_idx by project alone, where id is the last key column: every version of the
-- project was visited for each removed draft (2,000 drafts reverted by a restore, 40,000
-- versions: 104 ms, growing with both). The latest version is found by its path, then taken by
-- every key column of versions_view_idx.
CREATE OR REPLACE FUNCTION stowage_drafts_removed() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
  UPDATE versions v SET content = o.content
  FROM old_rows o
  CROSS JOIN LATERAL (
    SELECT l.id, l.version FROM versions l
    WHERE l.project_id = o.project_id AND l.workspace = o.workspace AND l.path = o.path
    ORDER BY l.version DESC, l.id DESC LIMIT 1) latest
  WHERE o.content IS NOT NULL
    AND v.project_id = o.project_id AND v.workspace = o.workspace AND v.path = o.path
    AND v.version = latest.version AND v.id = latest.id
    AND v.op = 'upsert' AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = o.content_hash;
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op, principal)
    SELECT o.project_id, p.version, o.workspace, o.path, 'clean', o.updated_by
    FROM old_rows o JOIN projects p ON p.id = o.project_id;
  RETURN NULL;
END
$$;
