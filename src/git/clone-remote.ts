// GitRemote over ephemeral clones. Snapshot: a bare depth-1 clone, `ls-tree`, and one
// `cat-file --batch` stream for the wanted blobs. Commit: a bare, blob-less, depth-1 clone; the
// commit is built with plumbing on a temporary index (read-tree, update-index, write-tree
// --missing-ok, commit-tree) and pushed as <sha>:refs/heads/<branch>. The clone is removed in
// `finally`, always.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import { PUSH_REJECTED, type GitCli } from './git-cli.js';
import type {
  CommitRequest,
  FileChange,
  GitRemote,
  PushOutcome,
  RemoteEntry,
  RemoteRef,
  Snapshot,
  SnapshotOptions,
} from './types.js';

const MAX_REBUILDS = 3;
const ZERO_SHA = '0000000000000000000000000000000000000000';

export function createCloneRemote(git: GitCli): GitRemote {
  return {
    async snapshot(remote, options) {
      git.checkUrl(remote.url);
      const { dir, remove } = await git.scratch('snapshot');
      const { signal } = options;
      try {
        options.progress?.(0, undefined, `fetching ${remote.branch}`);
        await git.run(cloneArgs(remote, 'repo', { blobs: true }), { cwd: dir, signal });
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
      git.checkUrl(request.remote.url);
      const { dir, remove } = await git.scratch('push');
      const { signal } = request;
      const say = (step: number, message: string) => request.progress?.(step, 4, message);
      try {
        say(0, `fetching ${request.remote.branch}`);
        await git.run(cloneArgs(request.remote, 'repo', { blobs: false }), { cwd: dir, signal });
        const repo = join(dir, 'repo');
        // The clone stays blob-less, but git must not fetch missing blobs one by one on its own
        // (hash-object, write-tree and pack-objects would): nothing here needs their content.
        await git.plumb(['config', 'remote.origin.promisor', 'false'], { cwd: repo, signal });
        const env = authorEnv(request);
        const blobs = await hashContents(git, repo, dir, request.changes, signal);
        let parent = (await git.run(['rev-parse', 'HEAD'], { cwd: repo, signal })).trim();
        for (let attempt = 0; ; attempt++) {
          say(1, 'building the commit');
          const conflicts = await conflictsAt(git, repo, parent, request);
          const sha = await buildCommit(git, repo, dir, parent, request, blobs, env);
          if (conflicts.length) return await pushDiverged(git, repo, sha, parent, request, conflicts);
          say(2, `pushing to ${request.branch}`);
          try {
            await git.run(['push', '--no-thin', 'origin', `${sha}:refs/heads/${request.branch}`], {
              cwd: repo,
              signal,
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
          });
          parent = (await git.run(['rev-parse', 'FETCH_HEAD'], { cwd: repo, signal })).trim();
        }
      } finally {
        await remove();
      }
    },
  };
}

function cloneArgs(remote: RemoteRef, into: string, { blobs }: { blobs: boolean }): string[] {
  return [
    'clone',
    '--bare',
    '--depth=1',
    '--single-branch',
    '--no-tags',
    '--template=',
    ...(blobs ? [] : ['--filter=blob:none']),
    '--branch',
    remote.branch,
    '--',
    remote.url,
    into,
  ];
}

function authorEnv(request: CommitRequest): Record<string, string> {
  const { name, email } = request.author;
  return {
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: email,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: email,
  };
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

/** Writes every new content to the clone's object store in one `hash-object` call. */
async function hashContents(
  git: GitCli,
  repo: string,
  dir: string,
  changes: FileChange[],
  signal?: AbortSignal,
) {
  const upserts = changes.filter((c) => c.content !== undefined);
  const files = upserts.map((_, i) => join(dir, `content-${i}`));
  await Promise.all(upserts.map((c, i) => writeFile(files[i]!, c.content!)));
  const shas = upserts.length
    ? (await git.plumb(['hash-object', '-w', '--no-filters', '--', ...files], { cwd: repo, signal }))
        .trim()
        .split('\n')
    : [];
  return new Map(upserts.map((c, i) => [c.path, shas[i]!]));
}

/** The commit of `changes` on `parent`, built on a temporary index (no working tree). */
async function buildCommit(
  git: GitCli,
  repo: string,
  dir: string,
  parent: string,
  request: CommitRequest,
  blobs: Map<string, string>,
  author: Record<string, string>,
): Promise<string> {
  const env = { ...author, GIT_INDEX_FILE: join(dir, 'index') };
  const { signal } = request;
  await git.plumb(['read-tree', parent], { cwd: repo, env, signal });
  const info = request.changes
    .map((c) => {
      const sha = blobs.get(c.path);
      return sha ? `${(c.mode ?? 0o100644).toString(8)} ${sha}\t${c.path}` : `0 ${ZERO_SHA}\t${c.path}`;
    })
    .join('\n');
  await git.plumb(['update-index', '--index-info'], { cwd: repo, env, signal, input: `${info}\n` });
  const tree = (await git.plumb(['write-tree', '--missing-ok'], { cwd: repo, env, signal })).trim();
  return (
    await git.plumb(['commit-tree', tree, '-p', parent, '-F', '-'], {
      cwd: repo,
      env,
      signal,
      input: request.message,
    })
  ).trim();
}

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
  repo: string,
  sha: string,
  parent: string,
  request: CommitRequest,
  conflicts: string[],
): Promise<PushOutcome> {
  const { signal } = request;
  // Never force: if the conflict branch exists (an earlier attempt), use a fresh name.
  for (const branch of [request.conflictBranch, `${request.conflictBranch}-${sha.slice(0, 7)}`]) {
    try {
      await git.run(['push', 'origin', `${sha}:refs/heads/${branch}`], { cwd: repo, signal });
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
