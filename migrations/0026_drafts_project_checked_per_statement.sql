-- A statement's drafts are checked against their project once per project, not once per row.
-- The foreign key ran its check for every row: restoring 2,000 files paid 2,000 lookups and
-- locks of the one project row the writer already holds (13 ms of the restore's 80 ms insert).
-- What the key gave is kept: a draft names a project that exists, locked FOR KEY SHARE as the
-- key's check locked it (a project's removal waits for the writer, and a writer that waited for
-- a removal then fails, as 23503); a project removed takes its drafts with it; and a draft never
-- moves to another project. The blob key stays as it was: its per-row locks are what holds each
-- blob against collection (maintenance/blob-gc.ts), and checking per statement cost the same.
ALTER TABLE drafts DROP CONSTRAINT drafts_project_id_fkey;

CREATE FUNCTION stowage_drafts_project_checked() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
  named int;
  held int;
BEGIN
  SELECT count(DISTINCT n.project_id) INTO named FROM new_rows n;
  SELECT count(*) INTO held
  FROM (SELECT 1 FROM projects p WHERE p.id IN (SELECT n.project_id FROM new_rows n) FOR KEY SHARE OF p) l;
  IF held < named THEN
    RAISE EXCEPTION 'insert on table "drafts" violates its project check: a draft names a project that does not exist'
      USING ERRCODE = 'foreign_key_violation', TABLE = 'drafts', COLUMN = 'project_id';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER drafts_project_checked AFTER INSERT ON drafts
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stowage_drafts_project_checked();

CREATE FUNCTION stowage_drafts_stay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a draft cannot move to another project' USING ERRCODE = 'foreign_key_violation';
END
$$;

-- Fires only for an UPDATE that sets project_id (none does), and then only if it changes.
CREATE TRIGGER drafts_stay BEFORE UPDATE OF project_id ON drafts
  FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id) EXECUTE FUNCTION stowage_drafts_stay();

CREATE FUNCTION stowage_projects_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM drafts d USING gone g WHERE d.project_id = g.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER projects_removed AFTER DELETE ON projects
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION stowage_projects_removed();
