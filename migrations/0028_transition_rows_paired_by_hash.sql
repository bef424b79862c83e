-- The history and facts triggers pair each updated row's old and new versions (old_rows and
-- new_rows). Postgres plans a trigger's statement once per connection, with the row counts of
-- the first statement it fired for: after a one-row update, the pairing was a nested loop of
-- the two tables, comparing every row with every other. A commit or sync changing 2,000 files
-- spent 1.1 s in those comparisons (4 million, auto_explain: 655 ms in the facts trigger, 480 ms
-- in the history trigger), and it grows with the square of the count. The triggers now run with
-- nested loops off, so their pairings hash the rows whatever the first count was; the functions
-- they call, whose lookups need nested loops over indexes, turn them back on. Sequential scans
-- are off where a trigger looks rows up in a table (as in 0021 and 0024).
--
-- A version that takes a gone draft's content is updated one row at a time, by every key column
-- of the indexes it could be found by. stowage_drafts_removed (0019) matched the version as
-- `v.id = stowage_latest_version(...)`, which the plan took on versions_view_idx by project
-- alone: every version of the project was visited for each removed draft (2,000 drafts reverted
-- by a restore among 40,000 versions: 104 ms, growing with both). Matched by a join instead, the
-- plan is free to read versions first and test each against every old row; on a plan made while
-- versions was small it did (commit_task of 2,000 inline drafts: 2.8 s in the trigger, 8 million
-- comparisons). One update by key per row can go neither way.

ALTER FUNCTION stowage_record_drafts(stowage_draft_change[]) SET enable_nestloop = on;
ALTER FUNCTION stowage_count_tree(stowage_tree_count[]) SET enable_nestloop = on;

CREATE OR REPLACE FUNCTION stowage_files_updated() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
BEGIN
  IF stowage_history_on() THEN
    INSERT INTO versions (project_id, version, workspace, path, op, blob_hash, content_hash, size, mode)
      SELECT n.project_id, n.version, NULL, n.path, 'upsert', n.blob_hash, n.blob_hash, n.size, n.mode
      FROM new_rows n JOIN old_rows o USING (project_id, path)
      WHERE o.blob_hash <> n.blob_hash OR o.mode <> n.mode;
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION stowage_files_counted_again() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
BEGIN
  PERFORM stowage_count_tree(array_agg(c)) FROM (
    SELECT unnest(ARRAY[
        (n.project_id, n.language, 1, n.size, n.frameworks IS NOT NULL)::stowage_tree_count,
        (o.project_id, o.language, -1, -o.size, o.frameworks IS NOT NULL)::stowage_tree_count]) AS c
    FROM new_rows n JOIN old_rows o USING (project_id, path)
    WHERE n.size <> o.size OR n.language IS DISTINCT FROM o.language OR n.frameworks IS DISTINCT FROM o.frameworks) x
    HAVING count(*) > 0;
  RETURN NULL;
END
$$;

-- As in 0014, its project found by key.
CREATE OR REPLACE FUNCTION stowage_files_removed() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op)
    SELECT o.project_id, p.version, NULL, o.path, 'delete' FROM old_rows o JOIN projects p ON p.id = o.project_id;
  RETURN NULL;
END
$$;

-- Gives `bytes` to the workspace's latest version of a path, if that version shares it (an
-- upsert holding neither content nor blob, of this content hash); by every key column of
-- versions_view_idx and of the primary key.
CREATE FUNCTION stowage_keep_shared_content(p uuid, w text, f text, hash text, bytes bytea) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET enable_nestloop = on AS $$
BEGIN
  UPDATE versions v SET content = bytes
  FROM (SELECT l.version, l.id FROM versions l WHERE l.project_id = p AND l.workspace = w AND l.path = f
        ORDER BY l.version DESC, l.id DESC LIMIT 1) latest
  WHERE v.project_id = p AND v.workspace = w AND v.path = f AND v.version = latest.version AND v.id = latest.id
    AND v.op = 'upsert' AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = hash;
END
$$;

-- As in 0019: a removed draft's content goes into its path's latest version if that one shares it.
CREATE OR REPLACE FUNCTION stowage_drafts_removed() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
  gone record;
BEGIN
  FOR gone IN SELECT r.project_id, r.workspace, r.path, r.content, r.content_hash FROM old_rows r
              WHERE r.content IS NOT NULL LOOP
    PERFORM stowage_keep_shared_content(gone.project_id, gone.workspace, gone.path, gone.content_hash,
                                        gone.content);
  END LOOP;
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op, principal)
    SELECT o.project_id, p.version, o.workspace, o.path, 'clean', o.updated_by
    FROM old_rows o JOIN projects p ON p.id = o.project_id;
  RETURN NULL;
END
$$;

-- As in 0024, with both of its pairings hashed: the changed drafts, and each ended version with
-- its path's old row (whose content it takes), and the versions updated one by one. With history
-- paused, the version sharing the old content is found as stowage_drafts_removed finds it.
CREATE OR REPLACE FUNCTION stowage_drafts_updated() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET enable_nestloop = off AS $$
DECLARE
  changed stowage_draft_change[];
  ended_projects uuid[];
  ended_workspaces text[];
  ended_paths text[];
  ended_ids bigint[];
  copy_projects uuid[];
  copy_workspaces text[];
  copy_paths text[];
  copy_ids bigint[];
  copy_hashes text[];
  copy_contents bytea[];
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
        SELECT array_agg(e.project_id), array_agg(e.workspace), array_agg(e.path), array_agg(e.id),
               array_agg(o.content_hash), array_agg(o.content)
          INTO copy_projects, copy_workspaces, copy_paths, copy_ids, copy_hashes, copy_contents
        FROM unnest(ended_projects, ended_workspaces, ended_paths, ended_ids) AS e(project_id, workspace, path, id)
        JOIN old_rows o ON o.project_id = e.project_id AND o.workspace = e.workspace AND o.path = e.path;
        FOR i IN 1 .. coalesce(cardinality(copy_ids), 0) LOOP
          UPDATE versions v SET content = copy_contents[i]
          WHERE v.project_id = copy_projects[i] AND v.workspace = copy_workspaces[i] AND v.path = copy_paths[i]
            AND v.id = copy_ids[i] AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = copy_hashes[i];
        END LOOP;
      END IF;
    END IF;
  ELSE
    -- Nothing is recorded, but a version sharing the old content must keep it.
    SELECT array_agg(o.project_id), array_agg(o.workspace), array_agg(o.path), array_agg(o.content_hash),
           array_agg(o.content)
      INTO copy_projects, copy_workspaces, copy_paths, copy_hashes, copy_contents
    FROM old_rows o JOIN new_rows n USING (project_id, workspace, path)
    WHERE o.content_hash IS DISTINCT FROM n.content_hash AND o.content IS NOT NULL;
    FOR i IN 1 .. coalesce(cardinality(copy_paths), 0) LOOP
      PERFORM stowage_keep_shared_content(copy_projects[i], copy_workspaces[i], copy_paths[i], copy_hashes[i],
                                          copy_contents[i]);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
