-- Recording a draft's version looks its path's versions up by index, whatever the statistics say.
-- stowage_record_drafts is planned once per connection (force_generic_plan, migration 0019); a
-- plan made while versions was small (a new server, or before autovacuum has analyzed a burst of
-- writes such as a restore) joined the coalescing update to versions by a sequential scan, and
-- kept it until the next ANALYZE: every autosave then read every version of every project (5,050
-- rows: 1.2 of the 1.3 ms the function took per write, growing with the table). Each lookup it
-- makes has an index: versions_view_idx, the primary key, checkpoints_workspace_idx.
ALTER FUNCTION stowage_record_drafts(stowage_draft_change[]) SET enable_seqscan = off;
