// Case twins never reach the committed tree (issue 14, item 7): drafts of two workspaces are each
// fine in their own view, but the second to commit its spelling is refused before anything is
// pushed; a remote tree that holds twins is imported with one spelling, the other reported as
// skipped. Real Postgres, real bare repositories behind the git smart-HTTP server on loopback,
// a real MCP client.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { branches, commitToBare, createBareRepo, readTree } from './support/git-repos.js';
import { startGitServer, type GitServer } from './support/git-server.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';

const TOKEN = 'tok-twins-3c81f7';
let root: string;
let server: GitServer;
let h: Harness;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-twins-'));
  server = await startGitServer({ root, token: TOKEN });
  h = await createHarness({
    principal: 'ada',
    git: { token: TOKEN, githubApiUrl: `${server.url}/api/v3`, allowedProtocols: ['http'] },
  });
});
afterAll(async () => {
  await h.close();
  await server.close();
  await rm(root, { recursive: true, force: true });
});

const task = (id: number) => ({ id: String(id), title: `Task ${id}` });

async function importRepo(name: string, files: Record<string, string>) {
  const repo = await createBareRepo(root, `team/${name}`, files);
  const created = await h.ok('create_project', { name, remote: { url: repo.url(server), branch: 'main' } });
  return { repo, created };
}

const committedPaths = async (project: string) =>
  (
    await h.db.sql.query<{ path: string }>(
      `SELECT f.path FROM files f JOIN projects p ON p.id = f.project_id WHERE p.name = $1 ORDER BY f.path`,
      [project],
    )
  ).map((r) => r.path);

const historyRows = (project: string) =>
  h.db.sql.query<{ workspace: string; status: string }>(
    `SELECT c.workspace, c.status FROM commits c JOIN projects p ON p.id = c.project_id
     WHERE p.name = $1 ORDER BY c.id`,
    [project],
  );

describe('commit_task of a case twin of a committed path', () => {
  it('refuses the second spelling to commit, naming both, before anything is pushed', async () => {
    const { repo } = await importRepo('twin-commit', { 'app.txt': 'app\n' });
    const bob = await h.connect('bob');
    await h.ok('write_files', {
      project: 'twin-commit',
      files: [
        { path: 'README.md', content: '# by ada\n' },
        { path: 'Dir/a.txt', content: 'a\n' },
      ],
    });
    await h.ok(
      'write_files',
      {
        project: 'twin-commit',
        files: [
          { path: 'Readme.md', content: '# by bob\n' },
          { path: 'dir/b.txt', content: 'b\n' },
        ],
      },
      bob,
    );
    const first = await h.ok('commit_task', { project: 'twin-commit', task: task(1) });
    expect(first).toMatchObject({ status: 'pushed', branch: 'main' });
    const remoteBefore = await branches(repo.dir);

    const refused = await h.fail('commit_task', { project: 'twin-commit', task: task(2) }, bob);
    expect(refused).toMatch(
      /^conflict: 'Readme\.md' differs only in case from 'README\.md', which the committed tree has/,
    );
    expect(refused).toMatch(/macOS or Windows/);
    expect(refused).toMatch(/nothing was committed: .*discard_changes/);
    // The remote is as ada left it, no side branch; bob's drafts are all still there.
    expect(await branches(repo.dir)).toEqual(remoteBefore);
    expect([...(await readTree(repo.dir)).keys()].sort()).toEqual(['Dir/a.txt', 'README.md', 'app.txt']);
    expect(await committedPaths('twin-commit')).toEqual(['Dir/a.txt', 'README.md', 'app.txt']);
    expect(await historyRows('twin-commit')).toEqual([{ workspace: 'ada', status: 'pushed' }]);
    const bobs = (await h.ok('list_changes', { project: 'twin-commit' }, bob)).changes;
    expect(bobs.map((c: { path: string; state: string }) => [c.path, c.state])).toEqual([
      ['Readme.md', 'added'],
      ['dir/b.txt', 'added'],
    ]);

    // Each spelling is refused on its own, the directory naming the committed one.
    expect(
      await h.fail('commit_task', { project: 'twin-commit', task: task(2), paths: ['dir/b.txt'] }, bob),
    ).toMatch(
      /^conflict: 'dir\/b\.txt' is in a directory that differs only in case from 'Dir\/'.*'Dir\/b\.txt'/,
    );
    expect(
      await h.fail('commit_task', { project: 'twin-commit', task: task(2), paths: ['Readme.md'] }, bob),
    ).toMatch(/^conflict: 'Readme\.md' differs only in case from 'README\.md'/);
    expect(await branches(repo.dir)).toEqual(remoteBefore);

    // The fix the message names: write to the committed spelling and discard the other.
    await h.ok('write_file', { project: 'twin-commit', path: 'README.md', content: '# by bob\n' }, bob);
    await h.ok('discard_changes', { project: 'twin-commit', paths: ['Readme.md'] }, bob);
    await h.ok('move_file', { project: 'twin-commit', from: 'dir/b.txt', to: 'Dir/b.txt' }, bob);
    expect(await h.ok('commit_task', { project: 'twin-commit', task: task(2) }, bob)).toMatchObject({
      status: 'pushed',
    });
    expect([...(await readTree(repo.dir)).keys()].sort()).toEqual([
      'Dir/a.txt',
      'Dir/b.txt',
      'README.md',
      'app.txt',
    ]);
  });

  it('refuses it on a project without a remote, and lets a commit that renames only the case through', async () => {
    await h.ok('create_project', { name: 'twin-local' });
    const bob = await h.connect('bob');
    await h.ok('write_file', { project: 'twin-local', path: 'Notes.md', content: 'ada\n' });
    await h.ok('write_file', { project: 'twin-local', path: 'notes.md', content: 'bob\n' }, bob);
    await h.ok('commit_task', { project: 'twin-local', task: task(1) });
    const before = await snapshot(h.db);
    expect(await h.fail('commit_task', { project: 'twin-local', task: task(2) }, bob)).toMatch(
      /^conflict: 'notes\.md' differs only in case from 'Notes\.md'/,
    );
    expect(await snapshot(h.db)).toEqual(before);

    // Deleting one spelling and writing the other in one commit is a rename, not a twin.
    await h.ok('discard_changes', { project: 'twin-local' }, bob);
    await h.ok('move_file', { project: 'twin-local', from: 'Notes.md', to: 'NOTES.md' }, bob);
    await h.ok('commit_task', { project: 'twin-local', task: task(3) }, bob);
    expect(await committedPaths('twin-local')).toEqual(['NOTES.md']);
  });

  it('refuses the later of two racing commits of twin spellings as it is applied', async () => {
    // Through the domain, as two sessions at once: both may pass the check before either has
    // applied; the one applied second meets the first under the project lock.
    await h.ok('create_project', { name: 'twin-race' });
    const write = (principal: string, path: string) =>
      h.stowage.workspace.write('twin-race', { principal }, [{ path, content: Buffer.from(principal) }]);
    await write('ada', 'race/Plan.md');
    await write('bob', 'race/plan.md');
    const commit = (principal: string) =>
      h.stowage.commits.commitTask('twin-race', { principal }, { task: task(principal === 'ada' ? 1 : 2) });
    const settled = await Promise.allSettled([commit('ada'), commit('bob')]);
    expect(settled.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')!;
    expect(String(refused.reason)).toMatch(/differs only in case from 'race\/(Plan|plan)\.md'/);
    expect(await committedPaths('twin-race')).toHaveLength(1);
    expect(await historyRows('twin-race')).toHaveLength(1);
  });
});

describe('a remote tree that holds case twins', () => {
  it('is imported with one spelling of each name; the others are reported as skipped', async () => {
    const { created } = await importRepo('twin-import', {
      'README.md': 'upper\n',
      'Readme.md': 'mixed\n',
      'docs/a.md': 'a\n',
      'Docs/b.md': 'b\n',
      'src/index.ts': 'main();\n',
    });
    // The first in path order stays ('R' 'E' before 'R' 'e', 'D' before 'd').
    expect(created.import.skipped).toEqual([
      { path: 'Readme.md', reason: 'case_twin' },
      { path: 'docs/a.md', reason: 'case_twin' },
    ]);
    expect(await committedPaths('twin-import')).toEqual(['Docs/b.md', 'README.md', 'src/index.ts']);
    expect((await h.ok('read_file', { project: 'twin-import', path: 'README.md' })).content).toBe('upper\n');
  });

  it('keeps the spelling the committed tree has when a sync brings another, until the remote renames it', async () => {
    const { repo } = await importRepo('twin-sync', { 'notes.txt': 'n\n', 'lib/x.ts': 'x\n' });
    await commitToBare(repo.dir, { 'NOTES.txt': 'N\n', 'LIB/y.ts': 'y\n', 'other.txt': 'o\n' });
    const s = await h.ok('sync_project', { project: 'twin-sync' });
    // 'NOTES.txt' sorts before 'notes.txt', but the committed spelling stays.
    expect(s).toMatchObject({
      updated: ['other.txt'],
      removed: [],
      skipped: [
        { path: 'LIB/y.ts', reason: 'case_twin' },
        { path: 'NOTES.txt', reason: 'case_twin' },
      ],
    });
    expect(await committedPaths('twin-sync')).toEqual(['lib/x.ts', 'notes.txt', 'other.txt']);

    // The remote renames its old spelling away: the other one comes in, in the same sync.
    await commitToBare(repo.dir, { 'notes.txt': null });
    const renamed = await h.ok('sync_project', { project: 'twin-sync' });
    expect(renamed).toMatchObject({ updated: ['NOTES.txt'], removed: ['notes.txt'] });
    expect(renamed.skipped).toEqual([{ path: 'LIB/y.ts', reason: 'case_twin' }]);
    expect(await committedPaths('twin-sync')).toEqual(['NOTES.txt', 'lib/x.ts', 'other.txt']);
  });
});
