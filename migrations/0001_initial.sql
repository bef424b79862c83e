-- Projects, committed files, workspace drafts, blobs and the event log.
-- Every project-owned table leads its primary key with project_id so the schema can be
-- distributed by project (Citus) without code changes; blobs are global and content-addressed.

CREATE TABLE projects (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text COLLATE "C" NOT NULL UNIQUE,
  kind        text NOT NULL DEFAULT 'project' CHECK (kind IN ('project', 'job')),
  description text,
  tags        text[] NOT NULL DEFAULT '{}',
  metadata    jsonb NOT NULL DEFAULT '{}',
  status      text NOT NULL DEFAULT 'active',
  version     bigint NOT NULL DEFAULT 0,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_tags_idx ON projects USING gin (tags);

-- One row per stored blob; content lives in the blob store under its SHA-256.
CREATE TABLE blobs (
  hash       text PRIMARY KEY,
  size       bigint NOT NULL,
  git_sha    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The committed tree: the project's files as of its last commit.
CREATE TABLE files (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  path       text COLLATE "C" NOT NULL,
  blob_hash  text NOT NULL REFERENCES blobs (hash),
  size       bigint NOT NULL,
  git_sha    text NOT NULL,
  mode       integer NOT NULL DEFAULT 33188, -- 0o100644; 0o100755 for executables
  version    bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, path)
);

-- Uncommitted changes per workspace, overlaying the committed tree. Content up to the inline
-- limit sits in `content`; larger content is a blob referenced by `blob_hash`.
CREATE TABLE drafts (
  project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  workspace    text NOT NULL,
  path         text COLLATE "C" NOT NULL,
  op           text NOT NULL CHECK (op IN ('upsert', 'delete')),
  content      bytea,
  blob_hash    text REFERENCES blobs (hash),
  content_hash text,
  size         bigint NOT NULL DEFAULT 0,
  mode         integer,
  version      bigint NOT NULL,
  updated_by   text NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, workspace, path),
  CHECK (op = 'delete' OR (content_hash IS NOT NULL AND (content IS NULL) <> (blob_hash IS NULL)))
);

-- Append-only log of every change: who, what, when. Later used for history, sync cursors and
-- notifications; `id` is global so a reader can follow all projects with one cursor.
CREATE TABLE events (
  project_id uuid NOT NULL,
  id         bigserial NOT NULL,
  version    bigint,
  principal  text NOT NULL,
  workspace  text,
  kind       text NOT NULL,
  path       text,
  detail     jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, id)
);
CREATE INDEX events_id_idx ON events (id);
