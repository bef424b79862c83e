-- Draft base and conflicts. A draft remembers the committed blob it was based on (`base_hash`,
-- NULL: the path did not exist), kept across later writes to it. When the committed tree moves
-- under a draft (sync, another workspace's commit), the draft is rebased by a three-way merge
-- (draft-rebase.ts); an overlap leaves its content as it was and sets `conflict` until a write,
-- an edit, a delete or a discard resolves it. Drafts written before this migration were made on
-- the committed tree as it is now (nothing moved drafts before), so that is their base.
ALTER TABLE drafts ADD COLUMN base_hash text, ADD COLUMN conflict boolean NOT NULL DEFAULT false;
UPDATE drafts d SET base_hash = f.blob_hash FROM files f WHERE f.project_id = d.project_id AND f.path = d.path;

-- A conflicted draft's base is the only reference left to that blob (the committed tree moved
-- on): cleanup keeps it, probing this index. Other drafts' bases are the committed blob itself.
CREATE INDEX drafts_conflict_base_idx ON drafts (base_hash) WHERE conflict;

-- A push intent: commit_task records the commit it is about to push (sha, parent, each path's
-- pushed content hash) as a history row in status 'pushing' before pushing, and turns it into
-- 'pushed' in the transaction that applies it. A row still 'pushing' after its process died is
-- reconciled by the workspace's next commit_task or the project's next sync: applied if the
-- remote branch holds the commit, dropped if it never landed.
ALTER TABLE commits DROP CONSTRAINT commits_status_check;
ALTER TABLE commits ADD CONSTRAINT commits_status_check
  CHECK (status IN ('local', 'pushed', 'diverged', 'pushing'));
CREATE INDEX commits_pushing_idx ON commits (project_id, workspace) WHERE status = 'pushing';
