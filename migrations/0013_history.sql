-- History: every version of every path, in each workspace and in the committed tree, recorded by
-- triggers on drafts and files, so that no write path can forget it. A version row is what a
-- path became at a project version: in a workspace (a draft: 'upsert' or 'delete', or 'clean' when
-- the draft went and the path shows the committed content again) or committed (workspace NULL).
-- The view of workspace W at project version V is, per path, W's latest version at or before V
-- unless that is 'clean', else the latest committed one. Content is not copied: a row names the
-- blob, or holds the same inline bytes its draft held. Who and how come from the events logged
-- at the same project version (src/store/changes.ts).
--
-- Autosave bursts coalesce: a draft version of a path replaces the workspace's previous one of
-- that path when that is younger than stowage.history_coalesce_seconds (a setting of the
-- connection; default 60) and no checkpoint of the workspace was taken since. Committed versions
-- are always kept. A transaction that sets stowage.history = 'off' records nothing (archiving
-- empties the committed tree and restoring it refills it: neither is a change of the files).

CREATE TABLE versions (
  project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  id           bigserial NOT NULL,
  version      bigint NOT NULL,
  workspace    text,
  path         text COLLATE "C" NOT NULL,
  op           text NOT NULL CHECK (op IN ('upsert', 'delete', 'clean')),
  content      bytea,
  blob_hash    text REFERENCES blobs (hash),
  content_hash text,
  size         bigint NOT NULL DEFAULT 0,
  mode         integer,
  principal    text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, id)
);
CREATE INDEX versions_path_idx ON versions (project_id, path, version DESC, id DESC);
CREATE INDEX versions_view_idx ON versions (project_id, workspace, path, version DESC, id DESC);
CREATE INDEX versions_blob_hash_idx ON versions (blob_hash) WHERE blob_hash IS NOT NULL;

-- A named point: a workspace's whole view at a project version (no content copied).
CREATE TABLE checkpoints (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name       text NOT NULL,
  workspace  text NOT NULL,
  version    bigint NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, name)
);
CREATE INDEX checkpoints_workspace_idx ON checkpoints (project_id, workspace, version DESC);

CREATE FUNCTION stowage_history_on() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('stowage.history', true), '') <> 'off'
$$;

-- The project's version now: a removed draft's row has no version of its own to carry.
CREATE FUNCTION stowage_project_version(p uuid) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT version FROM projects WHERE id = p
$$;

CREATE FUNCTION stowage_draft_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  last versions%ROWTYPE;
  window_seconds float8 := coalesce(nullif(current_setting('stowage.history_coalesce_seconds', true), '')::float8, 60);
BEGIN
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  IF TG_OP = 'DELETE' THEN
    -- Gone with its project (a cascade): nothing to record.
    IF NOT EXISTS (SELECT 1 FROM projects WHERE id = OLD.project_id) THEN RETURN NULL; END IF;
    INSERT INTO versions (project_id, version, workspace, path, op, principal)
      VALUES (OLD.project_id, stowage_project_version(OLD.project_id), OLD.workspace, OLD.path, 'clean', OLD.updated_by);
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.op = NEW.op AND OLD.content_hash IS NOT DISTINCT FROM NEW.content_hash
     AND OLD.mode IS NOT DISTINCT FROM NEW.mode THEN
    RETURN NULL; -- rebased or marked in conflict: the content is what it was
  END IF;
  SELECT * INTO last FROM versions
    WHERE project_id = NEW.project_id AND workspace = NEW.workspace AND path = NEW.path
    ORDER BY version DESC, id DESC LIMIT 1;
  IF last.id IS NOT NULL AND last.op <> 'clean' AND last.created_at > now() - window_seconds * interval '1 second'
     AND last.version > coalesce((SELECT max(version) FROM checkpoints
                                  WHERE project_id = NEW.project_id AND workspace = NEW.workspace), -1) THEN
    UPDATE versions SET version = NEW.version, op = NEW.op, content = NEW.content, blob_hash = NEW.blob_hash,
        content_hash = NEW.content_hash, size = NEW.size, mode = NEW.mode, principal = NEW.updated_by,
        created_at = now()
      WHERE project_id = last.project_id AND id = last.id;
  ELSE
    INSERT INTO versions (project_id, version, workspace, path, op, content, blob_hash, content_hash, size, mode, principal)
      VALUES (NEW.project_id, NEW.version, NEW.workspace, NEW.path, NEW.op, NEW.content, NEW.blob_hash,
              NEW.content_hash, NEW.size, NEW.mode, NEW.updated_by);
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION stowage_committed_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT stowage_history_on() THEN RETURN NULL; END IF;
  IF TG_OP = 'DELETE' THEN
    IF NOT EXISTS (SELECT 1 FROM projects WHERE id = OLD.project_id) THEN RETURN NULL; END IF;
    INSERT INTO versions (project_id, version, workspace, path, op)
      VALUES (OLD.project_id, stowage_project_version(OLD.project_id), NULL, OLD.path, 'delete');
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.blob_hash = NEW.blob_hash AND OLD.mode = NEW.mode THEN RETURN NULL; END IF;
  INSERT INTO versions (project_id, version, workspace, path, op, blob_hash, content_hash, size, mode)
    VALUES (NEW.project_id, NEW.version, NULL, NEW.path, 'upsert', NEW.blob_hash, NEW.blob_hash, NEW.size, NEW.mode);
  RETURN NULL;
END
$$;

CREATE TRIGGER drafts_history AFTER INSERT OR UPDATE OR DELETE ON drafts
  FOR EACH ROW EXECUTE FUNCTION stowage_draft_version();
CREATE TRIGGER files_history AFTER INSERT OR UPDATE OR DELETE ON files
  FOR EACH ROW EXECUTE FUNCTION stowage_committed_version();

-- What is there today is where history starts.
INSERT INTO versions (project_id, version, workspace, path, op, blob_hash, content_hash, size, mode, created_at)
  SELECT project_id, version, NULL, path, 'upsert', blob_hash, blob_hash, size, mode, updated_at FROM files;
INSERT INTO versions (project_id, version, workspace, path, op, content, blob_hash, content_hash, size, mode,
                      principal, created_at)
  SELECT project_id, version, workspace, path, op, content, blob_hash, content_hash, size, mode, updated_by, updated_at
  FROM drafts;
