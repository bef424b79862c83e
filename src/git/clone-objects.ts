// Reading a clone: its branch head from packed-refs, tree listings, blobs streamed out of one
// `cat-file --batch`, and the blobs a blob-less clone lacks, fetched from the remote in one
// request. The helpers of clone-remote.ts.
import { createHash } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import type { GitCli } from './git-cli.js';
import type { CheckedRemote } from './remote-guard.js';
import type { RemoteEntry, SnapshotOptions } from './types.js';

/** The commit a fresh clone's branch points at, read from its packed-refs (where clone writes
 *  it) without a process; `rev-parse` when it is not there. */
export async function headOf(git: GitCli, repo: string, branch: string, signal: AbortSignal | undefined) {
  const packed = await readFile(join(repo, 'packed-refs'), 'utf8').catch(() => '');
  const ref = ` refs/heads/${branch}`;
  const line = packed.split('\n').find((l) => l.endsWith(ref) && /^[0-9a-f]{40,64} /.test(l));
  if (line) return line.slice(0, line.indexOf(' '));
  return (await git.run(['rev-parse', 'HEAD'], { cwd: repo, signal })).trim();
}

/** Every file of the tree at `head` (`ls-tree -r -z`): blobs, symlinks and submodules. Sizes
 *  (`-l`) need the blobs, which a blob-less clone would fetch one by one: only ask with them. */
export async function listTree(
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
export async function readBlobs(git: GitCli, repo: string, entries: RemoteEntry[], options: SnapshotOptions) {
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
export async function* batchObjects(stdout: Readable): AsyncGenerator<{ sha: string; content: Buffer }> {
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

/** The SHA-1 git gives `content` as a blob. */
export const gitBlobSha = (content: Buffer) =>
  createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');

/** The content of blobs the blob-less clone lacks, fetched from the remote in one request (as
 *  git's own lazy fetch of a partial clone asks for them), then read with one `cat-file`. */
export async function fetchBlobs(
  git: GitCli,
  { repo, remote }: { repo: string; remote: CheckedRemote },
  shas: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Map<string, Buffer>> {
  const wanted = [...new Set(shas)];
  const found = new Map<string, Buffer>();
  if (!wanted.length) return found;
  // No "have" lines for this fetch: a server told we have the head would leave out the blobs
  // under it. (A later fetch of the branch negotiates again, or it would get all its history.)
  const config = join(repo, 'config');
  await appendFile(config, '[fetch]\n\tnegotiationAlgorithm = noop\n');
  try {
    await git.run(
      [
        'fetch',
        '--no-tags',
        '--no-write-fetch-head',
        '--recurse-submodules=no',
        '--filter=blob:none',
        '--stdin',
        'origin',
      ],
      { cwd: repo, signal, remote, input: wanted.join('\n') + '\n' },
    );
  } finally {
    await appendFile(config, '[fetch]\n\tnegotiationAlgorithm = consecutive\n');
  }
  await git.stream(
    ['cat-file', '--batch'],
    { cwd: repo, input: wanted.join('\n') + '\n', signal },
    async (stdout) => {
      for await (const { sha, content } of batchObjects(stdout)) found.set(sha, content);
    },
  );
  return found;
}
