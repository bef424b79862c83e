// `stowage checkout`, `push-dir` and `pull-dir`, driven through the built CLI against the
// harness's storage (its database and STOWAGE_HOME), with what is stored read back through the
// services: a directory as an offline working copy of a workspace.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushDir } from '../src/cli/working-copy.js';
import { targetOf } from '../src/cli/working-copy-files.js';
import { createHarness, type Harness } from './support/harness.js';
import { ROOT, spawnStowage } from './support/spawn.js';

const alice = { principal: 'alice' };
const binary = randomBytes(200_000); // above INLINE_MAX_BYTES: a blob, with NUL bytes in it
const readme = '# wc\nline two\nline three\n';
const app = 'a\nb\nc\nd\ne\nf\ng\n';

describe('a directory as a working copy', () => {
  let h: Harness;
  let parent: string;
  let env: Record<string, string>;
  const dir = () => join(parent, 'copy');
  const cli = (...args: string[]) => spawnStowage(args, env).done;
  const local = (path: string) => readFile(join(dir(), path), 'utf8');
  const stored = async (path: string) =>
    (await h.stowage.workspace.read('wc', alice, path)).content.toString('utf8');
  const state = async () =>
    JSON.parse(await readFile(join(dir(), '.stowage/checkout.json'), 'utf8')) as {
      project: string;
      workspace: string;
      files: Record<string, { hash: string; mode: number }>;
    };

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/index.js')))
      throw new Error('run `npm run build` first (npm test does)');
    h = await createHarness({ principal: 'alice' });
    parent = await mkdtemp(join(tmpdir(), 'stowage-wc-'));
    env = { DATABASE_URL: h.db.url, STOWAGE_HOME: h.home, STOWAGE_PRINCIPAL: 'alice' };
    await h.ok('create_project', { name: 'wc' });
    await h.stowage.workspace.write('wc', alice, [
      { path: 'README.md', content: Buffer.from(readme) },
      { path: 'src/app.ts', content: Buffer.from(app) },
      { path: 'assets/img.bin', content: binary },
      { path: 'run.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o100755 },
    ]);
    await h.ok('commit_task', { project: 'wc', task: { id: 1, title: 'init' } });
    // A draft over the committed tree: the workspace's view is what is checked out.
    await h.ok('write_file', { project: 'wc', path: 'notes.txt', content: 'draft only\n' });
    await h.stowage.history.checkpoint('wc', alice, 'start');
  });
  afterAll(async () => {
    await h?.close();
    await rm(parent, { recursive: true, force: true });
  });

  it('checks out every file of the view, byte for byte with modes, and a state file', async () => {
    const out = await cli('checkout', 'wc', dir());
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain("checked out 5 file(s) of 'wc' (workspace 'alice')");
    expect(await local('README.md')).toBe(readme);
    expect(await local('notes.txt')).toBe('draft only\n');
    expect((await readFile(join(dir(), 'assets/img.bin'))).equals(binary)).toBe(true);
    expect((await stat(join(dir(), 'run.sh'))).mode & 0o100).toBe(0o100);
    expect((await stat(join(dir(), 'README.md'))).mode & 0o111).toBe(0);
    const s = await state();
    expect(s.project).toBe('wc');
    expect(s.workspace).toBe('alice');
    expect(Object.keys(s.files).sort()).toEqual([
      'README.md',
      'assets/img.bin',
      'notes.txt',
      'run.sh',
      'src/app.ts',
    ]);
    expect(s.files['run.sh']!.mode).toBe(0o100755);
    const { entries } = await h.stowage.workspace.lookup('wc', alice, ['README.md']);
    expect(s.files['README.md']!.hash).toBe(entries[0]!.hash);
  });

  it('pushes adds, edits, deletes and mode changes as drafts, skipping .gitignored files', async () => {
    await writeFile(join(dir(), 'README.md'), `${readme}line four\n`);
    await writeFile(join(dir(), 'new.txt'), 'new\n');
    await unlink(join(dir(), 'notes.txt'));
    await chmod(join(dir(), 'src/app.ts'), 0o755);
    await writeFile(join(dir(), '.gitignore'), 'build/\n*.log\n');
    await mkdir(join(dir(), 'build'));
    await writeFile(join(dir(), 'build/out.js'), 'generated\n');
    await writeFile(join(dir(), 'debug.log'), 'noise\n');
    await mkdir(join(dir(), 'docs'));
    await writeFile(join(dir(), 'docs/.gitignore'), '*.tmp\n!keep.tmp\n');
    await writeFile(join(dir(), 'docs/scratch.tmp'), 'x\n');
    await writeFile(join(dir(), 'docs/keep.tmp'), 'kept\n');

    const out = await cli('push-dir', dir());
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('4 added, 2 modified, 1 deleted');
    expect(await stored('README.md')).toBe(`${readme}line four\n`);
    expect(await stored('new.txt')).toBe('new\n');
    expect(await stored('docs/keep.tmp')).toBe('kept\n');
    const { entries } = await h.stowage.workspace.list('wc', alice, { present: true });
    const paths = entries.map((e) => e.path);
    expect(paths).not.toContain('notes.txt');
    expect(paths).not.toContain('build/out.js');
    expect(paths).not.toContain('debug.log');
    expect(paths).not.toContain('docs/scratch.tmp');
    expect(entries.find((e) => e.path === 'src/app.ts')!.mode).toBe(0o100755);
    expect((await state()).files['new.txt']).toBeDefined();

    const again = await cli('push-dir', dir());
    expect(again.stderr).toContain('0 added, 0 modified, 0 deleted');
  });

  it('refuses a file changed meanwhile when the changes clash, and merges one that does not', async () => {
    await h.ok('write_file', { project: 'wc', path: 'README.md', content: '# server\nline two\n' });
    await h.ok('write_file', { project: 'wc', path: 'src/app.ts', content: app.replace('a\n', 'A\n') });
    await writeFile(join(dir(), 'README.md'), '# local\nline two\n');
    await writeFile(join(dir(), 'src/app.ts'), app.replace('g\n', 'G\n'));

    const out = await cli('push-dir', dir());
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/refused README\.md: changed in workspace 'alice'.*pull-dir/);
    expect(out.stderr).toContain('1 merged');
    expect(await stored('README.md')).toBe('# server\nline two\n');
    const merged = app.replace('a\n', 'A\n').replace('g\n', 'G\n');
    expect(await stored('src/app.ts')).toBe(merged);
    expect(await local('src/app.ts')).toBe(merged);
    expect(await local('README.md')).toBe('# local\nline two\n');
  });

  it('pulls server changes, merging and reporting a clash with the fix', async () => {
    await h.ok('write_file', { project: 'wc', path: 'server.txt', content: 'from the server\n' });
    await h.ok('delete_file', { project: 'wc', path: 'new.txt' });
    await h.ok('write_file', { project: 'wc', path: 'src/app.ts', content: 'A\nb\nc\nd\ne\nf\nG\nh\n' });

    const out = await cli('pull-dir', dir());
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('2 updated, 1 deleted');
    expect(out.stderr).toMatch(/refused README\.md: changed here and in workspace 'alice'/);
    expect(await local('server.txt')).toBe('from the server\n');
    expect(existsSync(join(dir(), 'new.txt'))).toBe(false);
    expect(await local('src/app.ts')).toBe('A\nb\nc\nd\ne\nf\nG\nh\n');
    // The clash: the local file as it was, the merge with markers beside the state.
    expect(await local('README.md')).toBe('# local\nline two\n');
    expect(await readFile(join(dir(), '.stowage/conflicts/README.md'), 'utf8')).toContain('<<<<<<<');
    const blocked = await cli('push-dir', dir());
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/refused README\.md: still in conflict/);

    // Resolved by hand: it goes up, over the server's version it was merged against.
    await writeFile(join(dir(), 'README.md'), '# both\nline two\n');
    const resolved = await cli('push-dir', dir());
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(await stored('README.md')).toBe('# both\nline two\n');
  });

  it('checks out an older point with --at', async () => {
    const old = join(parent, 'old');
    const out = await cli('checkout', 'wc', old, '--at', 'start');
    expect(out.code, out.stderr).toBe(0);
    expect(await readFile(join(old, 'README.md'), 'utf8')).toBe(readme);
    expect(await readFile(join(old, 'notes.txt'), 'utf8')).toBe('draft only\n');
    expect(existsSync(join(old, 'server.txt'))).toBe(false);
    expect((await readFile(join(old, 'assets/img.bin'))).equals(binary)).toBe(true);
    expect((await stat(join(old, 'run.sh'))).mode & 0o100).toBe(0o100);
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const missing = await cli('push-dir', join(parent, 'nowhere'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is not a working copy');
    expect(existsSync(join(parent, 'nowhere'))).toBe(false);

    const unknown = await cli('checkout', 'no-such-project', join(parent, 'unknown'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("'no-such-project'");
    expect(existsSync(join(parent, 'unknown'))).toBe(false);

    const busy = join(parent, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'mine.txt'), 'mine\n');
    const refused = await cli('checkout', 'wc', busy);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not empty and not a checkout');
    expect(existsSync(join(busy, 'README.md'))).toBe(false);

    const other = await cli('checkout', 'wc', dir(), '--workspace', 'bob');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("is a checkout of 'wc' (workspace 'alice')");

    const before = await h.stowage.workspace.list('wc', alice);
    expect(before.entries.length).toBeGreaterThan(0);
    expect((await cli('push-dir')).code).toBe(1); // usage
  });

  it('does not overwrite a write landing between its read and its write (if_match)', async () => {
    await writeFile(join(dir(), 'README.md'), '# mine\nline two\n');
    await writeFile(join(dir(), 'other.txt'), 'other\n');
    const { workspace } = h.stowage;
    let raced = false;
    // A workspace whose first write is preceded by another writer's, after push-dir has looked.
    const racing = {
      ...workspace,
      write: async (...args: Parameters<typeof workspace.write>) => {
        if (!raced) {
          raced = true;
          await workspace.write('wc', alice, [{ path: 'README.md', content: Buffer.from('# theirs\n') }]);
        }
        return workspace.write(...args);
      },
    };
    const deps = {
      stowage: { ...h.stowage, workspace: racing },
      mergeText: h.deps.git.mergeText,
      principal: 'alice',
    };
    const outcome = await pushDir(deps, dir());
    expect(outcome.problems.map((p) => p.path)).toEqual(['README.md']);
    expect(outcome.problems[0]!.reason).toMatch(/if_match failed.*pull-dir/);
    expect(await stored('README.md')).toBe('# theirs\n');
    expect(await stored('other.txt')).toBe('other\n');
    expect((await state()).files['other.txt']).toBeDefined();
  });

  it('refuses paths that would lead outside the directory', async () => {
    await expect(targetOf(dir(), '../evil.txt')).rejects.toThrow();
    await expect(targetOf(dir(), '.stowage/checkout.json')).rejects.toThrow(/reserved/);
    await symlink(parent, join(dir(), 'out'));
    await expect(targetOf(dir(), 'out/x.txt')).rejects.toThrow(/outside/);
    await unlink(join(dir(), 'out'));
  });
});
