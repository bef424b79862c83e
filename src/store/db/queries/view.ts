// The workspace view: a workspace's drafts overlaid on the committed tree, the one read that spans
// two tables (files ⊕ drafts), so it has its own module. Rows come back as the view's columns;
// workspace/view.ts turns them into entries.
import type { LikeFilter } from '../../../formats/search-prefilter.js';
import type { Prepared, Queryable, Statement } from '../sql.js';

export type FileState = 'committed' | 'added' | 'modified' | 'deleted';

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

/** A path of the view: its committed row `f` and draft row `d`, either of which may be absent. */
export interface ViewRow {
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

/** The view of `workspace` in path order, filtered, in one query. */
export function selectView(
  tx: Queryable,
  projectId: string,
  workspace: string,
  filter: ViewFilter = {},
): Promise<ViewRow[]> {
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

  return tx.query<ViewRow>(
    `SELECT coalesce(d.path, f.path) AS path, ${VIEW_COLUMNS},
            ${filter.withContent ? 'd.content' : 'NULL::bytea'} AS content${filter.withBaseSha ? BASE_SHA : ''}
     FROM (SELECT path, blob_hash, size, mode, git_sha, local FROM files WHERE project_id = $1${pathFilter}) f
     FULL JOIN (SELECT path, op, content, blob_hash, content_hash, size, mode, base_hash, conflict FROM drafts
                WHERE project_id = $1 AND workspace = $2${pathFilter}) d ON d.path = f.path
     WHERE ${outer.join(' AND ')}
     ORDER BY 1 ${limit}`,
    params,
  );
}

/** A present file of a view as search_files reads it: where its content is, and its size. */
export interface SearchViewRow {
  path: string;
  /** The blob holding its content; null for an inline draft. */
  blob: string | null;
  size: number;
  /** An inline draft's content; with a literal, only when Postgres finds it may hold it (or the
   *  draft is not marked UTF-8, so Postgres cannot tell). */
  content: Buffer | null;
}

/** The present files of `workspace`'s view under `prefix` ('' for all) in path order, in one
 *  query: the view's few columns search_files needs, each inline draft's content matched by
 *  `like` (formats/search-prefilter.ts) where there is one. */
export function selectSearchView(
  tx: Queryable,
  projectId: string,
  workspace: string,
  prefix: string,
  like: LikeFilter | undefined,
): Promise<SearchViewRow[]> {
  const params: unknown[] = [projectId, workspace];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const range = prefix ? ` AND path >= ${bind(prefix)} AND path < ${bind(prefixUpperBound(prefix))}` : '';
  // CASE, not AND: Postgres may evaluate AND's operands in any order, and convert_from refuses
  // content that is not UTF-8. "C": LIKE bytewise, ILIKE folding ASCII alone, as the filter needs.
  const text = `convert_from(d.content, 'UTF8') COLLATE "C"`;
  const content = like
    ? `CASE WHEN d.utf8 IS NULL THEN d.content
            WHEN d.utf8 THEN CASE WHEN ${text} ${like.caseSensitive ? 'LIKE' : 'ILIKE'} ${bind(like.pattern)}
                                  THEN d.content END END`
    : 'd.content';
  return tx.query<SearchViewRow>(
    `SELECT coalesce(d.path, f.path) AS path, CASE WHEN d.op IS NULL THEN f.blob_hash ELSE d.blob_hash END AS blob,
            coalesce(d.size, f.size) AS size, ${content} AS content
     FROM (SELECT path, blob_hash, size FROM files WHERE project_id = $1${range}) f
     FULL JOIN (SELECT path, op, content, utf8, blob_hash, size FROM drafts
                WHERE project_id = $1 AND workspace = $2${range}) d ON d.path = f.path
     WHERE d.op IS DISTINCT FROM 'delete'
     ORDER BY 1`,
    params,
  );
}

/** The view rows of many (workspace, path) pairs of one project (group commit), as a statement
 *  to open a transaction with (Sql.transaction's `opening`): it is sent with the transaction's
 *  BEGIN and project lock, and runs once the lock is held. Its rows are ViewRows with their
 *  `workspace`; absent paths have none; no content. */
export const viewPairsStatement = (
  projectName: string,
  pairs: readonly { workspace: string; path: string }[],
): Statement => ({ text: VIEW_PAIRS, values: [projectName, JSON.stringify(pairs)] });

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

// A primary-key probe per pair. The LIMITs keep each lookup a lookup: flattened into plain joins,
// the planner (which guesses 100 rows from any set-returning function) hashed the whole files and
// drafts tables, every project's rows, for every batch. Prepared: planning it cost each write
// five times what running it did (0.22 against 0.04 ms).
const VIEW_PAIRS: Prepared = {
  name: 'stowage_view_pairs',
  text: `SELECT k.workspace, k.path, ${VIEW_COLUMNS}, NULL::bytea AS content
     FROM projects p
     CROSS JOIN jsonb_to_recordset($2::jsonb) AS k(workspace text, path text)
     LEFT JOIN LATERAL (SELECT path, blob_hash, size, mode, git_sha, local FROM files
                        WHERE project_id = p.id AND path = k.path LIMIT 1) f ON true
     LEFT JOIN LATERAL (SELECT path, op, content_hash, size, mode, blob_hash, base_hash, conflict FROM drafts
                        WHERE project_id = p.id AND workspace = k.workspace AND path = k.path LIMIT 1) d ON true
     WHERE p.name = $1 AND p.deleted_at IS NULL
       AND (f.path IS NOT NULL OR d.path IS NOT NULL) AND NOT (d.op = 'delete' AND f.path IS NULL)`,
};

const BASE_SHA = `,
  (SELECT b.git_sha FROM blobs b WHERE b.hash = d.base_hash) AS base_git_sha`;

/** Bytes each workspace's view holds (committed files, with its drafts applied), by workspace. */
export async function viewBytes(
  tx: Queryable,
  projectId: string,
  workspaces: readonly string[],
): Promise<Map<string, number>> {
  const rows = await tx.query<{ workspace: string; bytes: number }>(VIEW_BYTES, [projectId, workspaces]);
  return new Map(rows.map((r) => [r.workspace, Number(r.bytes)]));
}

// Asked by every write that grows a file: migration 0022's function, planned once per connection
// (as a statement it was planned at every call), which takes the committed part from the total
// the files triggers keep rather than summing the project's files (2,000 files: 3–10 ms).
const VIEW_BYTES: Prepared = {
  name: 'stowage_view_bytes',
  text: `SELECT workspace, bytes FROM stowage_view_bytes($1, $2::text[])`,
};

/** One case-insensitive lookup: the first path of a view spelled `spelling` without case (with
 *  `under`: starting with it and '/'); a null workspace looks in the committed files only. */
export interface CaseProbe {
  workspace: string | null;
  spelling: string;
  under: boolean;
}

/** The first path of each probe, in one query; `exclude`: paths left out. */
export const probeCaseTwins = (
  tx: Queryable,
  projectId: string,
  probes: readonly CaseProbe[],
  exclude: readonly string[],
) =>
  tx.query<{ workspace: string | null; path: string }>(VIEW_PROBES, [
    projectId,
    probes.map((p) => p.workspace),
    probes.map((p) => p.spelling),
    probes.map((p) => p.under),
    exclude,
  ]);

// Per probe, the first path of the view whose lower-cased spelling is the probe's (`under`:
// starts with it and '/'), from the committed files the workspace has not deleted and from its
// own drafts (none when it is null: d.workspace = NULL holds for no row): migration 0023's
// function, each probe an index range scan (migration 0012's expression) that stops at its first
// row, planned once per connection.
const VIEW_PROBES: Prepared = {
  name: 'stowage_case_probes',
  text: `SELECT probe_workspace AS workspace, hit_path AS path
     FROM stowage_case_probes($1, $2::text[], $3::text[], $4::boolean[], $5::text[])`,
};
