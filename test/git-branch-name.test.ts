// Branch names: every hostile name is judged as `git check-ref-format --branch` judges it (real
// git is asked), except where Stowage is stricter on purpose (see the module's Decisions).
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { branchNameProblem, checkBranchName } from '../src/git/branch-name.js';
import { runGit } from './support/git-repos.js';

// Outside any repository: inside one, git would expand `@{-1}` to the branch checked out before.
const gitAccepts = async (name: string) =>
  (await runGit(['check-ref-format', '--branch', name], { cwd: tmpdir() })).code === 0;

const GOOD = [
  'main',
  'feature/login',
  'stowage/task-29',
  'release-1.2',
  'a-',
  'x/HEAD',
  'HEAD/x',
  'refs/heads/x',
  'größe',
  '+x',
  '#x',
  'a{b',
  'a@b',
  "it's",
  'a;b',
  'v1.0.0-rc.1',
  'UPPER/lower',
  'a'.repeat(200),
];

const BAD = [
  '',
  '-',
  '-x',
  '--delete',
  '--upload-pack=touch /tmp/pwned',
  'HEAD',
  'a..b',
  '..',
  'a/../b',
  'a/./b',
  '.',
  '.a',
  'a/.b',
  'a/.',
  'a.',
  'a..',
  'a.lock',
  'a.lock/b',
  'a/b.lock',
  '.lock',
  'a/.lock',
  'a@{b',
  '@{-1}',
  '@{u}',
  'a b',
  'a\tb',
  'a\nb',
  'a\rb',
  'a\x01b',
  'a\x7fb',
  'a~1',
  'a^2',
  'a:b',
  'a?b',
  'a*b',
  'a[b',
  'a\\b',
  '/a',
  'a/',
  'a//b',
];

/** Refused by Stowage though git would take them. */
const STRICTER = ['@', 'a'.repeat(201), 'a\u202eb', 'a\u200bb', 'a\u0085b'];

describe('branchNameProblem', () => {
  it.each(GOOD)('accepts %j, as git does', async (name) => {
    expect(branchNameProblem(name)).toBeUndefined();
    expect(await gitAccepts(name)).toBe(true);
  });

  it.each(BAD)('refuses %j, as git does', async (name) => {
    expect(branchNameProblem(name)).toBeDefined();
    expect(await gitAccepts(name)).toBe(false);
  });

  it.each(STRICTER)('refuses %j, which git would take', async (name) => {
    expect(branchNameProblem(name)).toBeDefined();
    expect(await gitAccepts(name)).toBe(true);
  });

  it('says what is wrong and the fix, showing control characters escaped', () => {
    expect(() => checkBranchName('a\u202eb', 'branch', 'pass another')).toThrow(
      'branch "a\\u202eb" holds a control or format character: pass another',
    );
    expect(() => checkBranchName('x.lock', 'remote.branch', 'e.g. main')).toThrow(
      `remote.branch "x.lock" has a part ending with '.lock': e.g. main`,
    );
    expect(() => checkBranchName('main', 'branch', 'unused')).not.toThrow();
  });
});
