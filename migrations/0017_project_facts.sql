-- Project facts (get_project, list_projects {language, framework, min_bytes, max_bytes, sort}):
-- the committed tree's bytes and files, its languages and the frameworks its manifests name,
-- kept as the tree changes rather than computed per request. What a file counts as is decided in
-- TypeScript as its row is written (formats/languages.ts: its language by its path, from GitHub
-- Linguist's table; formats/frameworks.ts: a manifest's frameworks, from its content) and kept on
-- the row; statement triggers on files add each statement's change to its project's totals, so
-- that no write path can forget them. The committed tree changes on commits, imports, syncs and
-- restores, not on autosaves, so drafts cost nothing here.
--
-- Files deleted with history paused (stowage.history = 'off') moved elsewhere: archiving puts
-- them in the archive, a job's expiry removes its content. Their project keeps its facts
-- (facts_kept), so an archived project is still found by its languages and size; when files
-- come back (a restore, however it writes them), its facts are counted anew from its rows.
-- Projects that were there before this migration get their bytes and files here (an archived
-- one, those it was archived with); their languages and frameworks are counted once from
-- TypeScript while facts_pending says so (store/project-facts.ts).

-- language: a Linguist name, or null (none that counts); frameworks: null unless a manifest.
ALTER TABLE files ADD COLUMN language text, ADD COLUMN frameworks text[];
CREATE INDEX files_manifests_idx ON files (project_id) WHERE frameworks IS NOT NULL;

ALTER TABLE projects
  ADD COLUMN committed_bytes bigint NOT NULL DEFAULT 0,
  ADD COLUMN committed_files integer NOT NULL DEFAULT 0,
  ADD COLUMN frameworks text[] NOT NULL DEFAULT '{}',
  ADD COLUMN facts_pending boolean NOT NULL DEFAULT true, -- the projects there now
  ADD COLUMN facts_kept boolean NOT NULL DEFAULT false;
ALTER TABLE projects ALTER COLUMN facts_pending SET DEFAULT false;
-- Sorted and bounded by size. Not by updated_at: every autosave moves it, and an index on it
-- would make each autosave's version bump a non-HOT update.
CREATE INDEX projects_bytes_idx ON projects (committed_bytes DESC, name) WHERE deleted_at IS NULL;
CREATE INDEX projects_frameworks_idx ON projects USING gin (frameworks);
CREATE INDEX projects_facts_pending_idx ON projects (name) WHERE facts_pending AND deleted_at IS NULL;

CREATE TABLE project_languages (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  language   text NOT NULL,
  files      integer NOT NULL,
  bytes      bigint NOT NULL,
  PRIMARY KEY (project_id, language)
);
CREATE INDEX project_languages_language_idx ON project_languages (language, project_id);

-- What one file row adds to (files 1) or takes from (files -1) its project's facts.
CREATE TYPE stowage_tree_count AS (project_id uuid, language text, files integer, bytes bigint, manifest boolean);

-- A project's frameworks: its manifests', each once.
CREATE FUNCTION stowage_tree_frameworks(p uuid) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(DISTINCT f ORDER BY f), '{}') FROM files, unnest(frameworks) f
  WHERE project_id = p AND frameworks IS NOT NULL
$$;

-- A project's facts counted anew from its rows.
CREATE FUNCTION stowage_recount_tree(p uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM project_languages WHERE project_id = p;
  INSERT INTO project_languages (project_id, language, files, bytes)
    SELECT p, language, count(*), sum(size) FROM files WHERE project_id = p AND language IS NOT NULL
    GROUP BY language;
  UPDATE projects SET committed_files = t.files, committed_bytes = t.bytes, frameworks = stowage_tree_frameworks(p),
      facts_pending = false, facts_kept = false
    FROM (SELECT count(*)::int AS files, coalesce(sum(size), 0)::bigint AS bytes FROM files WHERE project_id = p) t
    WHERE id = p;
END
$$;

-- Adds `counted` to the projects' facts; a project whose facts were kept is counted anew instead.
-- A project gone in the same statement (a cascade) is not counted: its facts went with it.
CREATE FUNCTION stowage_count_tree(counted stowage_tree_count[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  kept uuid[] := ARRAY(SELECT id FROM projects WHERE facts_kept AND id IN (SELECT project_id FROM unnest(counted)));
BEGIN
  IF cardinality(kept) > 0 THEN
    PERFORM stowage_recount_tree(k) FROM unnest(kept) k;
    counted := ARRAY(SELECT c FROM unnest(counted) c WHERE c.project_id <> ALL (kept));
  END IF;
  UPDATE projects p SET committed_files = p.committed_files + c.files, committed_bytes = p.committed_bytes + c.bytes
    FROM (SELECT project_id, sum(files)::int AS files, sum(bytes)::bigint AS bytes FROM unnest(counted)
          GROUP BY project_id) c
    WHERE p.id = c.project_id AND (c.files <> 0 OR c.bytes <> 0);
  INSERT INTO project_languages AS l (project_id, language, files, bytes)
    SELECT c.project_id, c.language, sum(c.files), sum(c.bytes) FROM unnest(counted) c
    WHERE c.language IS NOT NULL AND EXISTS (SELECT 1 FROM projects p WHERE p.id = c.project_id)
    GROUP BY c.project_id, c.language
    HAVING sum(c.files) <> 0 OR sum(c.bytes) <> 0
    ON CONFLICT (project_id, language) DO UPDATE SET files = l.files + excluded.files, bytes = l.bytes + excluded.bytes;
  DELETE FROM project_languages l
    USING (SELECT DISTINCT project_id, language FROM unnest(counted) WHERE language IS NOT NULL) c
    WHERE l.project_id = c.project_id AND l.language = c.language AND l.files <= 0;
  -- A manifest came, changed or went: the frameworks are its project's manifests' again.
  UPDATE projects p SET frameworks = stowage_tree_frameworks(p.id)
    WHERE p.id IN (SELECT project_id FROM unnest(counted) WHERE manifest);
END
$$;

CREATE FUNCTION stowage_files_counted_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stowage_count_tree(array_agg((n.project_id, n.language, 1, n.size, n.frameworks IS NOT NULL)::stowage_tree_count))
    FROM new_rows n HAVING count(*) > 0;
  RETURN NULL;
END
$$;

-- Only rows whose size, language or frameworks moved (marking files local moves none).
CREATE FUNCTION stowage_files_counted_again() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- With history paused the files moved elsewhere (an archive): their projects keep their facts.
CREATE FUNCTION stowage_files_counted_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF stowage_history_on() THEN
    PERFORM stowage_count_tree(array_agg((o.project_id, o.language, -1, -o.size, o.frameworks IS NOT NULL)::stowage_tree_count))
      FROM old_rows o HAVING count(*) > 0;
  ELSE
    UPDATE projects SET facts_kept = true WHERE id IN (SELECT project_id FROM old_rows) AND NOT facts_kept;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER files_facts_insert AFTER INSERT ON files REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_files_counted_in();
CREATE TRIGGER files_facts_update AFTER UPDATE ON files REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_files_counted_again();
CREATE TRIGGER files_facts_delete AFTER DELETE ON files REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_files_counted_out();

-- The projects there now: their bytes and files. An archived one's files are in its archive: its
-- size is the one archiving it recorded, kept until it is restored.
UPDATE projects p SET committed_files = t.files, committed_bytes = t.bytes
  FROM (SELECT project_id, count(*)::int AS files, sum(size)::bigint AS bytes FROM files GROUP BY project_id) t
  WHERE p.id = t.project_id;
UPDATE projects p SET committed_files = coalesce((e.detail->>'files')::int, 0),
    committed_bytes = coalesce((e.detail->>'bytes')::bigint, 0), facts_kept = true
  FROM (SELECT DISTINCT ON (project_id) project_id, detail FROM events WHERE kind = 'project.archive'
        ORDER BY project_id, id DESC) e
  WHERE p.id = e.project_id AND p.status = 'archived';
