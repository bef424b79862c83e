// The workspace view: a workspace's drafts overlaid on the committed tree, read with one query
// (db/queries/view.ts), as entries.
import { selectView, type FileState, type ViewFilter, type ViewRow } from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { etagOf } from '../../formats/content.js';

export type { FileState, ViewFilter };
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

export const shownState = (e: Pick<ViewEntry, 'conflict' | 'state'>): ShownState =>
  e.conflict ? 'conflict' : e.state;

export async function readView(
  tx: Queryable,
  projectId: string,
  workspace: string,
  filter: ViewFilter = {},
): Promise<ViewEntry[]> {
  return (await selectView(tx, projectId, workspace, filter)).map(toEntry);
}

/** The rows of `viewPairsStatement` (db/queries/view.ts), by `pairKey`. */
export const viewOfPairs = (rows: readonly object[]): Map<string, ViewEntry> =>
  new Map(
    (rows as (ViewRow & { workspace: string })[]).map((r) => [pairKey(r.workspace, r.path), toEntry(r)]),
  );

export const pairKey = (workspace: string, path: string) => `${workspace}\0${path}`;

const toEntry = (r: ViewRow): ViewEntry => ({
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
