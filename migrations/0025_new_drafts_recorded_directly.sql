-- A new draft is recorded as a new version without looking for the one before it. A draft row
-- is inserted only where its workspace had none for the path, and a draft that goes (commit,
-- discard, a write back to the committed content) records a 'clean' version (migration 0019),
-- which never coalesces: so the path's last version in the workspace is that 'clean' or none,
-- and the lookup stowage_record_drafts makes for coalescing (and for a shared version to end,
-- which a new draft never has) found nothing to do. That lookup, and building its array, was 17
-- of the 38 ms history added to restoring 2,000 files. A draft removed while history was paused
-- (an archive, a project's removal) left no 'clean'; a new draft there is a version of its own.
CREATE OR REPLACE FUNCTION stowage_drafts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stowage_history_on() THEN
    INSERT INTO versions (project_id, version, workspace, path, op, blob_hash, content_hash, size, mode, principal)
      SELECT n.project_id, n.version, n.workspace, n.path, n.op, n.blob_hash, n.content_hash, n.size, n.mode,
             n.updated_by
      FROM new_rows n;
  END IF;
  RETURN NULL;
END
$$;
