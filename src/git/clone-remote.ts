// GitRemote over ephemeral clones. Snapshot: a bare depth-1 clone, `ls-tree`, and one
// `cat-file --batch` stream for the wanted blobs. Commit: a bare, blob-less, depth-1 clone; the
// commit (its blobs, the trees along the changed paths, the commit) is written by one
// `git fast-import` into one pack, and pushed as <sha>:refs/heads/<branch>. fast-import keeps
// the unchanged entries of the parent's trees as they are, so the missing blobs are never
// needed. A path the branch changed since a change's base is merged (request.merge): only
// then are the branch's blobs of those paths fetched, in one request. The clone is removed in
// `finally`, always — unless its push landed on the project's branch: then it is kept for the
// next commit to that branch, which takes it instead of cloning (push-cache.ts). Every operation
// checks its remote first (git.checkUrl) and runs its clone, fetch and push with what the check
// returned.
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StowageError } from '../errors.js';
import { fetchBlobs, gitBlobSha, headOf, listTree, readBlobs } from './clone-objects.js';
import { isLocalUrl, LOCAL_UPLOAD_PACK, PUSH_REJECTED, type GitCli } from './git-cli.js';
import type { PushCache } from './push-cache.js';
import type { CheckedRemote } from './remote-guard.js';
import type {
  CommitRequest,
  FileChange,
  GitRemote,
  MergedChange,
  PushOutcome,
  RemoteEntry,
  Snapshot,
} from './types.js';

const MAX_REBUILDS = 3;
/** A snapshot clone (blobs and all) is kept for the next push only up to this much content. */
const KEEP_SNAPSHOT_BYTES = 64 * 1024 * 1024;

export function createCloneRemote(git: GitCli, cache?: PushCache): GitRemote {
  return {
    async snapshot(remote, options) {
      const { signal } = options;
      const checked = await git.checkUrl(remote.url, signal);
      const { dir, remove } = await git.scratch('snapshot');
      try {
        options.progress?.(0, undefined, `fetching ${remote.branch}`);
        await git.run(cloneArgs(checked.url, remote.branch, 'repo', { blobs: true }), {
          cwd: dir,
          signal,
          remote: checked,
        });
        const repo = join(dir, 'repo');
        const head = await headOf(git, repo, remote.branch, signal);
        const entries = await listTree(git, repo, head, { sizes: true, signal });
        await readBlobs(git, repo, entries, options);
        // The next commit builds on this head: it takes this clone rather than cloning again,
        // unless the tree is large (a push clone is otherwise blob-less).
        if (cache && entries.reduce((n, e) => n + e.size, 0) <= KEEP_SNAPSHOT_BYTES) {
          await appendFile(join(repo, 'config'), PUSH_CLONE_CONFIG);
          await cache.keep(checked.url, remote.branch, head, repo);
        }
        return { head, entries } satisfies Snapshot;
      } finally {
        await remove();
      }
    },

    async commitAndPush(request) {
      const { signal } = request;
      const checked = await git.checkUrl(request.remote.url, signal);
      const { dir, remove } = await git.scratch('push');
      const say = (step: number, message: string) => request.progress?.(step, 4, message);
      try {
        const repo = join(dir, 'repo');
        const { branch } = request.remote;
        // The clone the last push to this branch left, when that push is the head expected.
        const kept = await cache?.take(checked.url, branch, request.expectedHead, repo);
        if (!kept) {
          say(0, `fetching ${branch}`);
          await git.run(cloneArgs(checked.url, branch, 'repo', { blobs: false }), {
            cwd: dir,
            signal,
            remote: checked,
          });
          await appendFile(join(repo, 'config'), PUSH_CLONE_CONFIG);
        }
        const at = { repo, remote: checked };
        let parent = kept ? request.expectedHead! : await headOf(git, repo, branch, signal);
        for (let attempt = 0; ; attempt++) {
          say(1, 'building the commit');
          const rebased = request.expectedHead !== undefined && request.expectedHead !== parent;
          // The commit is built as if no changed path had moved while git checks the parent's
          // tree and the changes are matched against it; built again only if one had.
          const [merged, , built] = await settledAll(
            mergeMoved(git, at, parent, request),
            checkTree(git, repo, dir, parent, signal),
            buildCommit(git, repo, parent, request, request.changes),
          );
          const { changes, conflicts, unchanged } = merged;
          const committed = changes.filter((c) => !unchanged.has(c));
          const build = () =>
            changes === request.changes ? built : buildCommit(git, repo, parent, request, committed);
          if (conflicts.length) return await pushDiverged(git, at, await build(), parent, request, conflicts);
          // The branch already holds every change (an earlier push of them landed): no empty commit.
          if (!committed.length) {
            say(4, `${request.branch} already holds these changes`);
            return {
              status: 'pushed',
              sha: parent,
              branch: request.branch,
              parent,
              rebased,
              changes,
              empty: true,
            };
          }
          const sha = await build();
          await request.beforePush?.({ sha, parent, changes });
          say(2, `pushing to ${request.branch}`);
          try {
            await git.run(['push', '--no-thin', 'origin', `${sha}:refs/heads/${request.branch}`], {
              cwd: repo,
              signal,
              remote: checked,
            });
            say(4, 'pushed');
            // Kept for the next commit to the project's own branch (not a side branch).
            if (request.branch === branch) await cache?.keep(checked.url, branch, sha, repo);
            return { status: 'pushed', sha, branch: request.branch, parent, rebased, changes, empty: false };
          } catch (err) {
            if (!isRejected(err) || attempt === MAX_REBUILDS) throw err;
          }
          // The branch moved while we pushed: fetch its new head (no --depth) and try again on it.
          say(3, 'the remote moved; fetching it');
          await git.run(['fetch', '--no-tags', 'origin', `refs/heads/${request.branch}`], {
            cwd: repo,
            signal,
            remote: checked,
          });
          parent = (await git.run(['rev-parse', 'FETCH_HEAD'], { cwd: repo, signal })).trim();
        }
      } finally {
        await remove();
      }
    },

    async holds(remote, sha, options = {}) {
      const { signal } = options;
      const checked = await git.checkUrl(remote.url, signal);
      const { dir, remove } = await git.scratch('holds');
      try {
        // The branch's history without trees or blobs: a few hundred bytes a commit. It runs
        // only to reconcile a push intent whose process died.
        await git.run(cloneArgs(checked.url, remote.branch, 'repo', { blobs: false, history: true }), {
          cwd: dir,
          signal,
          remote: checked,
        });
        const found = await git.plumb(['rev-list', 'HEAD'], { cwd: join(dir, 'repo'), signal });
        return found.split('\n').includes(sha);
      } finally {
        await remove();
      }
    },

    async log(remote, limit, options = {}) {
      const { signal } = options;
      const checked = await git.checkUrl(remote.url, signal);
      const { dir, remove } = await git.scratch('log');
      try {
        // Only the commits asked for, without trees or blobs.
        const args = cloneArgs(checked.url, remote.branch, 'repo', { blobs: false, history: true });
        await git.run([...args.slice(0, 2), `--depth=${limit}`, ...args.slice(2)], {
          cwd: dir,
          signal,
          remote: checked,
        });
        const out = await git.plumb(['log', `-n${limit}`, '--format=%H%x00%an%x00%aI%x00%s', 'HEAD'], {
          cwd: join(dir, 'repo'),
          signal,
        });
        return out
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [sha, author, date, subject] = line.split('\0') as [string, string, string, string];
            return { sha, author, date, subject };
          });
      } finally {
        await remove();
      }
    },
  };
}

// Settings of the push clone, appended to its config file (the last value of a key wins; a
// `git config` process each would cost more than the rest of the set-up):
// - fast-import keeps its pack as it is: below fastimport.unpackLimit (default 100 objects, so
//   any commit of up to ~50 files) it runs unpack-objects into one loose file per object, which
//   measured 140 ms of fast-import's 210 on a commit of 50 files;
// - no delta search when packing the push: over HTTP git always packs thin, and pack-objects
//   then wants the parent's version of every changed file as a delta base, which a blob-less
//   clone fetches from the remote first (the whole old blob, to save sending part of the new
//   one): measured 150-200 ms of a 400 ms push of 50 files.
const PUSH_CLONE_CONFIG = '[fastimport]\n\tunpackLimit = 0\n[pack]\n\twindow = 0\n';

/** A bare clone of the branch head (depth 1, blob-less unless `blobs`), or with `history` all
 *  of its commits without their trees. */
function cloneArgs(
  url: string,
  branch: string,
  into: string,
  { blobs, history = false }: { blobs: boolean; history?: boolean },
): string[] {
  return [
    'clone',
    '--bare',
    ...(history ? ['--filter=tree:0'] : ['--depth=1']),
    '--single-branch',
    '--no-tags',
    '--template=',
    ...(blobs || history ? [] : ['--filter=blob:none']),
    ...(isLocalUrl(url) ? [`--upload-pack=${LOCAL_UPLOAD_PACK}`] : []),
    '--branch',
    branch,
    '--',
    url,
    into,
  ];
}

/** fast-import would build on a tree holding paths such as '..' or '.git' without a word;
 *  read-tree is git's own check of every path in it. The index it writes is not used. */
async function checkTree(git: GitCli, repo: string, dir: string, tree: string, signal?: AbortSignal) {
  const index = { GIT_INDEX_FILE: join(dir, 'index') };
  await git.plumb(['read-tree', tree], { cwd: repo, env: index, signal });
}

/** Every result once all have settled (so none runs on after a failure), or the first error. */
async function settledAll<T extends unknown[]>(...work: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(work);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}

/** The commit of `changes` on `parent`, written by one `git fast-import` (blobs, trees and the
 *  commit in one pack): loose objects and the temporary files hash-object reads cost file
 *  system calls per object, several times the rest of the commit on a slow disk. */
async function buildCommit(
  git: GitCli,
  repo: string,
  parent: string,
  request: CommitRequest,
  changes: readonly FileChange[],
): Promise<string> {
  const parts: Buffer[] = [];
  const line = (text: string) => parts.push(Buffer.from(`${text}\n`, 'utf8'));
  const data = (content: Buffer) => {
    line(`data ${content.byteLength}`);
    parts.push(content);
    line('');
  };
  const commands = changes.map((change, i) => {
    if (change.content === undefined) return `D ${quotePath(change.path)}`;
    line('blob');
    line(`mark :${i + 1}`);
    data(change.content);
    return `M ${(change.mode ?? 0o100644).toString(8)} :${i + 1} ${quotePath(change.path)}`;
  });
  const identity = `${clean(request.author.name)} <${clean(request.author.email)}> ${Math.floor(Date.now() / 1000)} +0000`;
  const commitMark = `:${changes.length + 1}`;
  line(`commit ${BUILD_REF}`);
  line(`mark ${commitMark}`);
  line(`author ${identity}`);
  line(`committer ${identity}`);
  data(Buffer.from(request.message, 'utf8'));
  line(`from ${parent}`);
  for (const command of commands) line(command);
  line(`get-mark ${commitMark}`);
  line('done');
  const out = await git.plumb(['fast-import', '--quiet', '--force', '--done', '--date-format=raw'], {
    cwd: repo,
    input: parts,
    signal: request.signal,
  });
  return out.trim();
}

// fast-import names the commit's ref; the clone is thrown away, so any name does. A rebuild on
// a newer parent moves it sideways, hence --force.
const BUILD_REF = 'refs/stowage/build';

/** A path in fast-import's C-style quotes, which it accepts for every path. */
const quotePath = (path: string) => `"${path.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')}"`;

/** An identity part without the characters that would end it (fast-import refuses them). */
const clean = (text: string) => text.replace(/[<>\n]/g, '');

/** The request's changes as they go onto `head`: a change whose path the head changed since
 *  its base is merged with the head's version (request.merge; without it, a conflict). Changes
 *  the head already holds exactly are `unchanged`. Nothing more is read when no path moved. */
async function mergeMoved(
  git: GitCli,
  at: { repo: string; remote: CheckedRemote },
  head: string,
  request: CommitRequest,
): Promise<{ changes: FileChange[]; conflicts: string[]; unchanged: Set<FileChange> }> {
  const { changes, signal } = request;
  const none = { changes, conflicts: [], unchanged: new Set<FileChange>() };
  if (!changes.some((c) => c.base !== undefined)) return none;
  const atHead = new Map(
    (await listTree(git, at.repo, head, { sizes: false, signal })).map((e) => [e.path, e]),
  );
  const moved = changes.filter((c) => c.base !== undefined && (atHead.get(c.path)?.sha ?? null) !== c.base);
  if (!moved.length) return none;
  if (!request.merge) return { ...none, conflicts: moved.map((c) => c.path) };
  const theirs = await fetchBlobs(
    git,
    at,
    moved.flatMap((c) => atHead.get(c.path)?.sha ?? []),
    signal,
  );
  const results = await request.merge(
    moved.map((change) => {
      const entry = atHead.get(change.path);
      return { change, theirs: entry ? theirs.get(entry.sha) : undefined };
    }),
  );
  const merged = new Map<FileChange, MergedChange>(moved.map((c, i) => [c, results[i]!]));
  const final = changes.map((c) => merged.get(c)?.change ?? c);
  const unchanged = new Set(
    final.filter((c, i) => merged.has(changes[i]!) && holdsAlready(atHead.get(c.path), c)),
  );
  const conflicts = moved.filter((c) => merged.get(c)!.conflict).map((c) => c.path);
  return { changes: final, conflicts, unchanged };
}

/** Whether the head's entry at a change's path is exactly what the change makes of it. */
const holdsAlready = (entry: RemoteEntry | undefined, change: FileChange) =>
  change.content === undefined
    ? entry === undefined
    : entry !== undefined &&
      entry.sha === gitBlobSha(change.content) &&
      entry.mode === (change.mode ?? 0o100644);

/** The remote changed a path we change: put our commit on the conflict branch instead. */
async function pushDiverged(
  git: GitCli,
  { repo, remote }: { repo: string; remote: CheckedRemote },
  sha: string,
  parent: string,
  request: CommitRequest,
  conflicts: string[],
): Promise<PushOutcome> {
  const { signal } = request;
  // Never force: if the conflict branch exists (an earlier attempt), use a fresh name.
  for (const branch of [request.conflictBranch, `${request.conflictBranch}-${sha.slice(0, 7)}`]) {
    try {
      await git.run(['push', 'origin', `${sha}:refs/heads/${branch}`], { cwd: repo, signal, remote });
      request.progress?.(4, 4, `pushed to ${branch}`);
      return { status: 'diverged', sha, branch, parent, conflicts };
    } catch (err) {
      if (!isRejected(err)) throw err;
    }
  }
  throw new StowageError(
    'conflict',
    `branches ${request.conflictBranch} and its fallback already exist: delete them or pass branch`,
  );
}

const isRejected = (err: unknown) => err instanceof StowageError && err.details?.reason === PUSH_REJECTED;
