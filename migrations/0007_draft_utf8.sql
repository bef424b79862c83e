-- Inline drafts that are UTF-8 text without NUL bytes (most source files), marked when written,
-- so bulk reads (zips) can fetch them as text: half the bytes of bytea's hex form, and no hex to
-- decode. NULL (a blob, binary content, or a draft copied by a move) means: read the bytea.
ALTER TABLE drafts ADD COLUMN utf8 boolean;
