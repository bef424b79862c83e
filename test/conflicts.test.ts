// Draft base and conflicts, end to end through a real MCP client, real Postgres and real bare
// repositories behind the git smart-HTTP server on loopback: sync and commit merge a teammate's
// change into the agent's draft and never push over it; a change of the same lines is a
// conflict the agent reads both sides of and resolves with one write.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { branches, commitToBare, createBareRepo, log, readTree } from './support/git-repos.js';
import { startGitServer, type GitServer } from './support/git-server.js';
import { createHarness, type Harness } from './support/harness.js';

const TOKEN = 'tok-conflicts-5be1c0';
let root: string;
let server: GitServer;
let h: Harness;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-conflicts-'));
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

const ORIGINAL = 'line 1\nline 2\nline 3\nline 4\n';
const MINE = 'line 1\nline 2\nline 3, by the agent\nline 4\n';
const THEIRS = 'line 1, by a teammate\nline 2\nline 3\nline 4\n';
const BOTH = 'line 1, by a teammate\nline 2\nline 3, by the agent\nline 4\n';
const task = (id: number, title = 'Edit line 3') => ({ id, title });

async function importRepo(name: string, files: Record<string, string>) {
  const repo = await createBareRepo(root, `team/${name}`, files);
  await h.ok('create_project', { name, remote: { url: repo.url(server), branch: 'main' } });
  return repo;
}

const remoteText = async (dir: string, path: string, ref = 'main') =>
  (await readTree(dir, ref)).get(path)?.content.toString('utf8');

describe('a teammate changed another line of the file the agent drafted', () => {
  it('commit_task merges it in: the remote file holds both lines', async () => {
    const repo = await importRepo('merge-at-push', { 'app.txt': ORIGINAL });
    await h.ok('write_file', { project: 'merge-at-push', path: 'app.txt', content: MINE });
    const theirs = await commitToBare(repo.dir, { 'app.txt': THEIRS });

    const c = await h.ok('commit_task', { project: 'merge-at-push', task: task(1) });
    expect(c).toMatchObject({ status: 'pushed', branch: 'main', rebased: true });
    expect(await remoteText(repo.dir, 'app.txt')).toBe(BOTH);
    expect((await log(repo.dir))[0]).toMatchObject({ sha: c.sha, parents: [theirs] });
    expect(Object.keys(await branches(repo.dir))).toEqual(['main']);
    // The committed tree holds what was pushed, and nothing is left to commit.
    expect((await h.ok('read_file', { project: 'merge-at-push', path: 'app.txt' })).content).toBe(BOTH);
    expect((await h.ok('list_changes', { project: 'merge-at-push' })).changes).toEqual([]);
    expect(await h.ok('sync_project', { project: 'merge-at-push' })).toMatchObject({
      head: c.sha,
      updated: [],
      merged: [],
      conflicts: [],
    });
  });

  it('sync_project merges it into the draft, and the next commit_task pushes both lines', async () => {
    const repo = await importRepo('merge-at-sync', { 'app.txt': ORIGINAL, 'other.txt': 'o\n' });
    await h.ok('write_file', { project: 'merge-at-sync', path: 'app.txt', content: MINE });
    const theirs = await commitToBare(repo.dir, { 'app.txt': THEIRS, 'other.txt': 'O\n' });

    const s = await h.ok('sync_project', { project: 'merge-at-sync' });
    expect(s).toMatchObject({
      head: theirs,
      updated: ['app.txt', 'other.txt'],
      merged: [{ path: 'app.txt', workspaces: ['ada'] }],
      conflicts: [],
    });
    const read = await h.ok('read_file', { project: 'merge-at-sync', path: 'app.txt' });
    expect(read).toMatchObject({ content: BOTH, state: 'modified' });
    // The draft is now based on their version: its diff is the agent's line alone.
    const [change] = (await h.ok('list_changes', { project: 'merge-at-sync', diff: true })).changes;
    expect(change.diff).toContain('-line 3\n+line 3, by the agent\n');
    expect(change.diff).not.toContain('teammate\n-');
    expect(change.theirs_diff).toBeUndefined();

    const c = await h.ok('commit_task', { project: 'merge-at-sync', task: task(2) });
    expect(c).toMatchObject({ status: 'pushed', branch: 'main', rebased: false });
    expect(await remoteText(repo.dir, 'app.txt')).toBe(BOTH);
    expect(await remoteText(repo.dir, 'other.txt')).toBe('O\n');
    expect((await log(repo.dir))[0]).toMatchObject({ sha: c.sha, parents: [theirs] });
  });
});

describe('a teammate changed the same line', () => {
  it('is a conflict the agent sees, reads both sides of, cannot commit, and resolves with one write', async () => {
    const repo = await importRepo('same-line', { 'app.txt': ORIGINAL, 'notes.txt': 'n\n' });
    const mine = 'line 1, by the agent\nline 2\nline 3\nline 4\n';
    await h.ok('write_files', {
      project: 'same-line',
      files: [
        { path: 'app.txt', content: mine },
        { path: 'notes.txt', content: 'N\n' },
      ],
    });
    const theirs = await commitToBare(repo.dir, { 'app.txt': THEIRS });

    // The commit goes to the side branch, with the overlap between conflict markers; main keeps
    // the teammate's version.
    const c = await h.ok('commit_task', { project: 'same-line', task: task(3, 'Edit line 1') });
    expect(c).toMatchObject({ status: 'diverged', branch: 'stowage/task-3', conflicts: ['app.txt'] });
    expect((await log(repo.dir))[0]!.sha).toBe(theirs);
    expect(await remoteText(repo.dir, 'app.txt')).toBe(THEIRS);
    expect(await remoteText(repo.dir, 'app.txt', 'stowage/task-3')).toBe(
      '<<<<<<< ours\nline 1, by the agent\n||||||| base\nline 1\n=======\nline 1, by a teammate\n>>>>>>> theirs\n' +
        'line 2\nline 3\nline 4\n',
    );
    expect(await remoteText(repo.dir, 'notes.txt', 'stowage/task-3')).toBe('N\n');
    expect((await log(repo.dir, 'stowage/task-3'))[0]!.parents).toEqual([theirs]);

    // The sync marks it: every view shows the conflict, the draft is as the agent left it.
    const s = await h.ok('sync_project', { project: 'same-line' });
    expect(s).toMatchObject({ conflicts: [{ path: 'app.txt', workspaces: ['ada'] }], merged: [] });
    const { entries } = await h.ok('list_files', { project: 'same-line' });
    expect(entries.find((e: { path: string }) => e.path === 'app.txt')).toMatchObject({ state: 'conflict' });
    const ours = await h.call('read_file', { project: 'same-line', path: 'app.txt' });
    expect(ours.structuredContent).toMatchObject({ content: mine, state: 'conflict' });
    expect((ours.content[0] as { text: string }).text).toMatch(/side 'theirs'/);
    expect(await h.ok('read_file', { project: 'same-line', path: 'app.txt', side: 'theirs' })).toMatchObject({
      content: THEIRS,
      state: 'conflict',
    });
    expect((await h.ok('read_file', { project: 'same-line', path: 'app.txt', side: 'base' })).content).toBe(
      ORIGINAL,
    );
    const changes = (await h.ok('list_changes', { project: 'same-line', diff: true })).changes;
    const app = changes.find((x: { path: string }) => x.path === 'app.txt');
    expect(app.state).toBe('conflict');
    expect(app.diff).toContain('-line 1\n+line 1, by the agent\n');
    expect(app.theirs_diff).toContain('-line 1\n+line 1, by a teammate\n');

    // commit_task refuses, naming the path and the fix, and changes nothing anywhere.
    const before = await branches(repo.dir);
    const refused = await h.fail('commit_task', { project: 'same-line', task: task(4, 'Edit line 1') });
    expect(refused).toMatch(/^conflict: nothing was committed: app\.txt is in conflict/);
    expect(refused).toMatch(/read_file with side: 'theirs'.*write_file or edit_file.*discard_changes/);
    expect(await branches(repo.dir)).toEqual(before);
    expect(await remoteText(repo.dir, 'app.txt')).toBe(THEIRS);

    // One write resolves it; then the commit lands on main on top of the teammate's commit.
    const resolved = 'line 1, by the agent and a teammate\nline 2\nline 3\nline 4\n';
    const written = await h.ok('write_file', { project: 'same-line', path: 'app.txt', content: resolved });
    expect(written).toMatchObject({ state: 'modified', changed: true });
    const after = (await h.ok('list_changes', { project: 'same-line' })).changes;
    expect(after.map((x: { path: string; state: string }) => [x.path, x.state])).toEqual([
      ['app.txt', 'modified'],
      ['notes.txt', 'modified'],
    ]);
    const done = await h.ok('commit_task', { project: 'same-line', task: task(4, 'Edit line 1') });
    expect(done).toMatchObject({ status: 'pushed', branch: 'main' });
    expect(await remoteText(repo.dir, 'app.txt')).toBe(resolved);
    expect(await remoteText(repo.dir, 'notes.txt')).toBe('N\n');
    expect((await log(repo.dir))[0]).toMatchObject({ sha: done.sha, parents: [theirs] });
  });

  it("a write of the draft as it is resolves it too (keeping the agent's version), and discard takes theirs", async () => {
    const repo = await importRepo('keep-mine', { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
    await h.ok('write_files', {
      project: 'keep-mine',
      files: [
        { path: 'a.txt', content: 'mine a\n' },
        { path: 'b.txt', content: 'mine b\n' },
        { path: 'c.txt', content: 'mine c\n' },
      ],
    });
    await commitToBare(repo.dir, { 'a.txt': 'their a\n', 'b.txt': 'their b\n', 'c.txt': 'their c\n' });
    await h.ok('sync_project', { project: 'keep-mine' });
    // An edit of the draft resolves it too: the edited draft replaces theirs.
    const edited = await h.ok('edit_file', {
      project: 'keep-mine',
      path: 'c.txt',
      edits: [{ old_text: 'mine c', new_text: 'mine c, edited' }],
    });
    expect(edited).toMatchObject({ written: true });
    expect(await h.ok('read_file', { project: 'keep-mine', path: 'c.txt' })).toMatchObject({
      content: 'mine c, edited\n',
      state: 'modified',
    });
    expect(
      await h.ok('write_file', { project: 'keep-mine', path: 'a.txt', content: 'mine a\n' }),
    ).toMatchObject({ state: 'modified', changed: true });
    expect(await h.ok('discard_changes', { project: 'keep-mine', paths: ['b.txt'] })).toMatchObject({
      discarded: [{ path: 'b.txt' }],
    });
    expect((await h.ok('read_file', { project: 'keep-mine', path: 'b.txt' })).content).toBe('their b\n');
    expect(await h.ok('commit_task', { project: 'keep-mine', task: task(5) })).toMatchObject({
      status: 'pushed',
    });
    expect(await remoteText(repo.dir, 'a.txt')).toBe('mine a\n');
    expect(await remoteText(repo.dir, 'b.txt')).toBe('their b\n');
    expect(await remoteText(repo.dir, 'c.txt')).toBe('mine c, edited\n');
  });

  it('a deletion against a change, and two different additions, are conflicts too', async () => {
    const repo = await importRepo('kinds', { 'gone.txt': 'g\n' });
    await h.ok('delete_file', { project: 'kinds', path: 'gone.txt' });
    await h.ok('write_file', { project: 'kinds', path: 'new.txt', content: 'my new\n' });
    await commitToBare(repo.dir, { 'gone.txt': 'G, changed\n', 'new.txt': 'their new\n' });
    const c = await h.ok('commit_task', { project: 'kinds', task: task(6) });
    expect(c).toMatchObject({ status: 'diverged', conflicts: ['gone.txt', 'new.txt'] });
    expect(await remoteText(repo.dir, 'gone.txt')).toBe('G, changed\n');
    const s = await h.ok('sync_project', { project: 'kinds' });
    expect(s.conflicts.map((x: { path: string }) => x.path)).toEqual(['gone.txt', 'new.txt']);
    expect(await h.fail('read_file', { project: 'kinds', path: 'gone.txt' })).toMatch(
      /you deleted it, and the committed version changed meanwhile \(conflict\): read side 'theirs'/,
    );
    expect((await h.ok('read_file', { project: 'kinds', path: 'gone.txt', side: 'theirs' })).content).toBe(
      'G, changed\n',
    );
    expect(await h.fail('read_file', { project: 'kinds', path: 'new.txt', side: 'base' })).toMatch(
      /did not exist at the base of your changes/,
    );
  });
});

describe('another workspace commits under a draft', () => {
  it('rebases the draft: another line merges in, the same line is a conflict', async () => {
    await h.ok('create_project', { name: 'shared-desk' });
    await h.ok('write_files', {
      project: 'shared-desk',
      files: [
        { path: 'app.txt', content: ORIGINAL },
        { path: 'cfg.txt', content: 'x = 1\n' },
      ],
    });
    await h.ok('commit_task', { project: 'shared-desk', task: task(7, 'Start') });
    await h.ok('write_files', {
      project: 'shared-desk',
      workspace: 'agent-1',
      files: [
        { path: 'app.txt', content: MINE },
        { path: 'cfg.txt', content: 'x = 2\n' },
      ],
    });
    await h.ok('write_files', {
      project: 'shared-desk',
      workspace: 'agent-2',
      files: [
        { path: 'app.txt', content: THEIRS },
        { path: 'cfg.txt', content: 'x = 3\n' },
      ],
    });
    await h.ok('commit_task', { project: 'shared-desk', workspace: 'agent-2', task: task(8, 'Theirs') });

    const read = (path: string) => h.ok('read_file', { project: 'shared-desk', path, workspace: 'agent-1' });
    expect(await read('app.txt')).toMatchObject({ content: BOTH, state: 'modified' });
    expect(await read('cfg.txt')).toMatchObject({ content: 'x = 2\n', state: 'conflict' });
    expect(
      await h.fail('commit_task', { project: 'shared-desk', workspace: 'agent-1', task: task(9) }),
    ).toMatch(/^conflict: nothing was committed: cfg\.txt is in conflict/);
    // The merged file commits without reverting agent-2's line.
    await h.ok('commit_task', {
      project: 'shared-desk',
      workspace: 'agent-1',
      task: task(9),
      paths: ['app.txt'],
    });
    expect((await h.ok('read_file', { project: 'shared-desk', path: 'app.txt' })).content).toBe(BOTH);
    expect((await h.ok('read_file', { project: 'shared-desk', path: 'cfg.txt' })).content).toBe('x = 3\n');
  });
});
