// The workspace view: a workspace's drafts overlaid on the committed tree, read with one query.
import type { NonSharedBuffer } from 'node:buffer';
import { escapeLiteral } from '../db/literal.js';
import type { Queryable } from '../db/sql.js';
import { etagOf } from '../../formats/content.js';

export type FileState = 'committed' | 'added' | 'modified' | 'deleted';
/** The state tools show: a conflicted draft is `conflict`, whatever it holds. */
export type ShownState = FileState | 'conflict';

export interface ViewEntry {
  path: string;
  state: FileState;
  /** SHA-256 of the content this workspace sees; null for a deletion. */
  hash: string | null;
  etag: string | null;
  size: number;
  mode: number;
  /** Where the content is: inline draft bytes (when asked for), else a blob hash. */
  inline: Buffer | null;
  blobHash: string | null;
  /** The committed version underneath, if any. */
  committedHash: string | null;
  /** The committed version's git blob SHA: what a remote had there when we last matched it. */
  committedGitSha: string | null;
  /** The committed version came from a commit that was never pushed. */
  committedLocal: boolean;
  committedSize: number;
  /** The committed blob the draft was based on (null: the path did not exist then); without a
   *  draft, the committed blob. */
  baseHash: string | null;
  /** Its git blob SHA, read only with the `withBaseSha` filter (commits). */
  baseGitSha?: string | null;
  /** The committed tree moved under the draft and the merge overlapped: its content is as the
   *  agent left it until a write, edit, delete or discard resolves it. */
  conflict: boolean;
}

export const shownState = (e: ViewEntry): ShownState => (e.conflict ? 'conflict' : e.state);

export interface ViewFilter {
  paths?: readonly string[];
  /** Canonical prefix ending in '/', or '' for the whole tree. */
  prefix?: string;
  /** With both `paths` and `prefix`: paths in either (instead of both). */
  union?: boolean;
  /** Only paths strictly after this one (pagination). */
  after?: string;
  limit?: number;
  /** Leave out deletions (reads); listings and change reports keep them. */
  present?: boolean;
  /** Only paths with a draft (list_changes). */
  changedOnly?: boolean;
  withContent?: boolean;
  /** Read each draft's base git SHA too (baseGitSha). */
  withBaseSha?: boolean;
}

interface Row {
  path: string;
  state: FileState;
  hash: string | null;
  size: number | null;
  mode: number;
  draft_blob: string | null;
  content: Buffer | null;
  committed_hash: string | null;
  committed_size: number | null;
  committed_git_sha: string | null;
  committed_local: boolean | null;
  base_hash: string | null;
  base_git_sha?: string | null;
  conflict: boolean | null;
}

/** The smallest string greater than every string starting with `prefix` (C collation). */
export function prefixUpperBound(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

export async function readView(
  tx: Queryable,
  projectId: string,
  workspace: string,
  filter: ViewFilter = {},
): Promise<ViewEntry[]> {
  const params: unknown[] = [projectId, workspace];
  const conds: string[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const byPaths = filter.paths ? `path = ANY(${bind(filter.paths)}::text[])` : undefined;
  const byPrefix =
    filter.prefix !== undefined
      ? filter.prefix
        ? `(path >= ${bind(filter.prefix)} AND path < ${bind(prefixUpperBound(filter.prefix))})`
        : 'true'
      : undefined;
  if (byPaths && byPrefix && filter.union) conds.push(`(${byPaths} OR ${byPrefix})`);
  else conds.push(...[byPaths, byPrefix].filter((c) => c !== undefined));
  if (filter.after !== undefined) conds.push(`path > ${bind(filter.after)}`);
  const pathFilter = conds.map((c) => ` AND ${c}`).join('');
  const outer: string[] = ["NOT (d.op = 'delete' AND f.path IS NULL)"];
  if (filter.present) outer.push(`d.op IS DISTINCT FROM 'delete'`);
  if (filter.changedOnly) outer.push('d.op IS NOT NULL');
  const limit = filter.limit !== undefined ? `LIMIT ${bind(filter.limit)}` : '';

  const rows = await tx.query<Row>(
    `SELECT coalesce(d.path, f.path) AS path, ${VIEW_COLUMNS},
            ${filter.withContent ? 'd.content' : 'NULL::bytea'} AS content${filter.withBaseSha ? BASE_SHA : ''}
     FROM (SELECT path, blob_hash, size, mode, git_sha, local FROM files WHERE project_id = $1${pathFilter}) f
     FULL JOIN (SELECT path, op, content, blob_hash, content_hash, size, mode, base_hash, conflict FROM drafts
                WHERE project_id = $1 AND workspace = $2${pathFilter}) d ON d.path = f.path
     WHERE ${outer.join(' AND ')}
     ORDER BY 1 ${limit}`,
    params,
  );
  return rows.map(toEntry);
}

/** The view entries of many (workspace, path) pairs of one project (group commit), as a
 *  statement without parameters: it travels with the transaction's BEGIN and project lock in
 *  one round trip (Sql.transaction's `opening`), runs once the lock is held, and `viewOfPairs`
 *  reads its rows. Absent paths have no entry; no content. */
export function viewPairsStatement(
  projectName: string,
  pairs: readonly { workspace: string; path: string }[],
): string {
  // A primary-key probe per pair. The LIMITs keep each lookup a lookup: flattened into plain
  // joins, the planner (which guesses 100 rows from any set-returning function) hashed the whole
  // files and drafts tables, every project's rows, for every batch.
  return `SELECT k.workspace, k.path, ${VIEW_COLUMNS}, NULL::bytea AS content
     FROM projects p
     CROSS JOIN jsonb_to_recordset(${escapeLiteral(JSON.stringify(pairs))}::jsonb) AS k(workspace text, path text)
     LEFT JOIN LATERAL (SELECT path, blob_hash, size, mode, git_sha, local FROM files
                        WHERE project_id = p.id AND path = k.path LIMIT 1) f ON true
     LEFT JOIN LATERAL (SELECT path, op, content_hash, size, mode, blob_hash, base_hash, conflict FROM drafts
                        WHERE project_id = p.id AND workspace = k.workspace AND path = k.path LIMIT 1) d ON true
     WHERE p.name = ${escapeLiteral(projectName)} AND p.deleted_at IS NULL
       AND (f.path IS NOT NULL OR d.path IS NOT NULL) AND NOT (d.op = 'delete' AND f.path IS NULL)`;
}

/** The rows of `viewPairsStatement`, by `pairKey`. */
export const viewOfPairs = (rows: readonly object[]): Map<string, ViewEntry> =>
  new Map((rows as (Row & { workspace: string })[]).map((r) => [pairKey(r.workspace, r.path), toEntry(r)]));

export const pairKey = (workspace: string, path: string) => `${workspace}\0${path}`;

// The view's columns over a committed row `f` and a draft row `d` of the same path.
const VIEW_COLUMNS = `
  CASE WHEN d.op IS NULL THEN 'committed' WHEN d.op = 'delete' THEN 'deleted'
       WHEN f.path IS NULL THEN 'added' ELSE 'modified' END AS state,
  CASE WHEN d.op IS NULL THEN f.blob_hash ELSE d.content_hash END AS hash,
  CASE WHEN d.op IS NULL THEN f.size ELSE d.size END AS size,
  coalesce(d.mode, f.mode, 33188) AS mode,
  d.blob_hash AS draft_blob,
  f.blob_hash AS committed_hash, f.size AS committed_size, f.git_sha AS committed_git_sha,
  f.local AS committed_local, d.base_hash, d.conflict`;

const BASE_SHA = `,
  (SELECT b.git_sha FROM blobs b WHERE b.hash = d.base_hash) AS base_git_sha`;

const toEntry = (r: Row): ViewEntry => ({
  path: r.path,
  state: r.state,
  hash: r.state === 'deleted' ? null : r.hash,
  etag: r.state === 'deleted' || !r.hash ? null : etagOf(r.hash),
  size: r.state === 'deleted' ? 0 : (r.size ?? 0),
  mode: r.mode,
  inline: r.content,
  blobHash: r.state === 'committed' ? r.committed_hash : r.draft_blob,
  committedHash: r.committed_hash,
  committedSize: r.committed_size ?? 0,
  committedGitSha: r.committed_git_sha,
  committedLocal: r.committed_local ?? false,
  baseHash: r.state === 'committed' ? r.committed_hash : r.base_hash,
  ...(r.base_git_sha !== undefined ? { baseGitSha: r.base_git_sha } : {}),
  conflict: r.conflict ?? false,
});

/** Bytes each workspace's view holds (committed files, with its drafts applied), by workspace. */
export async function viewBytes(
  tx: Queryable,
  projectId: string,
  workspaces: readonly string[],
): Promise<Map<string, number>> {
  const rows = await tx.query<{ workspace: string; bytes: number }>(
    `SELECT w AS workspace,
            (SELECT coalesce(sum(size), 0) FROM files WHERE project_id = $1)
          - (SELECT coalesce(sum(f.size), 0) FROM drafts d
               JOIN files f ON f.project_id = d.project_id AND f.path = d.path
             WHERE d.project_id = $1 AND d.workspace = w)
          + (SELECT coalesce(sum(size), 0) FROM drafts WHERE project_id = $1 AND workspace = w AND op = 'upsert')
          AS bytes
     FROM unnest($2::text[]) AS w`,
    [projectId, workspaces],
  );
  return new Map(rows.map((r) => [r.workspace, Number(r.bytes)]));
}

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
