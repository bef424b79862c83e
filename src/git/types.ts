// The seams between the domain and git: what a remote must do for import, sync and commit.
// Adapters (ephemeral clone via the git CLI, GitHub's Git Data API via Octokit) implement
// GitRemote; they know nothing of SQL, tools or transports.

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

export interface Progress {
  /** Reports progress; `total` when known. Never throws. */
  (progress: number, total: number | undefined, message: string): void;
}

export interface RemoteCallOptions {
  signal?: AbortSignal | undefined;
  progress?: Progress | undefined;
}

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
  /** The git blob SHA this path had in the tree the change was made on (null: absent). A
   *  remote head holding anything else there means someone else changed it: a conflict. */
  base?: string | null | undefined;
  /** Absent for a deletion. */
  content?: Buffer | undefined;
  /** Git mode for an upsert; default 0o100644. */
  mode?: number | undefined;
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
}

export type PushOutcome =
  /** The commit landed on `branch`; `rebased` when the remote had moved and it was rebuilt on the new head. */
  | { status: 'pushed'; sha: string; branch: string; parent: string; rebased: boolean }
  /** The remote changed some of the same paths since their base: the commit (built on the
   *  remote head) landed on the conflict branch instead. */
  | { status: 'diverged'; sha: string; branch: string; parent: string; conflicts: string[] };

export interface GitRemote {
  /** The remote branch's tree at its head, with the content of the entries `want` selects. */
  snapshot(remote: RemoteRef, options: SnapshotOptions): Promise<Snapshot>;
  /** Makes one commit of `changes` on the branch head and pushes it; see PushOutcome. A head
   *  that moved is fine as long as it left the changed paths as their `base` says. */
  commitAndPush(request: CommitRequest): Promise<PushOutcome>;
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
