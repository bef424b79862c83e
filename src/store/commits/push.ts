// What commit_task hands the git adapter and takes back: each draft as a change on the blob it
// was based on, the three-way merges of the changes whose paths the branch moved under, and
// what the pushed changes leave at each path of the committed tree.
import type { FileChange, MergedChange, MergeText } from '../../git/types.js';
import { gitBlobSha, sha256 } from '../blobs/blob-store.js';
import type { CommitPath } from './apply.js';
import { MERGE_CONCURRENCY, threeWay } from './draft-rebase.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { WorkspaceCore } from '../workspace/core.js';
import type { ViewEntry } from '../workspace/view.js';

/** The drafts as changes for the remote, each remembered against its draft in `original`. */
export async function changesOf(
  pending: readonly ViewEntry[],
  contentOf: (entry: ViewEntry) => Promise<Buffer>,
  original: Map<FileChange, ViewEntry>,
): Promise<FileChange[]> {
  return Promise.all(
    pending.map(async (e) => {
      const change: FileChange = {
        path: e.path,
        // The blob the draft was made on; a file last committed without a push has no known
        // remote base, and replaces what the remote holds.
        base: e.committedLocal ? undefined : (e.baseGitSha ?? null),
        content: e.state === 'deleted' ? undefined : await contentOf(e),
        mode: e.mode,
      };
      original.set(change, e);
      return change;
    }),
  );
}

/** The merges the git adapter asks for when the branch changed paths since the drafts' bases:
 *  base = that blob, ours = the draft, theirs = the branch's version, a few files at a time (a
 *  git process each). What they return to be committed is stored first, all at once (blob
 *  before metadata). */
export function createBranchMerger({ core, mergeText }: { core: WorkspaceCore; mergeText: MergeText }) {
  return (pending: readonly ViewEntry[], signal: AbortSignal | undefined) => {
    const byPath = new Map(pending.map((e) => [e.path, e]));
    const mergeOne = async ({
      change,
      theirs,
    }: {
      change: FileChange;
      theirs: Buffer | undefined;
    }): Promise<MergedChange & { store?: Buffer | undefined }> => {
      const entry = byPath.get(change.path)!;
      const result = await threeWay(
        { hash: change.base ?? null, read: () => core.readBlob(entry.baseHash!) },
        {
          hash: change.content ? gitBlobSha(change.content) : null,
          read: () => Promise.resolve(change.content!),
        },
        { hash: theirs ? gitBlobSha(theirs) : null, read: () => Promise.resolve(theirs!) },
        mergeText,
        signal,
      );
      if (result.take === 'ours') return { change, conflict: false };
      if (result.take === 'conflict') {
        return { change: result.marked ? { ...change, content: result.marked } : change, conflict: true };
      }
      const content = result.take === 'merged' ? result.content : theirs;
      return { change: { ...change, content }, conflict: false, store: content };
    };
    return async (moved: { change: FileChange; theirs: Buffer | undefined }[]): Promise<MergedChange[]> => {
      const merged = await mapBounded(moved, MERGE_CONCURRENCY, mergeOne);
      const contents = merged.flatMap((m) => (m.store ? [m.store] : []));
      await core.storeBlobs(contents.map((content) => ({ hash: sha256(content), content })));
      return merged.map(({ change, conflict }) => ({ change, conflict }));
    };
  };
}

/** What a pushed commit leaves at each path: the changes as pushed (merged where the branch had
 *  moved under them), against the drafts they were made from. */
export function committedPaths(changes: readonly FileChange[], original: ReadonlyMap<FileChange, ViewEntry>) {
  const byPath = new Map([...original].map(([change, entry]) => [change.path, { change, entry }]));
  return changes.map((c): CommitPath => {
    const { change, entry } = byPath.get(c.path)!;
    const same = c === change || c.content === change.content;
    return {
      path: c.path,
      hash: c.content === undefined ? null : same ? entry.hash : sha256(c.content),
      mode: c.mode ?? entry.mode,
      draft: entry.hash,
      committed: entry.committedHash,
    };
  });
}
