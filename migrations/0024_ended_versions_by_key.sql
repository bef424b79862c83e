-- A rewritten draft's old content is copied into the version that shared it (migration 0019) by
-- that version's key, not by a search of the versions table. The trigger matched `v.id =
-- ANY(ended)` against versions: Postgres hashes such a list only while it is a constant, and a
-- trigger's statement runs on its cached plan, where the list is a parameter. That plan scanned
-- every version of every project and compared each with every ended id: restoring 2,000 inline
-- drafts over 2,000 others took 650-850 ms instead of 140-200 ms on a connection that had kept
-- that plan (63,000 versions), and it grows with both. stowage_record_drafts now returns each
-- ended version's key with its path, and the copy looks each one up by primary key. The path
-- matters: joined to old_rows by project alone (a plan made for 200 rows, guessing 10 ended),
-- 2,000 ended versions met 2,000 old rows, 4 million lookups: 13-16 s.

DROP FUNCTION stowage_record_drafts(stowage_draft_change[]);

-- As in 0019 (and 0021's enable_seqscan), returning each shared version a new version ended:
-- its key, and the workspace and path whose draft held its content.
CREATE FUNCTION stowage_record_drafts(changed stowage_draft_change[])
RETURNS TABLE (project_id uuid, workspace text, path text, id bigint) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
BEGIN
  RETURN QUERY
  WITH c AS (SELECT * FROM unnest(changed)),
  last AS (
    SELECT c.*, l.id AS last_id, l.shared,
           (stowage_history_window() > 0 AND l.op <> 'clean'
            AND l.created_at > now() - stowage_history_window() * interval '1 second'
            AND l.version > coalesce((SELECT max(k.version) FROM checkpoints k
                                      WHERE k.project_id = c.project_id AND k.workspace = c.workspace), -1))
             IS TRUE AS coalesces
    FROM c LEFT JOIN LATERAL (
      SELECT v.id, v.op, v.created_at, v.version,
             v.op = 'upsert' AND v.content IS NULL AND v.blob_hash IS NULL AS shared
      FROM versions v
      WHERE v.project_id = c.project_id AND v.workspace = c.workspace AND v.path = c.path
      ORDER BY v.version DESC, v.id DESC LIMIT 1) l ON true),
  replaced AS (
    UPDATE versions v SET op = l.op, content = NULL, blob_hash = l.blob_hash, content_hash = l.content_hash,
        size = l.size, mode = l.mode, principal = l.updated_by, created_at = now()
      FROM last l
      WHERE l.coalesces AND v.project_id = l.project_id AND v.id = l.last_id),
  inserted AS (
    INSERT INTO versions (project_id, version, workspace, path, op, blob_hash, content_hash, size, mode, principal)
      SELECT l.project_id, l.version, l.workspace, l.path, l.op, l.blob_hash, l.content_hash, l.size, l.mode,
             l.updated_by
      FROM last l WHERE NOT l.coalesces)
  SELECT l.project_id, l.workspace, l.path, l.last_id FROM last l WHERE NOT l.coalesces AND l.shared;
END
$$;

CREATE OR REPLACE FUNCTION stowage_drafts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A new draft: its path had none, so no version shares content with it yet.
  IF stowage_history_on() THEN
    PERFORM stowage_record_drafts(array_agg(ROW(n.project_id, n.workspace, n.path, n.op, n.blob_hash,
        n.content_hash, n.size, n.mode, n.version, n.updated_by)::stowage_draft_change))
      FROM new_rows n HAVING count(*) > 0;
  END IF;
  RETURN NULL;
END
$$;

-- Rebased or marked in conflict, the content is what it was: no new version. New content ends
-- the version that shared the old content, unless it coalesces into it; that version gets the
-- old content, found by its key, from its path's row of old_rows.
-- No sequential scans: every lookup here has an index, and a plan cached while versions was
-- small would otherwise scan it (as 0021 says of stowage_record_drafts).
CREATE OR REPLACE FUNCTION stowage_drafts_updated() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
  changed stowage_draft_change[];
  ended_projects uuid[];
  ended_workspaces text[];
  ended_paths text[];
  ended_ids bigint[];
BEGIN
  IF stowage_history_on() THEN
    changed := ARRAY(
      SELECT ROW(n.project_id, n.workspace, n.path, n.op, n.blob_hash, n.content_hash, n.size, n.mode,
                 n.version, n.updated_by)::stowage_draft_change
      FROM new_rows n JOIN old_rows o USING (project_id, workspace, path)
      WHERE o.op <> n.op OR o.content_hash IS DISTINCT FROM n.content_hash OR o.mode IS DISTINCT FROM n.mode);
    IF cardinality(changed) > 0 THEN
      SELECT array_agg(e.project_id), array_agg(e.workspace), array_agg(e.path), array_agg(e.id)
        INTO ended_projects, ended_workspaces, ended_paths, ended_ids
      FROM stowage_record_drafts(changed) e;
      IF cardinality(ended_ids) > 0 THEN
        UPDATE versions v SET content = o.content
        FROM unnest(ended_projects, ended_workspaces, ended_paths, ended_ids) AS e(project_id, workspace, path, id)
        JOIN old_rows o ON o.project_id = e.project_id AND o.workspace = e.workspace AND o.path = e.path
        WHERE v.project_id = e.project_id AND v.id = e.id
          AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = o.content_hash;
      END IF;
    END IF;
  ELSE
    -- Nothing is recorded, but a version sharing the old content must keep it.
    UPDATE versions v SET content = o.content
    FROM old_rows o JOIN new_rows n USING (project_id, workspace, path)
    WHERE o.content_hash IS DISTINCT FROM n.content_hash AND o.content IS NOT NULL
      AND v.project_id = o.project_id AND v.id = stowage_latest_version(o.project_id, o.workspace, o.path)
      AND v.op = 'upsert' AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = o.content_hash;
  END IF;
  RETURN NULL;
END
$$;
