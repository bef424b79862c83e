// The seams between the domain and git: what a remote must do for import, sync and commit.
// Adapters (ephemeral clone via the git CLI, GitHub's Git Data API via Octokit) implement
// GitRemote; they know nothing of SQL, tools or transports.
import type { CallContext } from '../call-context.js';

export interface RemoteRef {
  url: string;
  branch: string;
}

/** One file of a remote tree. `mode` is git's (0o100644, 0o100755, 0o120000 symlink, 0o160000 submodule). */
export interface RemoteEntry {
  path: string;
  mode: number;
  /** The git blob SHA-1. */
  sha: string;
  size: number;
}

/** A remote call's cancellation and progress: a call's own (call-context.ts). */
export type RemoteCallOptions = CallContext;

export interface SnapshotOptions extends RemoteCallOptions {
  /** Which entries to fetch the content of (the rest are listed only). */
  want(entry: RemoteEntry): boolean;
  /** Receives each wanted blob's content, in any order; awaited before the next. */
  onBlob(entry: RemoteEntry, content: Buffer): Promise<void>;
}

export interface Snapshot {
  /** The commit SHA the branch pointed at. */
  head: string;
  entries: RemoteEntry[];
}

export interface FileChange {
  path: string;
  /** The git blob SHA this path had in the tree the change was made on (null: absent); a head
   *  holding anything else there changed it too, and the two are merged. Undefined: no base is
   *  known, and the change replaces whatever the head holds. */
  base?: string | null | undefined;
  /** Absent for a deletion. */
  content?: Buffer | undefined;
  /** Git mode for an upsert; default 0o100644. */
  mode?: number | undefined;
}

/** A three-way merge of text (git merge-file): `conflicts` counts the regions both sides
 *  changed, which `content` then shows between conflict markers. */
export type MergeText = (
  sides: { base: Buffer; ours: Buffer; theirs: Buffer },
  signal?: AbortSignal,
) => Promise<{ content: Buffer; conflicts: number }>;

/** What a change became when merged with the branch's version of its path. */
export interface MergedChange {
  /** The change to commit instead (content absent: a deletion). When `conflict`, what the
   *  conflict branch gets: text with conflict markers, or the change as it was. */
  change: FileChange;
  conflict: boolean;
}

/** The commit about to be pushed to the branch, handed to `beforePush`. */
export interface PushIntent {
  sha: string;
  parent: string;
  /** The changes as committed (merged where the branch had moved under them). */
  changes: FileChange[];
}

export interface CommitRequest extends RemoteCallOptions {
  remote: RemoteRef;
  /** Branch to push to. */
  branch: string;
  /** Where the commit goes when the branch moved and a changed path conflicts. */
  conflictBranch: string;
  changes: FileChange[];
  /** The remote head the changes were made on, when known: a different parent means `rebased`. */
  expectedHead?: string | null | undefined;
  message: string;
  author: { name: string; email: string };
  /** Merges the changes whose paths the branch changed since their `base` with the branch's
   *  versions (`theirs`; undefined: deleted there), all in one call, in order. Without it,
   *  every such path conflicts. */
  merge?:
    ((moved: { change: FileChange; theirs: Buffer | undefined }[]) => Promise<MergedChange[]>) | undefined;
  /** Runs just before the commit is pushed to `branch` (never before the conflict branch): the
   *  caller records the push intent, so a crash after the push is reconciled, not repeated. */
  beforePush?: ((intent: PushIntent) => Promise<void>) | undefined;
}

export type PushOutcome =
  /** The commit landed on `branch`; `rebased` when the remote had moved and it was rebuilt on
   *  the new head. `changes` are what the branch now holds at each changed path (merged where
   *  it had moved). `empty`: the branch already held all of them, so nothing was pushed and
   *  `sha` is its head. */
  | {
      status: 'pushed';
      sha: string;
      branch: string;
      parent: string;
      rebased: boolean;
      changes: FileChange[];
      empty: boolean;
    }
  /** The remote changed some of the same lines since their base: the commit (built on the
   *  remote head, the other paths merged, the conflicting ones with conflict markers) landed on
   *  the conflict branch instead. */
  | { status: 'diverged'; sha: string; branch: string; parent: string; conflicts: string[] };

export interface GitRemote {
  /** The remote branch's tree at its head, with the content of the entries `want` selects. */
  snapshot(remote: RemoteRef, options: SnapshotOptions): Promise<Snapshot>;
  /** Makes one commit of `changes` on the branch head and pushes it; see PushOutcome. Paths the
   *  head changed since their `base` are merged (`merge`); overlapping ones divert the commit. */
  commitAndPush(request: CommitRequest): Promise<PushOutcome>;
  /** Whether the branch's history holds commit `sha` (false when the remote never saw it). */
  holds(remote: RemoteRef, sha: string, options?: RemoteCallOptions): Promise<boolean>;
  /** The branch's newest `limit` commits, newest first (fetched without trees or blobs). */
  log(remote: RemoteRef, limit: number, options?: RemoteCallOptions): Promise<RemoteCommit[]>;
}

/** A commit on a remote branch, whoever made it. */
export interface RemoteCommit {
  sha: string;
  author: string;
  date: string;
  subject: string;
}

export interface PullRequest {
  number: number;
  url: string;
  head: string;
  base: string;
}

/** Hosting operations beyond plain git (GitHub via Octokit). */
export interface GitHost {
  /** Creates the repository behind `url` unless it exists; true when it was created. */
  ensureRepository(
    url: string,
    options: { private: boolean; description?: string | undefined },
  ): Promise<boolean>;
  openPullRequest(
    url: string,
    pr: { head: string; base: string; title: string; body?: string | undefined },
  ): Promise<PullRequest>;
}
