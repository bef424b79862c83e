// The local side of a working copy (working-copy.ts): the state file `.stowage/checkout.json`,
// the base copies merges need, the scan of the directory (honouring .gitignore), and writes that
// stay inside the directory.
//
// Decisions:
// - The state file names, for each path, the hash and mode it had when the directory last
//   matched the workspace (checkout, push-dir, pull-dir): that is the base of every three-way
//   merge. The base content is kept under `.stowage/base/<sha256>`, as git keeps its objects, so
//   a merge needs nothing the server may since have dropped (an overwritten inline draft).
// - .gitignore files (the root's and nested ones, the deepest deciding, a `!` re-including) are
//   read with the `ignore` package, which implements git's pattern rules; an ignored directory is
//   not entered. `.git/` and `.stowage/` are never scanned.
// - Only regular files are stored: a symbolic link is reported rather than followed.
// - A write goes to a temporary name and is renamed into place, in a parent directory whose real
//   path is inside the working copy (a symlinked directory cannot lead a write out of it).
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { invalidInput, notFound } from '../errors.js';
import { normalizePath } from '../paths.js';
import { sha256 } from '../store/blobs/blob-store.js';

export const STATE_DIR = '.stowage';
const STATE_FILE = join(STATE_DIR, 'checkout.json');
const BASE_DIR = join(STATE_DIR, 'base');
export const EXECUTABLE = 0o100755;
export const REGULAR = 0o100644;

export interface TrackedFile {
  hash: string;
  mode: number;
  /** pull-dir found both sides changed, overlapping: the local file's hash then. Until the file
   *  changes from it, push-dir refuses the path and pull-dir reports it again. */
  unresolved?: string | undefined;
}

export interface CheckoutState {
  project: string;
  workspace: string;
  /** The point checked out with --at; gone once pull-dir brings the directory up to date. */
  at?: string | undefined;
  files: Record<string, TrackedFile>;
}

export interface LocalFile {
  path: string;
  hash: string;
  mode: number;
}

export const modeOfStat = (mode: number) => (mode & 0o111 ? EXECUTABLE : REGULAR);
const isExecutable = (mode: number) => mode === EXECUTABLE;

export async function readState(dir: string): Promise<CheckoutState> {
  const text = await readFile(join(dir, STATE_FILE), 'utf8').catch(() => {
    throw notFound(
      `'${dir}' is not a working copy (no ${STATE_FILE}): run stowage checkout <project> ${dir}`,
    );
  });
  const damaged = () =>
    invalidInput(`${join(dir, STATE_FILE)} is damaged: check out again into an empty directory`);
  let state: CheckoutState;
  try {
    state = JSON.parse(text) as CheckoutState;
  } catch {
    throw damaged();
  }
  if (
    typeof state.project !== 'string' ||
    typeof state.workspace !== 'string' ||
    typeof state.files !== 'object'
  )
    throw damaged();
  return state;
}

/** The state, if `dir` holds one; undefined when it does not. */
export const findState = (dir: string) => readState(dir).catch(() => undefined);

/** Writes the state (temporary file, then rename) and drops base copies nothing refers to. */
export async function saveState(dir: string, state: CheckoutState): Promise<void> {
  await mkdir(join(dir, BASE_DIR), { recursive: true });
  const file = join(dir, STATE_FILE);
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, `${JSON.stringify(state, null, 1)}\n`);
  await rename(temp, file);
  const kept = new Set(Object.values(state.files).map((f) => f.hash));
  for (const name of await readdir(join(dir, BASE_DIR))) {
    if (!kept.has(name)) await rm(join(dir, BASE_DIR, name), { force: true });
  }
}

export async function saveBase(dir: string, hash: string, content: Buffer): Promise<void> {
  await mkdir(join(dir, BASE_DIR), { recursive: true });
  await writeFile(join(dir, BASE_DIR, hash), content);
}

export const readBase = (dir: string, hash: string) => readFile(join(dir, BASE_DIR, hash));

/** The canonical path of a file found locally, or a reason it cannot be stored. */
function storablePath(path: string): string | { refused: string } {
  try {
    if (normalizePath(path) === path) return path;
  } catch {
    // falls through to the refusal
  }
  return { refused: `'${path}' is not a path Stowage stores: rename it or add it to .gitignore` };
}

/** Where `path` (canonical) lives in `dir`; refuses paths that escape it or are reserved. */
export async function targetOf(dir: string, path: string): Promise<string> {
  const canonical = normalizePath(path);
  if (canonical !== path || canonical === STATE_DIR || canonical.startsWith(`${STATE_DIR}/`)) {
    throw invalidInput(`'${path}' cannot be written in a working copy (${STATE_DIR}/ is reserved)`);
  }
  const target = join(dir, ...canonical.split('/'));
  const root = await realpath(dir);
  const inside = async (at: string) => {
    const real = await realpath(at);
    if (real !== root && !real.startsWith(root + sep)) {
      throw invalidInput(`'${path}' leads outside '${dir}' (through a symbolic link): remove the link`);
    }
  };
  // The nearest directory that exists is checked before any is created under it.
  let existing = dirname(target);
  while (
    !(await lstat(existing).then(
      () => true,
      () => false,
    ))
  )
    existing = dirname(existing);
  await inside(existing);
  await mkdir(dirname(target), { recursive: true });
  await inside(dirname(target));
  return target;
}

/** Writes `content` at `path` in `dir` with its mode, atomically. */
export async function writeLocal(dir: string, path: string, content: Buffer, mode: number): Promise<void> {
  const target = await targetOf(dir, path);
  const temp = `${target}.${randomBytes(6).toString('hex')}.stowage-tmp`;
  await writeFile(temp, content);
  if (isExecutable(mode)) await chmod(temp, 0o755);
  await rename(temp, target);
}

export async function removeLocal(dir: string, path: string): Promise<void> {
  await rm(await targetOf(dir, path), { force: true });
}

/** The file at `path` now, or null when there is none (or it is not a regular file). */
export async function readLocal(
  dir: string,
  path: string,
): Promise<(LocalFile & { content: Buffer }) | null> {
  const target = join(dir, ...path.split('/'));
  const info = await lstat(target).catch(() => undefined);
  if (!info?.isFile()) return null;
  const content = await readFile(target);
  return { path, hash: sha256(content), mode: modeOfStat(info.mode), content };
}

export interface Scan {
  files: Map<string, LocalFile>;
  /** Paths under .gitignore rules: push-dir neither sends nor deletes them. */
  ignored: (path: string) => boolean;
  /** Files found that cannot be stored, with the reason. */
  refused: { path: string; reason: string }[];
}

interface Rules {
  base: string;
  rules: Ignore;
}

/** Every regular file under `dir` that .gitignore does not exclude. */
export async function scanLocal(dir: string): Promise<Scan> {
  const files = new Map<string, LocalFile>();
  const refused: Scan['refused'] = [];
  const stacks = new Map<string, readonly Rules[]>();
  const ignoredBy = (stack: readonly Rules[], path: string) => {
    for (let i = stack.length - 1; i >= 0; i--) {
      const { base, rules } = stack[i]!;
      const verdict = rules.test(base ? path.slice(base.length + 1) : path);
      if (verdict.ignored) return true;
      if (verdict.unignored) return false;
    }
    return false;
  };
  async function walk(rel: string, inherited: readonly Rules[]) {
    const abs = rel ? join(dir, ...rel.split('/')) : dir;
    const entries = await readdir(abs, { withFileTypes: true });
    let stack = inherited;
    if (entries.some((e) => e.name === '.gitignore' && e.isFile())) {
      const text = await readFile(join(abs, '.gitignore'), 'utf8');
      stack = [...inherited, { base: rel, rules: ignore().add(text) }];
    }
    stacks.set(rel, stack);
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (!rel && entry.name === STATE_DIR) continue;
      if (entry.name === '.git' && entry.isDirectory()) continue;
      if (entry.name.endsWith('.stowage-tmp')) continue;
      if (ignoredBy(stack, entry.isDirectory() ? `${path}/` : path)) continue;
      if (entry.isDirectory()) {
        await walk(path, stack);
        continue;
      }
      const checked = storablePath(path);
      if (typeof checked !== 'string') refused.push({ path, reason: checked.refused });
      else if (entry.isSymbolicLink())
        refused.push({
          path,
          reason: 'a symbolic link is not stored: replace it with a file or .gitignore it',
        });
      else if (entry.isFile()) {
        const file = await readLocal(dir, path);
        if (file) files.set(path, { path, hash: file.hash, mode: file.mode });
      }
    }
  }
  await walk('', []);
  /** A path (maybe no longer on disk) is ignored by the rules of its nearest scanned directory. */
  const ignored = (path: string) => {
    const parts = path.split('/');
    for (let n = parts.length - 1; n >= 0; n--) {
      const stack = stacks.get(parts.slice(0, n).join('/'));
      if (stack) return ignoredBy(stack, path);
    }
    return false;
  };
  return { files, ignored, refused };
}

/** Whether `dir` is missing or empty. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    if (err.code === 'ENOTDIR') throw invalidInput(`'${dir}' is a file: give a directory`);
    throw err;
  });
  return names.length === 0;
}

/** Where pull-dir leaves the merge with conflict markers (or the workspace's version) of `path`. */
export const conflictCopyOf = (path: string) => `${STATE_DIR}/conflicts/${path}`;

export async function saveConflictCopy(dir: string, path: string, content: Buffer): Promise<void> {
  const target = join(dir, ...conflictCopyOf(path).split('/'));
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, content);
}
