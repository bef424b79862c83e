-- Jobs, project lifecycle, quotas and artifacts.
-- Project status: 'active' | 'archived'; job status: 'generating' | 'complete' | 'failed' |
-- 'expired'. Soft-deleted projects keep their row with deleted_at set, and free their name.
ALTER TABLE projects
  ADD COLUMN plan jsonb,
  ADD COLUMN error text,
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN quota_bytes bigint,
  ADD COLUMN deleted_at timestamptz;
ALTER TABLE projects DROP CONSTRAINT projects_name_key;
CREATE UNIQUE INDEX projects_name_live_idx ON projects (name) WHERE deleted_at IS NULL;
CREATE INDEX projects_expiry_idx ON projects (expires_at) WHERE expires_at IS NOT NULL;

-- Stored archives: job zips, project archives, exports. The bytes live in the artifact store
-- under the artifact's id; the row is written after them.
CREATE TABLE artifacts (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  kind       text NOT NULL CHECK (kind IN ('job_zip', 'archive', 'export')),
  name       text NOT NULL,
  size       bigint NOT NULL,
  sha256     text NOT NULL,
  files      integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  PRIMARY KEY (project_id, id)
);
CREATE INDEX artifacts_expiry_idx ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
