-- A job's files only ever leave as a zip, so each inline draft of a job is deflated once, when it
-- is written: its raw-deflate bytes and CRC-32 are stored beside the content and zip_job only
-- assembles them. `deflated_of` is the content_hash the deflate was made from; a zip uses the
-- stored deflate only while it equals content_hash, so a writer that changes the content without
-- clearing these columns can never put stale bytes into a zip. NULL: deflate at zip time.
ALTER TABLE drafts ADD COLUMN deflated bytea, ADD COLUMN deflated_crc bigint, ADD COLUMN deflated_of text;
