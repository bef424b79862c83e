-- Blob garbage collection looks blobs up by who references them. Without these indexes every
-- blob deletion's foreign-key check (and cleanup's "is anyone still using it" test) scans all
-- of files and drafts; with them it is one index probe each.
CREATE INDEX files_blob_hash_idx ON files (blob_hash);
CREATE INDEX drafts_blob_hash_idx ON drafts (blob_hash) WHERE blob_hash IS NOT NULL;
