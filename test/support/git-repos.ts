// Real bare git repositories for tests, built with git plumbing (no working tree): normal ones,
// commits by "another agent", readers for assertions, and a hostile one. Test-only: plain git CLI.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { devNull, tmpdir } from 'node:os';
import { join } from 'node:path';

export type FileMode = '100644' | '100755' | '120000';
export type FileSpec = string | Buffer | { content: string | Buffer; mode?: FileMode };

export interface GitOptions {
  cwd?: string;
  input?: string | Buffer;
  /** Added to (or, when undefined, removed from) gitEnv(). */
  env?: Record<string, string | undefined>;
}

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Author and committer of every commit these helpers (or a git CLI run with gitEnv) make. */
export const TEST_AUTHOR = { name: 'Other Agent', email: 'other-agent@example.test' };
const FIXED_DATE = '1704067200 +0000'; // 2024-01-01: commit SHAs are reproducible
const ZERO_SHA = '0'.repeat(40);

// A HOME that holds nothing (it does not exist, so nothing is left to clean up) and no global
// config: no user settings or credential helper leak into the tests' git.
const EMPTY_HOME = join(tmpdir(), 'stowage-git-empty-home');

/** A clean environment for git: no system or user config, fixed identity and dates, no prompts. */
export function gitEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: EMPTY_HOME,
    GIT_CONFIG_GLOBAL: devNull,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: TEST_AUTHOR.name,
    GIT_AUTHOR_EMAIL: TEST_AUTHOR.email,
    GIT_AUTHOR_DATE: FIXED_DATE,
    GIT_COMMITTER_NAME: TEST_AUTHOR.name,
    GIT_COMMITTER_EMAIL: TEST_AUTHOR.email,
    GIT_COMMITTER_DATE: FIXED_DATE,
  };
  // Forwarded so a test (or a person debugging one) can see every git the helpers run.
  if (process.env.GIT_TRACE) env.GIT_TRACE = process.env.GIT_TRACE;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs git; resolves with its exit code and output whatever the code (for failures tests expect). */
export function runGit(args: string[], options: GitOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: options.cwd, env: gitEnv(options.env), encoding: 'buffer', maxBuffer: 1 << 30 },
      (error, stdout, stderr) => {
        const code = error ? error.code : 0;
        if (typeof code !== 'number') reject(error ?? new Error(`git ${args.join(' ')}: no exit code`));
        else resolve({ code, stdout, stderr: stderr.toString('utf8') });
      },
    );
    child.stdin?.on('error', () => undefined); // git may exit before reading all of its input
    child.stdin?.end(options.input);
  });
}

/** Runs git and returns its stdout (utf8); throws with git's stderr when it fails. */
export async function git(args: string[], options: GitOptions = {}): Promise<string> {
  return (await gitBuffer(args, options)).toString('utf8');
}

async function gitBuffer(args: string[], options: GitOptions): Promise<Buffer> {
  const result = await runGit(args, options);
  if (result.code !== 0)
    throw new Error(`git ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout;
}

export interface BareRepo {
  dir: string;
  /** `owner/name`. */
  fullName: string;
  branch: string;
  head: string;
  /** Its URL on a git server serving `root`: `<server.url>/<owner>/<name>.git`. */
  url(server: { url: string }): string;
}

/** A bare repo at `<root>/<owner>/<name>.git` whose `branch` holds exactly `files`, in one commit. */
export async function createBareRepo(
  root: string,
  fullName: string,
  files: Record<string, FileSpec>,
  { branch = 'main', message = 'Initial commit' }: { branch?: string; message?: string } = {},
): Promise<BareRepo> {
  const dir = await initBare(root, fullName, branch);
  const head = await commitChanges(dir, undefined, files, branch, message);
  return { dir, fullName, branch, head, url: (server) => `${server.url}/${fullName}.git` };
}

/**
 * Simulates another agent pushing: one commit of `changes` (null deletes) on `branch`, which starts
 * as a root commit when missing; the new head.
 */
export async function commitToBare(
  dir: string,
  changes: Record<string, FileSpec | null>,
  { branch = 'main', message = 'Change by another agent' }: { branch?: string; message?: string } = {},
): Promise<string> {
  const found = await runGit(['rev-parse', '--verify', '-q', `refs/heads/${branch}`], { cwd: dir });
  const parent = found.code === 0 ? found.stdout.toString('utf8').trim() : undefined;
  return commitChanges(dir, parent, changes, branch, message);
}

async function initBare(root: string, fullName: string, branch: string): Promise<string> {
  if (!/^[\w.-]+\/[\w.-]+$/.test(fullName)) throw new Error(`not an owner/name: ${fullName}`);
  const dir = join(root, `${fullName}.git`);
  await git(['init', '-q', '--bare', `--initial-branch=${branch}`, dir]);
  // What a partial, depth-1 client needs, and push over smart HTTP.
  for (const key of ['uploadpack.allowFilter', 'uploadpack.allowAnySHA1InWant', 'http.receivepack']) {
    await git(['config', key, 'true'], { cwd: dir });
  }
  return dir;
}

function normalize(spec: FileSpec): { content: Buffer; mode: FileMode } {
  if (typeof spec === 'string' || Buffer.isBuffer(spec))
    return { content: Buffer.from(spec), mode: '100644' };
  return { content: Buffer.from(spec.content), mode: spec.mode ?? '100644' };
}

/** Writes blobs with one `hash-object --stdin-paths`, whatever their number; their SHAs in order. */
async function writeBlobs(dir: string, contents: Buffer[], scratch: string): Promise<string[]> {
  if (contents.length === 0) return [];
  const paths = contents.map((_, i) => join(scratch, `blob-${i}`));
  for (let i = 0; i < contents.length; i += 64) {
    await Promise.all(paths.slice(i, i + 64).map((path, j) => writeFile(path, contents[i + j]!)));
  }
  const out = await git(['hash-object', '-w', '--no-filters', '--stdin-paths'], {
    cwd: dir,
    input: paths.join('\n') + '\n',
  });
  return out.trim().split('\n');
}

/** read-tree parent, one `update-index --index-info` batch, write-tree, commit-tree, update-ref (CAS). */
async function commitChanges(
  dir: string,
  parent: string | undefined,
  changes: Record<string, FileSpec | null>,
  branch: string,
  message: string,
): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), 'stowage-git-index-'));
  const env = { GIT_INDEX_FILE: join(scratch, 'index') };
  try {
    if (parent) await git(['read-tree', parent], { cwd: dir, env });
    const upserts = Object.entries(changes).flatMap(([path, spec]) =>
      spec === null ? [] : [{ path, ...normalize(spec) }],
    );
    const shas = await writeBlobs(
      dir,
      upserts.map((u) => u.content),
      scratch,
    );
    const deletes = Object.keys(changes).filter((path) => changes[path] === null);
    const info =
      upserts.map((u, i) => `${u.mode} ${shas[i]}\t${u.path}\0`).join('') +
      deletes.map((path) => `0 ${ZERO_SHA}\t${path}\0`).join('');
    if (info) await git(['update-index', '-z', '--index-info'], { cwd: dir, env, input: info });
    const tree = (await git(['write-tree'], { cwd: dir, env })).trim();
    const commit = (
      await git(['commit-tree', tree, ...(parent ? ['-p', parent] : [])], { cwd: dir, input: message })
    ).trim();
    await git(['update-ref', `refs/heads/${branch}`, commit, parent ?? ZERO_SHA], { cwd: dir });
    return commit;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface TreeEntry {
  content: Buffer;
  mode: string;
  sha: string;
}

/** Every blob (and symlink) of `ref`'s tree, by full path. Submodule entries have empty content. */
export async function readTree(dir: string, ref = 'main'): Promise<Map<string, TreeEntry>> {
  const listing = await git(['ls-tree', '-r', '-z', '--full-tree', ref], { cwd: dir });
  const entries = listing
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const [meta, path] = [line.slice(0, line.indexOf('\t')), line.slice(line.indexOf('\t') + 1)];
      const [mode, type, sha] = meta.split(' ') as [string, string, string];
      return { path, mode, type, sha };
    });
  const blobs = [...new Set(entries.filter((e) => e.type === 'blob').map((e) => e.sha))];
  const contents = new Map<string, Buffer>();
  const out = await gitBuffer(['cat-file', '--batch'], { cwd: dir, input: blobs.join('\n') + '\n' });
  // `<sha> blob <size>\n<content>\n` per object.
  for (let at = 0; at < out.length;) {
    const eol = out.indexOf(10, at);
    const [sha, , size] = out.subarray(at, eol).toString('utf8').split(' ') as [string, string, string];
    contents.set(sha, out.subarray(eol + 1, eol + 1 + Number(size)));
    at = eol + 1 + Number(size) + 1;
  }
  return new Map(
    entries.map((e) => [
      e.path,
      { content: contents.get(e.sha) ?? Buffer.alloc(0), mode: e.mode, sha: e.sha },
    ]),
  );
}

export interface LogEntry {
  sha: string;
  subject: string;
  body: string;
  author: { name: string; email: string };
  parents: string[];
}

/** `ref`'s history, newest first. */
export async function log(dir: string, ref = 'main'): Promise<LogEntry[]> {
  const out = await git(['log', '-z', '--format=%H%x00%P%x00%an%x00%ae%x00%s%x00%b', ref], { cwd: dir });
  const fields = out.split('\0');
  const entries: LogEntry[] = [];
  for (let i = 0; i + 6 <= fields.length; i += 6) {
    const [sha, parents, name, email, subject, body] = fields.slice(i, i + 6) as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    entries.push({
      sha,
      subject,
      body: body.replace(/\n+$/, ''),
      author: { name, email },
      parents: parents ? parents.split(' ') : [],
    });
  }
  return entries;
}

/** Branch name → head SHA. */
export async function branches(dir: string): Promise<Record<string, string>> {
  const out = await git(['for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/'], {
    cwd: dir,
  });
  return Object.fromEntries(
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string]),
  );
}

export interface HostileRepo {
  dir: string;
  fullName: string;
  head: string;
  /** A file a client creates only if it ran the repo's hooks, filters or in-tree git config. */
  marker: string;
  /** Every blob path of the tree, as git stores it. */
  entries: string[];
  url(server: { url: string }): string;
}

type TreeLeaf = { mode: FileMode; content: Buffer };
type TreeNode = Map<string, TreeLeaf | TreeNode>;
const treeOf = (entries: Record<string, TreeLeaf | TreeNode>): TreeNode => new Map(Object.entries(entries));

/**
 * A bare repo whose `main` tree holds names normal git refuses to add (built with mktree, which
 * only refuses a `/` in a name): escaping symlinks, `.git`/`.GIT`/`git~1` directories, a `..`
 * directory, pathspec magic, a newline and a backslash, a huge file; plus hooks and a filter
 * driver that would create `marker` if anything ran them.
 */
export async function createHostileRepo(
  root: string,
  fullName: string,
  { hugeSize = 11 * 1024 * 1024 }: { hugeSize?: number } = {},
): Promise<HostileRepo> {
  const dir = await initBare(root, fullName, 'main');
  const marker = join(root, `${fullName}.pwned`);
  const script = Buffer.from(`#!/bin/sh\ntouch '${marker}'\n`);
  const leaf = (content: string | Buffer, mode: FileMode = '100644') => ({
    mode,
    content: Buffer.from(content),
  });
  const hooks = treeOf({ hooks: treeOf({ 'post-checkout': leaf(script, '100755') }) });
  const tree = treeOf({
    'ok.txt': leaf('ok\n'),
    link: leaf('../../../etc/passwd', '120000'),
    abs: leaf('/etc/passwd', '120000'),
    sub: treeOf({ '.git': treeOf({ config: leaf(`[core]\n\tfsmonitor = touch '${marker}'\n`) }) }),
    '.GIT': hooks,
    'git~1': hooks,
    '..': treeOf({ 'escape.txt': leaf('escaped\n') }),
    ':(glob)**': leaf('glob magic\n'),
    ':!x': leaf('exclude magic\n'),
    '*': leaf('star\n'),
    'new\nline': leaf('newline\n'),
    'back\\slash': leaf('backslash\n'),
    'huge.bin': leaf(Buffer.alloc(hugeSize, 'stowage ')),
    '.gitattributes': leaf('* filter=evil diff=evil\n'),
  });
  const entries: string[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'stowage-git-hostile-'));
  try {
    const treeSha = await mktree(dir, tree, '', entries, scratch);
    const head = (await git(['commit-tree', treeSha], { cwd: dir, input: 'Hostile tree' })).trim();
    await git(['update-ref', 'refs/heads/main', head, ZERO_SHA], { cwd: dir });
    // Only in the server's repo: a client that honoured them would have to be using this repo itself.
    await git(['config', 'filter.evil.smudge', `sh -c "touch '${marker}'; cat"`], { cwd: dir });
    await git(['config', 'filter.evil.clean', `sh -c "touch '${marker}'; cat"`], { cwd: dir });
    await mkdir(join(dir, 'hooks'), { recursive: true });
    for (const hook of ['post-checkout', 'post-merge']) {
      await writeFile(join(dir, 'hooks', hook), script);
      await chmod(join(dir, 'hooks', hook), 0o755);
    }
    return { dir, fullName, head, marker, entries, url: (server) => `${server.url}/${fullName}.git` };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function mktree(dir: string, node: TreeNode, prefix: string, paths: string[], scratch: string) {
  const lines: string[] = [];
  const files = [...node].filter((entry): entry is [string, TreeLeaf] => !(entry[1] instanceof Map));
  const shas = await writeBlobs(
    dir,
    files.map(([, f]) => f.content),
    await mkdtemp(join(scratch, 'b-')),
  );
  files.forEach(([name, f], i) => {
    lines.push(`${f.mode} blob ${shas[i]}\t${name}\0`);
    paths.push(prefix + name);
  });
  for (const [name, child] of node) {
    if (child instanceof Map) {
      lines.push(`040000 tree ${await mktree(dir, child, `${prefix}${name}/`, paths, scratch)}\t${name}\0`);
    }
  }
  return (await git(['mktree', '-z'], { cwd: dir, input: lines.join('') })).trim();
}
