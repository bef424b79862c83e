-- Likely secrets in content (formats/secret-scan.ts, gitleaks' rules), by the content's hash: a
-- write records what its content holds, and the drafts and the committed tree say where that
-- content is now, so a fixed file stops being listed without anything to clear. Only the line and
-- the rule id are kept, never the text matched.
CREATE TABLE secret_findings (
  project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  content_hash text NOT NULL,
  findings     jsonb NOT NULL, -- [{line, rule}]
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, content_hash)
);
