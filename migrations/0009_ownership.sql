-- Who owns what, for hosted servers shared by tenants.
-- A token may attach only remotes matching its `remotes` patterns (NULL: none), and use other
-- principals' workspaces only where its `workspaces` patterns match (NULL: its own only).
ALTER TABLE api_tokens ADD COLUMN remotes text[], ADD COLUMN workspaces text[];

-- A job belongs to its creator (created_by) and, when the creator was a token, to that token's
-- project patterns: a token of the same principal for another tenant does not see it.
-- NULL: created by a one-user caller (stdio, tokenless loopback).
ALTER TABLE projects ADD COLUMN owner_projects text[];

-- A workspace belongs to the principal that first wrote to it. The default workspace is named
-- after its principal and is always that principal's: its first write claims it back.
CREATE TABLE workspaces (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name       text NOT NULL,
  owner      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, name)
);
CREATE INDEX workspaces_owner_idx ON workspaces (owner);

INSERT INTO workspaces (project_id, name, owner)
SELECT project_id, workspace,
       CASE WHEN bool_or(updated_by = workspace) THEN workspace ELSE min(updated_by) END
FROM drafts GROUP BY project_id, workspace;

-- Claimed where drafts are inserted, in the writer's own statement: every path that creates a
-- draft (write, edit, move, delete, group commit) claims its workspace, and a write that rolls
-- back claims nothing. A statement trigger runs once per statement, not per row.
CREATE FUNCTION stowage_claim_workspaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO workspaces (project_id, name, owner)
  SELECT DISTINCT ON (project_id, workspace) project_id, workspace, updated_by
  FROM new_drafts ORDER BY project_id, workspace, (updated_by = workspace) DESC
  ON CONFLICT (project_id, name) DO UPDATE SET owner = excluded.owner
    WHERE excluded.owner = excluded.name AND workspaces.owner <> excluded.owner;
  RETURN NULL;
END
$$;

CREATE TRIGGER drafts_claim_workspaces AFTER INSERT ON drafts
  REFERENCING NEW TABLE AS new_drafts
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_claim_workspaces();
