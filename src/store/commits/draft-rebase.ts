// Rebasing drafts when the committed tree moves under them (sync_project, another workspace's
// commit_task): each draft on a moved path is merged three ways, base = the committed blob the
// draft was based on, theirs = the committed blob now, ours = the draft. A clean merge becomes
// the draft (based on theirs now), and a merge equal to theirs leaves nothing to keep, so the
// draft goes; an overlap leaves the draft as the agent wrote it and marks it `conflict`.
//
// Decisions:
// - Hashes decide first, so most rebases read no content: ours = theirs or ours = base → theirs;
//   base = theirs → ours. Only a path both sides changed is merged (git merge-file).
// - Which overlaps conflict: text both sides changed in the same region; a deletion against a
//   change; two different additions; any change of binary content on both sides.
// - It runs inside the transaction that moves the tree, under the project lock, so no write
//   slips between the move and the rebase, and a draft is never left based on a blob the
//   committed tree no longer holds unless it is in conflict.
import { isUtf8 } from 'node:buffer';
import type { MergeText } from '../../git/types.js';
import { sha256 } from '../blobs/blob-store.js';
import { asText } from '../../formats/content.js';
import {
  deleteDraft,
  markDraftConflict,
  rebaseDraft,
  replaceDraftContent,
  selectDraftsAt,
  type DraftKey,
  type DraftRow,
} from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { WorkspaceCore } from '../workspace/core.js';

export type { DraftRow };

/** Merges (git merge-file processes) run at once for one commit or sync. */
export const MERGE_CONCURRENCY = 4;

/** One side of a three-way merge: its content's identity (null: absent) and a way to read it. */
export interface MergeSide {
  hash: string | null;
  read(): Promise<Buffer>;
}

export type ThreeWay =
  | { take: 'theirs' }
  | { take: 'ours' }
  | { take: 'merged'; content: Buffer }
  /** `marked`: the text with conflict markers, when both sides are text. */
  | { take: 'conflict'; marked?: Buffer };

/** The three-way merge of one path; see Decisions. */
export async function threeWay(
  base: MergeSide,
  ours: MergeSide,
  theirs: MergeSide,
  mergeText: MergeText,
  signal?: AbortSignal,
): Promise<ThreeWay> {
  if (ours.hash === theirs.hash || base.hash === ours.hash) return { take: 'theirs' };
  if (base.hash === theirs.hash) return { take: 'ours' };
  if (ours.hash === null || theirs.hash === null) return { take: 'conflict' };
  const [b, o, t] = await Promise.all([
    base.hash === null ? Buffer.alloc(0) : base.read(),
    ours.read(),
    theirs.read(),
  ]);
  if (asText(b) === undefined || asText(o) === undefined || asText(t) === undefined)
    return { take: 'conflict' };
  const merged = await mergeText({ base: b, ours: o, theirs: t }, signal);
  // Two additions always conflict, whatever lines they share: neither was made knowing the other.
  if (merged.conflicts > 0 || base.hash === null) return { take: 'conflict', marked: merged.content };
  if (merged.content.equals(t)) return { take: 'theirs' };
  if (merged.content.equals(o)) return { take: 'ours' };
  return { take: 'merged', content: merged.content };
}

/** A committed path that moved: its blob now (null: removed). */
export interface MovedPath {
  path: string;
  hash: string | null;
}

export interface RebaseReport {
  /** Drafts merged with the committed change (or found equal to it, and dropped). */
  merged: { workspace: string; path: string }[];
  /** Drafts whose merge overlapped: now (or still) in conflict. */
  conflicts: { workspace: string; path: string }[];
}

export function createDraftRebaser(deps: { core: WorkspaceCore; mergeText: MergeText; inlineBytes: number }) {
  const { core, mergeText, inlineBytes } = deps;
  const blob = (hash: string) => () => core.readBlob(hash);

  /** Rebases the drafts at `moved` paths (read here, or handed in as `candidates`), inside the
   *  transaction that moved them; `version` is that transaction's project version. */
  async function rebase(
    tx: Queryable,
    projectId: string,
    moved: readonly MovedPath[],
    version: number,
    candidates?: readonly DraftRow[],
  ): Promise<RebaseReport> {
    const report: RebaseReport = { merged: [], conflicts: [] };
    if (!moved.length) return report;
    const rows =
      candidates ??
      (await selectDraftsAt(
        tx,
        projectId,
        moved.map((m) => m.path),
      ));
    const now = new Map(moved.map((m) => [m.path, m.hash]));
    const theirsOf = (draft: DraftRow) => now.get(draft.path) ?? null;
    const todo = rows.filter((d) => d.base_hash !== theirsOf(d) || d.conflict);
    const side = (hash: string | null): MergeSide => ({ hash, read: blob(hash!) });
    // The merges run a few at a time; their outcomes are written one by one on `tx`.
    const results = await mapBounded(todo, MERGE_CONCURRENCY, (draft) =>
      threeWay(
        side(draft.base_hash),
        {
          hash: draft.op === 'delete' ? null : draft.content_hash,
          read: async () => draft.content ?? core.readBlob(draft.blob_hash!),
        },
        side(theirsOf(draft)),
        mergeText,
      ),
    );
    for (const [i, draft] of todo.entries()) {
      const result = results[i]!;
      const theirs = theirsOf(draft);
      const key = { workspace: draft.workspace, path: draft.path };
      const target = { projectId, ...key };
      if (result.take === 'conflict') {
        await markDraftConflict(tx, target, version);
        report.conflicts.push(key);
        continue;
      }
      report.merged.push(key);
      if (result.take === 'theirs') await deleteDraft(tx, target);
      else if (result.take === 'ours') await rebaseDraft(tx, target, theirs, version);
      else await storeMerged(tx, target, result.content, theirs, version);
    }
    return report;
  }

  /** The merge becomes the draft's content, blob first when it is too big to keep inline. */
  async function storeMerged(
    tx: Queryable,
    target: DraftKey,
    content: Buffer,
    base: string | null,
    version: number,
  ) {
    const hash = sha256(content);
    const inline = content.byteLength <= inlineBytes;
    if (!inline) await core.storeBlobs([{ hash, content }], { searchText: false });
    await replaceDraftContent(tx, target, {
      inline: inline ? content : null,
      utf8: inline ? isUtf8(content) && !content.includes(0) : null,
      blobHash: inline ? null : hash,
      hash,
      size: content.byteLength,
      base,
      version,
    });
  }

  return { rebase };
}

export type DraftRebaser = ReturnType<typeof createDraftRebaser>;
