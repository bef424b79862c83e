-- Git remotes and commit history.
-- remote: {url, branch}; head_sha: the remote commit the committed tree was last brought to.
ALTER TABLE projects
  ADD COLUMN remote jsonb,
  ADD COLUMN head_sha text;

-- A committed file changed by a commit that was not pushed (push: false on a project with a
-- remote): sync must not overwrite it with the remote's version.
ALTER TABLE files ADD COLUMN local boolean NOT NULL DEFAULT false;

-- One row per commit_task: what was committed, by whom, and where it went.
CREATE TABLE commits (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  id         bigserial NOT NULL,
  version    bigint,            -- the project version it produced; NULL when it was not applied
  task_id    text NOT NULL,
  task_title text NOT NULL,
  message    text NOT NULL,
  author     text NOT NULL,
  workspace  text NOT NULL,
  files      jsonb NOT NULL,    -- [{path, state}]
  status     text NOT NULL CHECK (status IN ('local', 'pushed', 'diverged')),
  git_sha    text,
  branch     text,
  detail     jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, id)
);
CREATE INDEX commits_task_idx ON commits (project_id, task_id);
