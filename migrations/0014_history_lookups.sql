-- History, faster (migration 0013 keeps the rules):
-- - How a version came to be is the event logged at its project version (file_history joins
--   them, one lookup per version listed), and a committed version's commit is the one at that
--   version: both looked up by index.
-- - Versions are recorded once per statement, from its transition tables, instead of once per
--   row: a statement writing 2,000 drafts (restore, a group-commit batch, an import) cost 72 ms
--   more with the row triggers, about 36 µs a row.
CREATE INDEX events_version_idx ON events (project_id, version);
-- Room on each page for an autosave's coalescing update to stay heap-only.
ALTER TABLE versions SET (fillfactor = 90);
CREATE INDEX commits_version_idx ON commits (project_id, version);

DROP TRIGGER drafts_history ON drafts;
DROP TRIGGER files_history ON files;
DROP FUNCTION stowage_draft_version();
DROP FUNCTION stowage_committed_version();
DROP FUNCTION stowage_project_version(uuid); -- the statement triggers join projects instead

CREATE FUNCTION stowage_history_window() RETURNS float8 LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('stowage.history_coalesce_seconds', true), '')::float8, 60)
$$;

-- The draft versions of `changed`: each replaces its path's latest version in the workspace when
-- that is younger than the coalescing window and no checkpoint of the workspace was taken since;
-- the others are inserted. A replaced version keeps its project version (the burst's first):
-- what is indexed stays as it is, so the update is a heap-only one, as an autosave's should be.
-- A point inside the burst then reads the burst's latest content; checkpoints and commits,
-- which end a burst, read exactly.
CREATE FUNCTION stowage_record_drafts(changed drafts[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  WITH c AS (SELECT * FROM unnest(changed)),
  coalescing AS (
    SELECT c.project_id, c.workspace, c.path, last.id
    FROM c CROSS JOIN LATERAL (
      SELECT v.id, v.op, v.created_at, v.version FROM versions v
      WHERE v.project_id = c.project_id AND v.workspace = c.workspace AND v.path = c.path
      ORDER BY v.version DESC, v.id DESC LIMIT 1) last
    WHERE stowage_history_window() > 0 AND last.op <> 'clean'
      AND last.created_at > now() - stowage_history_window() * interval '1 second'
      AND last.version > coalesce((SELECT max(k.version) FROM checkpoints k
                                   WHERE k.project_id = c.project_id AND k.workspace = c.workspace), -1)),
  replaced AS (
    UPDATE versions v SET op = c.op, content = c.content, blob_hash = c.blob_hash,
        content_hash = c.content_hash, size = c.size, mode = c.mode, principal = c.updated_by, created_at = now()
      FROM coalescing l JOIN c USING (project_id, workspace, path)
      WHERE v.project_id = l.project_id AND v.id = l.id
      RETURNING v.project_id, v.workspace, v.path)
  INSERT INTO versions (project_id, version, workspace, path, op, content, blob_hash, content_hash, size, mode, principal)
    SELECT c.project_id, c.version, c.workspace, c.path, c.op, c.content, c.blob_hash, c.content_hash, c.size, c.mode,
           c.updated_by
    FROM c
    WHERE NOT EXISTS (SELECT 1 FROM replaced r
                      WHERE r.project_id = c.project_id AND r.workspace = c.workspace AND r.path = c.path);
END
$$;

CREATE FUNCTION stowage_drafts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stowage_history_on() THEN
    PERFORM stowage_record_drafts(array_agg(n::drafts)) FROM new_rows n HAVING count(*) > 0;
  END IF;
  RETURN NULL;
END
$$;

-- Rebased or marked in conflict, the content is what it was: no new version.
CREATE FUNCTION stowage_drafts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stowage_history_on() THEN
    PERFORM stowage_record_drafts(array_agg(n::drafts))
      FROM new_rows n JOIN old_rows o USING (project_id, workspace, path)
      WHERE o.op <> n.op OR o.content_hash IS DISTINCT FROM n.content_hash OR o.mode IS DISTINCT FROM n.mode
      HAVING count(*) > 0;
  END IF;
  RETURN NULL;
END
$$;

-- A draft gone: the workspace sees the committed version again ('clean'), at the project's
-- version now. Gone with its project (a cascade): nothing to record.
CREATE FUNCTION stowage_drafts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op, principal)
    SELECT o.project_id, p.version, o.workspace, o.path, 'clean', o.updated_by
    FROM old_rows o JOIN projects p ON p.id = o.project_id;
  RETURN NULL;
END
$$;

CREATE FUNCTION stowage_files_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stowage_history_on() THEN
    INSERT INTO versions (project_id, version, workspace, path, op, blob_hash, content_hash, size, mode)
      SELECT n.project_id, n.version, NULL, n.path, 'upsert', n.blob_hash, n.blob_hash, n.size, n.mode FROM new_rows n;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION stowage_files_updated() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE FUNCTION stowage_files_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op)
    SELECT o.project_id, p.version, NULL, o.path, 'delete' FROM old_rows o JOIN projects p ON p.id = o.project_id;
  RETURN NULL;
END
$$;

CREATE TRIGGER drafts_history_insert AFTER INSERT ON drafts REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_drafts_inserted();
CREATE TRIGGER drafts_history_update AFTER UPDATE ON drafts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_drafts_updated();
CREATE TRIGGER drafts_history_delete AFTER DELETE ON drafts REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_drafts_removed();
CREATE TRIGGER files_history_insert AFTER INSERT ON files REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_files_inserted();
CREATE TRIGGER files_history_update AFTER UPDATE ON files REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_files_updated();
CREATE TRIGGER files_history_delete AFTER DELETE ON files REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_files_removed();
