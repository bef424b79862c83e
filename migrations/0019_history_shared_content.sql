-- History without a second copy of every autosave. Migration 0014 copied each draft's inline
-- content into its version, so an autosave wrote its bytes twice (and twice to the WAL), and a
-- coalescing autosave rewrote the version's copy each time. Now a workspace's newest version of
-- a path holds no inline content of its own while its draft holds the same bytes: readers take
-- the draft's (same workspace, path and content hash). The bytes are copied into the version
-- when the draft moves on to a new version or goes (commit, discard, delete): once per burst,
-- and nothing a point in time reads is lost.
--
-- A version that shares its draft's content: an upsert with neither content nor blob.

-- What the record function needs of a changed draft: no content, so building the array does not
-- read each row's bytes back.
CREATE TYPE stowage_draft_change AS (
  project_id uuid, workspace text, path text, op text, blob_hash text, content_hash text, size bigint,
  mode integer, version bigint, updated_by text
);

DROP FUNCTION stowage_record_drafts(drafts[]);

-- The id of a workspace's newest version of a path.
CREATE FUNCTION stowage_latest_version(p uuid, w text, f text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT id FROM versions WHERE project_id = p AND workspace = w AND path = f ORDER BY version DESC, id DESC LIMIT 1
$$;

-- As in 0014, but no content is stored, and it returns the ids of the shared versions a new
-- version ended (not coalesced into): the caller copies their bytes from the old drafts.
-- Planned once per connection (force_generic_plan): a plan for the array it is given each time
-- differs in cost from the generic one, so Postgres planned this statement at every call, which
-- was 260 of the 430 µs the history trigger added to an autosave.
CREATE FUNCTION stowage_record_drafts(changed stowage_draft_change[]) RETURNS SETOF bigint LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
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
  SELECT l.last_id FROM last l WHERE NOT l.coalesces AND l.shared;
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
-- the version that shared the old content, unless it coalesces into it.
CREATE OR REPLACE FUNCTION stowage_drafts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ended bigint[];
BEGIN
  IF stowage_history_on() THEN
    ended := ARRAY(
      SELECT stowage_record_drafts(array_agg(ROW(n.project_id, n.workspace, n.path, n.op, n.blob_hash,
          n.content_hash, n.size, n.mode, n.version, n.updated_by)::stowage_draft_change))
      FROM new_rows n JOIN old_rows o USING (project_id, workspace, path)
      WHERE o.op <> n.op OR o.content_hash IS DISTINCT FROM n.content_hash OR o.mode IS DISTINCT FROM n.mode
      HAVING count(*) > 0);
    IF cardinality(ended) > 0 THEN
      UPDATE versions v SET content = o.content
      FROM old_rows o
      WHERE v.project_id = o.project_id AND v.id = ANY (ended) AND v.workspace = o.workspace AND v.path = o.path
        AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = o.content_hash;
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

-- A draft gone: the version sharing its content keeps a copy (even with recording paused: it is
-- history already), then the workspace sees the committed version again ('clean'), at the
-- project's version now. Gone with its project (a cascade): nothing to record.
CREATE OR REPLACE FUNCTION stowage_drafts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE versions v SET content = o.content
  FROM old_rows o
  WHERE o.content IS NOT NULL
    AND v.project_id = o.project_id AND v.id = stowage_latest_version(o.project_id, o.workspace, o.path)
    AND v.op = 'upsert' AND v.content IS NULL AND v.blob_hash IS NULL AND v.content_hash = o.content_hash;
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op, principal)
    SELECT o.project_id, p.version, o.workspace, o.path, 'clean', o.updated_by
    FROM old_rows o JOIN projects p ON p.id = o.project_id;
  RETURN NULL;
END
$$;

-- A version references its project and blob only through the draft or file row that made it, in
-- the same statement: that row's own keys are checked and hold the blob against collection, and
-- blob collection and a project's removal look at versions themselves (queries/blobs.ts,
-- queries/cleanup.ts). The versions' checks did the same work again, a third of what recording
-- a 2,000-file restore cost.
ALTER TABLE versions DROP CONSTRAINT versions_project_id_fkey, DROP CONSTRAINT versions_blob_hash_fkey;
