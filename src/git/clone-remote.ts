// GitRemote over ephemeral clones. Snapshot: a bare depth-1 clone, `ls-tree`, and one
// `cat-file --batch` stream for the wanted blobs. Commit: a bare, blob-less, depth-1 clone; the
// commit (its blobs, the trees along the changed paths, the commit) is written by one
// `git fast-import` into one pack, and pushed as <sha>:refs/heads/<branch>. fast-import keeps
// the unchanged entries of the parent's trees as they are, so the missing blobs are never
// needed. The clone is removed in `finally`, always. Every operation checks its remote first
// (git.checkUrl) and runs its clone, fetch and push with what the check returned.
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import { PUSH_REJECTED, type GitCli } from './git-cli.js';
import type { CheckedRemote } from './remote-guard.js';
import type {
  CommitRequest,
  GitRemote,
  PushOutcome,
  RemoteEntry,
  Snapshot,
  SnapshotOptions,
} from './types.js';

const MAX_REBUILDS = 3;

export function createCloneRemote(git: GitCli): GitRemote {
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
        const head = (await git.run(['rev-parse', 'HEAD'], { cwd: repo, signal })).trim();
        const entries = await listTree(git, repo, head, { sizes: true, signal });
        await readBlobs(git, repo, entries, options);
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
        say(0, `fetching ${request.remote.branch}`);
        await git.run(cloneArgs(checked.url, request.remote.branch, 'repo', { blobs: false }), {
          cwd: dir,
          signal,
          remote: checked,
        });
        const repo = join(dir, 'repo');
        // The clone stays blob-less, but git must not fetch missing blobs one by one on its own
        // (while packing the push, say): nothing here needs their content.
        await git.plumb(['config', 'remote.origin.promisor', 'false'], { cwd: repo, signal });
        let parent = (await git.run(['rev-parse', 'HEAD'], { cwd: repo, signal })).trim();
        for (let attempt = 0; ; attempt++) {
          say(1, 'building the commit');
          const conflicts = await conflictsAt(git, repo, parent, request);
          const sha = await buildCommit(git, repo, dir, parent, request);
          if (conflicts.length) {
            return await pushDiverged(git, { repo, remote: checked }, sha, parent, request, conflicts);
          }
          say(2, `pushing to ${request.branch}`);
          try {
            await git.run(['push', '--no-thin', 'origin', `${sha}:refs/heads/${request.branch}`], {
              cwd: repo,
              signal,
              remote: checked,
            });
            say(4, 'pushed');
            const rebased = request.expectedHead !== undefined && request.expectedHead !== parent;
            return { status: 'pushed', sha, branch: request.branch, parent, rebased } satisfies PushOutcome;
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
  };
}

function cloneArgs(url: string, branch: string, into: string, { blobs }: { blobs: boolean }): string[] {
  return [
    'clone',
    '--bare',
    '--depth=1',
    '--single-branch',
    '--no-tags',
    '--template=',
    ...(blobs ? [] : ['--filter=blob:none']),
    '--branch',
    branch,
    '--',
    url,
    into,
  ];
}

/** Every file of the tree at `head` (`ls-tree -r -z`): blobs, symlinks and submodules. Sizes
 *  (`-l`) need the blobs, which a blob-less clone would fetch one by one: only ask with them. */
async function listTree(
  git: GitCli,
  repo: string,
  head: string,
  { sizes, signal }: { sizes: boolean; signal?: AbortSignal | undefined },
): Promise<RemoteEntry[]> {
  const args = ['ls-tree', '-r', '-z', '--full-tree', ...(sizes ? ['-l'] : []), head];
  const out = await git.run(args, { cwd: repo, signal });
  return out
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const tab = line.indexOf('\t');
      const [mode, , sha, size] = line.slice(0, tab).split(/\s+/);
      return {
        path: line.slice(tab + 1),
        mode: parseInt(mode!, 8),
        sha: sha!,
        size: size === undefined || size === '-' ? 0 : Number(size),
      };
    });
}

/** Streams the wanted blobs out of one `cat-file --batch`, handing each to `onBlob` in turn. */
async function readBlobs(git: GitCli, repo: string, entries: RemoteEntry[], options: SnapshotOptions) {
  const wanted = entries.filter((e) => options.want(e));
  const bySha = new Map<string, RemoteEntry[]>();
  for (const e of wanted) bySha.set(e.sha, [...(bySha.get(e.sha) ?? []), e]);
  if (!bySha.size) return;
  let done = 0;
  await git.stream(
    ['cat-file', '--batch'],
    { cwd: repo, input: [...bySha.keys()].join('\n') + '\n', signal: options.signal },
    async (stdout) => {
      for await (const { sha, content } of batchObjects(stdout)) {
        for (const entry of bySha.get(sha) ?? []) {
          await options.onBlob(entry, content);
          options.progress?.(++done, wanted.length, 'storing files');
        }
      }
    },
  );
}

/** Parses `cat-file --batch` output: "<sha> <type> <size>\n<content>\n" per object. */
async function* batchObjects(stdout: Readable): AsyncGenerator<{ sha: string; content: Buffer }> {
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of stdout as AsyncIterable<Buffer>) {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      const eol = buffer.indexOf(10);
      if (eol < 0) break;
      const [sha, type, size] = buffer.subarray(0, eol).toString().split(' ');
      if (type === 'missing' || size === undefined) {
        throw new StowageError('internal', `git object ${sha} is missing from the fetched tree`);
      }
      const length = Number(size);
      if (buffer.length < eol + 1 + length + 1) break;
      yield { sha: sha!, content: Buffer.from(buffer.subarray(eol + 1, eol + 1 + length)) };
      buffer = buffer.subarray(eol + 1 + length + 1);
    }
  }
}

/** The commit of `changes` on `parent`, written by one `git fast-import` (blobs, trees and the
 *  commit in one pack): loose objects and the temporary files hash-object reads cost file
 *  system calls per object, several times the rest of the commit on a slow disk. */
async function buildCommit(
  git: GitCli,
  repo: string,
  dir: string,
  parent: string,
  request: CommitRequest,
): Promise<string> {
  // fast-import would build on a tree holding paths such as '..' or '.git' without a word;
  // read-tree is git's own check of every path in it. The index it writes is not used.
  const index = { GIT_INDEX_FILE: join(dir, 'index') };
  await git.plumb(['read-tree', parent], { cwd: repo, env: index, signal: request.signal });
  const parts: Buffer[] = [];
  const line = (text: string) => parts.push(Buffer.from(`${text}\n`, 'utf8'));
  const data = (content: Buffer) => {
    line(`data ${content.byteLength}`);
    parts.push(content);
    line('');
  };
  const commands = request.changes.map((change, i) => {
    if (change.content === undefined) return `D ${quotePath(change.path)}`;
    line('blob');
    line(`mark :${i + 1}`);
    data(change.content);
    return `M ${(change.mode ?? 0o100644).toString(8)} :${i + 1} ${quotePath(change.path)}`;
  });
  const identity = `${clean(request.author.name)} <${clean(request.author.email)}> ${Math.floor(Date.now() / 1000)} +0000`;
  const commitMark = `:${request.changes.length + 1}`;
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

/** Changed paths whose blob at `head` is not the one the change was based on. */
async function conflictsAt(
  git: GitCli,
  repo: string,
  head: string,
  request: CommitRequest,
): Promise<string[]> {
  const known = request.changes.filter((c) => c.base !== undefined);
  if (!known.length) return [];
  const atHead = new Map(
    (await listTree(git, repo, head, { sizes: false, signal: request.signal })).map((e) => [e.path, e.sha]),
  );
  return known.filter((c) => (atHead.get(c.path) ?? null) !== c.base).map((c) => c.path);
}

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
