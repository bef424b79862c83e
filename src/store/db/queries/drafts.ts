// drafts: each workspace's uncommitted changes, overlaying the committed tree. Content up to the
// inline limit sits in the row; larger content is a blob the row references.
import type { NonSharedBuffer } from 'node:buffer';
import type { Prepared, Queryable } from '../sql.js';
import { CHANGE_BATCH, changeBatchParams, type EventRow } from './events.js';

/** A draft a batch upserts: its content inline (`offset` into the batch's contents, from 1) or
 *  in a blob. */
export interface BatchUpsert {
  workspace: string;
  path: string;
  offset: number | null;
  blobHash: string | null;
  hash: string;
  size: number;
  mode: number | null;
  /** Its change's number in the batch (from 1): the draft gets the version before it + n. */
  n: number;
  principal: string;
  /** Inline content that is UTF-8 without NUL bytes; null for a blob. */
  utf8: boolean | null;
  /** The committed blob it is based on (kept from the draft unless that was in conflict). */
  base: string | null;
}

/** A group-commit batch in ONE statement: its version bumps and events (CHANGE_BATCH), its
 *  upserts, and the drafts it drops because they are back to the committed content. The inline
 *  contents and the deflates are each one binary parameter, cut apart by offset in SQL. */
export async function storeDraftBatch(
  db: Queryable,
  batch: {
    projectId: string;
    /** How many changes the batch holds, and their events. */
    changes: number;
    events: readonly EventRow[];
    contents: Buffer;
    upserts: readonly BatchUpsert[];
    /** A job's stored deflates, parallel to `upserts` (offsets into `joined`, from 1); for other
     *  projects empty arrays, which unnest pads with NULLs: no work per file. */
    deflated: {
      joined: Buffer;
      offsets: readonly (number | null)[];
      sizes: readonly (number | null)[];
      crcs: readonly (number | null)[];
    };
    reverts: readonly { workspace: string; path: string }[];
  },
): Promise<void> {
  const { upserts, reverts, deflated } = batch;
  await db.query(STORE_STATEMENT, [
    ...changeBatchParams(batch.projectId, batch.changes, batch.events),
    batch.contents,
    upserts.map((u) => u.workspace),
    upserts.map((u) => u.path),
    upserts.map((u) => u.offset),
    upserts.map((u) => u.blobHash),
    upserts.map((u) => u.hash),
    upserts.map((u) => u.size),
    upserts.map((u) => u.mode),
    upserts.map((u) => u.n),
    upserts.map((u) => u.principal),
    reverts.map((r) => r.workspace),
    reverts.map((r) => r.path),
    upserts.map((u) => u.utf8),
    deflated.joined,
    deflated.offsets,
    deflated.sizes,
    deflated.crcs,
    upserts.map((u) => u.base),
  ]);
}

/** The batch's statement (see storeDraftBatch): prepared once per connection, so Postgres does
 *  not parse this text again for every batch. Its generic plan joins the reverts to every draft
 *  of the project (it guesses ten reverts, not the none nearly every batch has): the
 *  cardinality test, on a parameter alone, skips that join when there is none to delete. */
const STORE_STATEMENT: Prepared = {
  name: 'stowage_draft_store',
  text: `WITH ${CHANGE_BATCH}, upserted AS (
     INSERT INTO drafts (project_id, workspace, path, op, content, utf8, blob_hash, content_hash, size, mode,
                         deflated, deflated_crc, deflated_of, version, updated_by, base_hash)
     SELECT $1, t.workspace, t.path, 'upsert',
            CASE WHEN t.off IS NULL THEN NULL ELSE substring($9::bytea FROM t.off FOR t.size::int) END,
            t.utf8, t.blob, t.hash, t.size, t.mode,
            CASE WHEN t.doff IS NULL THEN NULL ELSE substring($22::bytea FROM t.doff FOR t.dsize) END,
            t.crc, CASE WHEN t.doff IS NULL THEN NULL ELSE t.hash END,
            v.base + t.n, t.principal, t.base
     FROM v, unnest($10::text[], $11::text[], $12::int[], $13::text[], $14::text[], $15::bigint[],
                    $16::int[], $17::int[], $18::text[], $21::boolean[], $23::int[], $24::int[], $25::bigint[],
                    $26::text[])
             AS t(workspace, path, off, blob, hash, size, mode, n, principal, utf8, doff, dsize, crc, base)
     ON CONFLICT (project_id, workspace, path) DO UPDATE SET
       op = 'upsert', content = excluded.content, utf8 = excluded.utf8, blob_hash = excluded.blob_hash,
       content_hash = excluded.content_hash, size = excluded.size, mode = excluded.mode,
       deflated = excluded.deflated, deflated_crc = excluded.deflated_crc, deflated_of = excluded.deflated_of,
       version = excluded.version, updated_by = excluded.updated_by, updated_at = now(),
       base_hash = CASE WHEN drafts.conflict THEN excluded.base_hash ELSE drafts.base_hash END, conflict = false
   )
   DELETE FROM drafts d USING unnest($19::text[], $20::text[]) AS r(workspace, path)
   WHERE cardinality($19::text[]) > 0
     AND d.project_id = $1 AND d.workspace = r.workspace AND d.path = r.path`,
};

/** An inline draft read for a zip: its stored deflate when it has a valid one, else its content
 *  (as text when marked UTF-8: half the bytes of bytea's hex form, and no hex to decode). */
export interface InlineDraft {
  path: string;
  size: number;
  deflated: NonSharedBuffer | null;
  /** CRC-32 of the content, with `deflated`. */
  crc: number | null;
  text: string | null;
  content: Buffer | null;
}

/** The inline drafts of `paths` in `workspace`, without the view's join (bulk reads: zips).
 *  Paths whose draft keeps its content in a blob are absent. A stored deflate counts only while
 *  it was made from the content there now (deflated_of = content_hash); then the content itself
 *  is not read. */
export async function readInlineDrafts(
  tx: Queryable,
  projectId: string,
  workspace: string,
  paths: readonly string[],
): Promise<InlineDraft[]> {
  return tx.query(
    `SELECT path, size, CASE WHEN stored THEN deflated END AS deflated,
            CASE WHEN stored THEN deflated_crc END AS crc,
            CASE WHEN NOT stored AND utf8 THEN convert_from(content, 'UTF8') END AS text,
            CASE WHEN NOT stored AND utf8 IS NOT TRUE THEN content END AS content
     FROM (SELECT path, size, utf8, content, deflated, deflated_crc,
                  coalesce(deflated_of = content_hash AND deflated IS NOT NULL AND deflated_crc IS NOT NULL,
                           false) AS stored
           FROM drafts
           WHERE project_id = $1 AND workspace = $2 AND path = ANY($3::text[]) AND content IS NOT NULL) d`,
    [projectId, workspace, paths],
  );
}

export const deleteDrafts = (tx: Queryable, projectId: string, workspace: string, paths: readonly string[]) =>
  tx.query(`DELETE FROM drafts WHERE project_id = $1 AND workspace = $2 AND path = ANY($3::text[])`, [
    projectId,
    workspace,
    paths,
  ]);

/** Deletion drafts of committed files, each based on the committed blob it hides (`bases`,
 *  parallel to `paths`); one of a conflicted draft takes the new base and resolves it. */
export async function upsertDeletionDrafts(
  tx: Queryable,
  draft: {
    projectId: string;
    workspace: string;
    version: number;
    principal: string;
    paths: readonly string[];
    bases: readonly (string | null)[];
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO drafts (project_id, workspace, path, op, version, updated_by, base_hash)
       SELECT $1, $2, t.path, 'delete', $3, $4, t.base FROM unnest($5::text[], $6::text[]) AS t(path, base)
       ON CONFLICT (project_id, workspace, path) DO UPDATE SET op = 'delete', content = NULL, utf8 = NULL, blob_hash = NULL,
         content_hash = NULL, size = 0, mode = NULL, deflated = NULL, deflated_crc = NULL, deflated_of = NULL,
         version = excluded.version, updated_by = excluded.updated_by, updated_at = now(),
         base_hash = CASE WHEN drafts.conflict THEN excluded.base_hash ELSE drafts.base_hash END, conflict = false`,
    [draft.projectId, draft.workspace, draft.version, draft.principal, draft.paths, draft.bases],
  );
}

/** An upsert draft of content stored already (inline bytes, or a blob), based on what is
 *  committed at its path (a conflicted draft there is resolved). No stored deflate: a job's file
 *  written this way is deflated when it is zipped. */
export async function upsertDraft(
  tx: Queryable,
  draft: {
    projectId: string;
    workspace: string;
    path: string;
    inline: Buffer | null;
    blobHash: string | null;
    hash: string | null;
    size: number;
    mode: number;
    version: number;
    principal: string;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO drafts (project_id, workspace, path, op, content, blob_hash, content_hash, size, mode, version, updated_by,
                         base_hash)
     VALUES ($1, $2, $3, 'upsert', $4, $5, $6, $7, $8, $9, $10,
             (SELECT blob_hash FROM files WHERE project_id = $1 AND path = $3))
     ON CONFLICT (project_id, workspace, path) DO UPDATE SET op = 'upsert', content = excluded.content, utf8 = NULL,
       blob_hash = excluded.blob_hash, content_hash = excluded.content_hash, size = excluded.size,
       mode = excluded.mode, deflated = NULL, deflated_crc = NULL, deflated_of = NULL,
       version = excluded.version, updated_by = excluded.updated_by, updated_at = now(),
       base_hash = CASE WHEN drafts.conflict THEN excluded.base_hash ELSE drafts.base_hash END, conflict = false`,
    [
      draft.projectId,
      draft.workspace,
      draft.path,
      draft.inline,
      draft.blobHash,
      draft.hash,
      draft.size,
      draft.mode,
      draft.version,
      draft.principal,
    ],
  );
}

/** A draft row as a rebase reads it (commits/draft-rebase.ts). */
export interface DraftRow {
  workspace: string;
  path: string;
  op: 'upsert' | 'delete';
  content: Buffer | null;
  blob_hash: string | null;
  content_hash: string | null;
  base_hash: string | null;
  conflict: boolean;
}

const DRAFT_ROW_COLUMNS =
  'd.workspace, d.path, d.op, d.content, d.blob_hash, d.content_hash, d.base_hash, d.conflict';

/** Every workspace's drafts at `paths`. */
export const selectDraftsAt = (tx: Queryable, projectId: string, paths: readonly string[]) =>
  tx.query<DraftRow>(
    `SELECT ${DRAFT_ROW_COLUMNS} FROM drafts d WHERE d.project_id = $1 AND d.path = ANY($2::text[])`,
    [projectId, paths],
  );

/** A commit's drafts go from `workspace`, each only while it still holds what was committed
 *  (`committed`: path and draft content hash); in the same statement, every other draft at
 *  `others` (other workspaces', or a write that raced the commit) is read, to be rebased. */
export const clearCommittedDrafts = (
  tx: Queryable,
  projectId: string,
  workspace: string,
  committed: readonly { path: string; draft: string | null }[],
  others: readonly string[],
) =>
  tx.query<DraftRow>(
    `WITH cleared AS (
             DELETE FROM drafts d USING unnest($3::text[], $4::text[]) AS t(path, hash)
             WHERE d.project_id = $1 AND d.workspace = $2 AND d.path = t.path
               AND d.content_hash IS NOT DISTINCT FROM t.hash
             RETURNING d.path)
           SELECT ${DRAFT_ROW_COLUMNS} FROM drafts d
           WHERE d.project_id = $1 AND d.path = ANY($5::text[])
             AND NOT (d.workspace = $2 AND d.path IN (SELECT path FROM cleared))`,
    [projectId, workspace, committed.map((c) => c.path), committed.map((c) => c.draft), others],
  );

/** A draft, by workspace and path. */
export interface DraftKey {
  projectId: string;
  workspace: string;
  path: string;
}

/** Marks the draft in conflict, at `version`; its content stays as it was. */
export async function markDraftConflict(tx: Queryable, key: DraftKey, version: number): Promise<void> {
  await tx.query(
    `UPDATE drafts SET conflict = true, version = $4, updated_at = now()
           WHERE project_id = $1 AND workspace = $2 AND path = $3`,
    [key.projectId, key.workspace, key.path, version],
  );
}

export async function deleteDraft(tx: Queryable, key: DraftKey): Promise<void> {
  await tx.query(`DELETE FROM drafts WHERE project_id = $1 AND workspace = $2 AND path = $3`, [
    key.projectId,
    key.workspace,
    key.path,
  ]);
}

/** Bases the draft, content unchanged, on `base` at `version` (resolving a conflict). */
export async function rebaseDraft(
  tx: Queryable,
  key: DraftKey,
  base: string | null,
  version: number,
): Promise<void> {
  await tx.query(
    `UPDATE drafts SET base_hash = $4, conflict = false, version = $5, updated_at = now()
           WHERE project_id = $1 AND workspace = $2 AND path = $3`,
    [key.projectId, key.workspace, key.path, base, version],
  );
}

/** The draft's new content (inline, or a blob stored already), based on `base` at `version`. A
 *  job's stored deflate was made from the old content: cleared, it is made again when zipped. */
export async function replaceDraftContent(
  tx: Queryable,
  key: DraftKey,
  draft: {
    inline: Buffer | null;
    utf8: boolean | null;
    blobHash: string | null;
    hash: string;
    size: number;
    base: string | null;
    version: number;
  },
): Promise<void> {
  await tx.query(
    `UPDATE drafts SET content = $4, utf8 = $5, blob_hash = $6, content_hash = $7, size = $8, base_hash = $9,
         conflict = false, deflated = NULL, deflated_crc = NULL, deflated_of = NULL, version = $10, updated_at = now()
       WHERE project_id = $1 AND workspace = $2 AND path = $3`,
    [
      key.projectId,
      key.workspace,
      key.path,
      draft.inline,
      draft.utf8,
      draft.blobHash,
      draft.hash,
      draft.size,
      draft.base,
      draft.version,
    ],
  );
}

/** The workspaces with drafts in the project, in order. */
export async function selectDraftWorkspaces(tx: Queryable, projectId: string): Promise<string[]> {
  const rows = await tx.query<{ workspace: string }>(
    `SELECT DISTINCT workspace FROM drafts WHERE project_id = $1 ORDER BY workspace`,
    [projectId],
  );
  return rows.map((r) => r.workspace);
}

/** How many drafts each workspace with drafts has, by workspace. */
export const draftCountsByWorkspace = (tx: Queryable, projectId: string) =>
  tx.query<{ workspace: string; changes: number }>(
    `SELECT workspace, count(*)::int AS changes FROM drafts WHERE project_id = $1 GROUP BY workspace ORDER BY workspace`,
    [projectId],
  );

/** Per workspace with drafts: its owner, how many changes and their bytes. */
export const draftTotalsByWorkspace = (db: Queryable, projectId: string) =>
  db.query<{ workspace: string; owner: string | null; changes: number; bytes: number }>(
    `SELECT d.workspace, w.owner, count(*)::int AS changes, coalesce(sum(d.size), 0)::bigint AS bytes
         FROM drafts d LEFT JOIN workspaces w ON w.project_id = d.project_id AND w.name = d.workspace
         WHERE d.project_id = $1 GROUP BY d.workspace, w.owner ORDER BY d.workspace`,
    [projectId],
  );
