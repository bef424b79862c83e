// update_project: what create_project set, changed through the real MCP client: each field read
// back, null clearing, refusals that change nothing, and a remote attached, re-pointed and
// detached after creation working with sync_project and commit_task against real bare
// repositories behind a real git smart-HTTP server on loopback; tokens' rights over HTTP.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { existsSync } from 'node:fs';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningHttp } from '../src/http/app.js';
import { createGitHarness, type GitHarness } from './support/git-harness.js';
import { commitToBare, createBareRepo, log, readTree } from './support/git-repos.js';
import type { GitServer } from './support/git-server.js';
import { snapshot, type Harness } from './support/harness.js';
import { callTool, connectHttp, serveHttp, textOf } from './support/http.js';

const TOKEN = 'tok-5d1e8b2c94a7f360';
let git: GitHarness;
let root: string;
let server: GitServer;
let h: Harness;

beforeAll(async () => {
  git = await createGitHarness('update', TOKEN);
  ({ root, server, h } = git);
});
afterAll(() => git.close());

const task = (id: number, title = 'Change it') => ({ id, title });
const text = (b: Buffer | undefined) => b?.toString('utf8');
const paths = async (project: string) =>
  (await h.ok<{ entries: { path: string }[] }>('list_files', { project })).entries.map((e) => e.path);

describe('update_project', () => {
  beforeAll(async () => {
    await h.ok('create_project', {
      name: 'docs',
      description: 'Old words',
      tags: ['draft'],
      metadata: { team: 'core' },
      quota_bytes: 10_000,
    });
  });

  it('changes each field, as get_project and list_projects read it back', async () => {
    const before = await h.ok('get_project', { project: 'docs' });
    const updated = await h.ok('update_project', {
      project: 'docs',
      description: 'Handbook for the team',
      tags: ['handbook', 'team'],
      metadata: { owner: 'ada', pages: 12 },
    });
    expect(updated).toMatchObject({
      name: 'docs',
      description: 'Handbook for the team',
      tags: ['handbook', 'team'],
      metadata: { owner: 'ada', pages: '12' },
      quota_bytes: 10_000,
      remote: null,
      version: before.version + 1,
    });
    expect(updated).not.toHaveProperty('id');
    const { stats: _stats, facts: _facts, ...read } = await h.ok('get_project', { project: 'docs' });
    expect(read).toEqual(updated);
    const byTag = await h.ok('list_projects', { tag: 'handbook' });
    expect(byTag.projects.map((p: { name: string }) => p.name)).toEqual(['docs']);
    expect((await h.ok('list_projects', { tag: 'draft' })).projects).toEqual([]);
    const { bytes: _bytes, ...listed } = (await h.ok('list_projects', { query: 'handbook for' })).projects[0];
    expect(listed).toEqual(updated);

    expect(await h.ok('update_project', { project: 'docs', quota_bytes: 5000 })).toMatchObject({
      quota_bytes: 5000,
      description: 'Handbook for the team',
    });
  });

  it('clears with null (and an empty list or object)', async () => {
    const cleared = await h.ok('update_project', {
      project: 'docs',
      description: null,
      quota_bytes: null,
      tags: [],
      metadata: {},
    });
    expect(cleared).toMatchObject({ description: null, quota_bytes: null, tags: [], metadata: {} });
    expect(await h.ok('get_project', { project: 'docs' })).toMatchObject({
      description: null,
      quota_bytes: null,
      tags: [],
      metadata: {},
    });
  });

  it('records one change: the version moves by one and a project.update event is logged', async () => {
    const { version } = await h.ok('get_project', { project: 'docs' });
    const result = await h.call('update_project', { project: 'docs', tags: ['kept'] });
    expect((result.content[0] as { text: string }).text).toMatch(
      /^updated project docs: tags \(version \d+\)/,
    );
    expect((result.structuredContent as { version: number }).version).toBe(version + 1);
    const events = await h.db.sql.query<{
      version: number;
      kind: string;
      principal: string;
      detail: unknown;
    }>(
      `SELECT e.version, e.kind, e.principal, e.detail FROM events e JOIN projects p ON p.id = e.project_id
       WHERE p.name = 'docs' ORDER BY e.id DESC LIMIT 1`,
    );
    expect(events).toEqual([
      { version: version + 1, kind: 'project.update', principal: 'ada', detail: { changed: ['tags'] } },
    ]);
  });

  it('refuses bad input naming the fix, changing nothing', async () => {
    await h.ok('write_file', { project: 'docs', path: 'guide.md', content: 'g'.repeat(400) });
    await h.ok('commit_task', { project: 'docs', task: task(1, 'Guide') });
    // A workspace's view holds more than the committed tree: that is what a quota bounds.
    await h.ok('write_file', { project: 'docs', path: 'draft.md', content: 'd'.repeat(300) });
    const before = await snapshot(h.db);
    const project = await h.ok('get_project', { project: 'docs' });
    const refusals: [Record<string, unknown>, RegExp][] = [
      [
        {},
        /^invalid_input: nothing to change: pass one or more of description, tags, metadata, quota_bytes, remote/,
      ],
      [{ descripton: 'x' }, /^invalid_input: unknown argument descripton: did you mean description\?/],
      [{ name: 'renamed' }, /^invalid_input: unknown argument name: the arguments are project, description/],
      [
        { remote: { url: 'http://127.0.0.1:9/a/b.git', branh: 'x' } },
        /unknown argument remote\.branh: did you mean branch\?/,
      ],
      [{ remote: { url: 'http://127.0.0.1:9/a/b.git', create: true } }, /unknown argument remote\.create/],
      [{ quota_bytes: 0 }, /^invalid_input: argument quota_bytes: a positive number of bytes/],
      [{ quota_bytes: 1.5 }, /^invalid_input: argument quota_bytes: .*expected int/],
      [
        { quota_bytes: 2 ** 40 },
        /^invalid_input: quota_bytes 1099511627776 is over the server's project limit of \d+/,
      ],
      [
        { quota_bytes: 600 },
        /^invalid_input: quota_bytes 600 is under what project 'docs' holds \(700 bytes\): pass at least 700, or delete files or discard changes first/,
      ],
      [
        { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
        /argument tags: at most 32 tags of 1-64 characters/,
      ],
      [{ tags: [''] }, /argument tags: at most 32 tags of 1-64 characters/],
      [{ description: 'x'.repeat(2001) }, /argument description: .*2000/],
      [{ metadata: { big: 'x'.repeat(1001) } }, /argument metadata\.big: .*1000/],
      [{ remote: { url: `http://x:${TOKEN}@127.0.0.1:1/acme/x.git` } }, /must not carry credentials/],
      [{ remote: { url: 'ftp://example.com/x.git' } }, /protocol 'ftp' is not allowed/],
      [{ remote: { url: 'http://127.0.0.1:9/a/b.git', branch: '-x' } }, /^invalid_input: .*branch/],
    ];
    for (const [args, expected] of refusals) {
      const refused = await h.fail('update_project', { project: 'docs', ...args });
      expect(refused, JSON.stringify(args).slice(0, 80)).toMatch(expected);
      expect(refused).not.toContain(TOKEN);
    }
    expect(await h.fail('update_project', { project: 'nope', tags: [] })).toMatch(
      /^not_found: project 'nope' not found/,
    );
    const { stats: _s, ...same } = await h.ok('get_project', { project: 'docs' });
    const { stats: _t, ...was } = project;
    expect(same).toEqual(was);
    expect(await snapshot(h.db)).toEqual(before);
    // At what the largest view holds, it is taken.
    expect(await h.ok('update_project', { project: 'docs', quota_bytes: 700 })).toMatchObject({
      quota_bytes: 700,
    });
  });

  it('refuses jobs and archived projects, saying what to do instead', async () => {
    const { job } = await h.ok('create_job', { name: 'site' });
    expect(await h.fail('update_project', { project: job, description: 'x' })).toMatch(
      /^invalid_input: '.*' is a job, not a project: change its plan with update_job/,
    );
    await h.ok('create_project', { name: 'shelved' });
    await h.ok('archive_project', { project: 'shelved' });
    expect(await h.fail('update_project', { project: 'shelved', tags: ['x'] })).toMatch(
      /^conflict: project 'shelved' is archived and cannot be changed: restore it first/,
    );
  });

  it('is a write: listed neither in read-only mode nor to a token without the write scope', async () => {
    const reader = await h.connect('reader', { readOnly: true });
    expect((await reader.listTools()).tools.map((t) => t.name)).not.toContain('update_project');
    expect(await h.fail('update_project', { project: 'docs', tags: [] }, reader)).toMatch(
      /^forbidden: update_project changes data and this server is read-only/,
    );
  });
});

describe('a remote attached after creation', () => {
  let repo: Awaited<ReturnType<typeof createBareRepo>>;

  beforeAll(async () => {
    repo = await createBareRepo(root, 'acme/later', { 'README.md': '# remote\n', 'src/app.ts': 'app\n' });
    await h.ok('create_project', { name: 'later' });
    await h.ok('write_files', {
      project: 'later',
      files: [
        { path: 'README.md', content: '# local\n' },
        { path: 'notes.md', content: 'only here\n' },
      ],
    });
    expect(await h.ok('commit_task', { project: 'later', task: task(1, 'Start') })).toMatchObject({
      status: 'local',
    });
  });

  it('imports nothing until sync_project, which keeps the files only Stowage had', async () => {
    const attached = await h.call('update_project', { project: 'later', remote: { url: repo.url(server) } });
    expect(attached.structuredContent).toMatchObject({
      remote: { url: repo.url(server), branch: 'main' },
      head_sha: null,
    });
    expect((attached.content[0] as { text: string }).text).toMatch(/sync_project brings its files in/);
    expect(await paths('later')).toEqual(['README.md', 'notes.md']);

    const synced = await h.ok('sync_project', { project: 'later' });
    expect(synced).toMatchObject({
      head: repo.head,
      updated: ['src/app.ts'],
      removed: [],
      kept_local: ['README.md'],
    });
    expect(await paths('later')).toEqual(['README.md', 'notes.md', 'src/app.ts']);
    expect((await h.ok('read_file', { project: 'later', path: 'README.md' })).content).toBe('# local\n');
    expect(await h.ok('get_project', { project: 'later' })).toMatchObject({ head_sha: repo.head });
  });

  it('commit_task then pushes to it', async () => {
    await h.ok('write_file', { project: 'later', path: 'src/new.ts', content: 'new\n' });
    const commit = await h.ok('commit_task', { project: 'later', task: task(2, 'Add new') });
    expect(commit).toMatchObject({ status: 'pushed', branch: 'main' });
    const [pushed] = await log(repo.dir);
    expect(pushed).toMatchObject({ sha: commit.sha, subject: 'Task #2: Add new', parents: [repo.head] });
    const tree = await readTree(repo.dir);
    expect([...tree.keys()].sort()).toEqual(['README.md', 'src/app.ts', 'src/new.ts']);
    expect(text(tree.get('src/new.ts')?.content)).toBe('new\n');
  });

  it('follows a changed branch: sync_project brings it, commit_task pushes to it', async () => {
    const dev = await commitToBare(repo.dir, { 'dev.txt': 'dev\n' }, { branch: 'dev' });
    const moved = await h.ok('update_project', {
      project: 'later',
      remote: { url: repo.url(server), branch: 'dev' },
    });
    expect(moved).toMatchObject({ remote: { branch: 'dev' }, head_sha: null });
    // Without branch, the attached remote's is kept.
    expect(
      await h.ok('update_project', { project: 'later', remote: { url: repo.url(server) } }),
    ).toMatchObject({ remote: { branch: 'dev' } });

    const synced = await h.ok('sync_project', { project: 'later' });
    // What came from main goes (main still has it); what only Stowage had stays.
    expect(synced).toMatchObject({ head: dev, updated: ['dev.txt'], removed: ['src/app.ts', 'src/new.ts'] });
    expect(await paths('later')).toEqual(['README.md', 'dev.txt', 'notes.md']);

    const mainHead = (await log(repo.dir))[0]!.sha;
    await h.ok('write_file', { project: 'later', path: 'dev.txt', content: 'dev, edited\n' });
    expect(await h.ok('commit_task', { project: 'later', task: task(3, 'Edit dev') })).toMatchObject({
      status: 'pushed',
      branch: 'dev',
    });
    expect(text((await readTree(repo.dir, 'dev')).get('dev.txt')?.content)).toBe('dev, edited\n');
    expect((await log(repo.dir))[0]!.sha).toBe(mainHead);
  });

  it('is not changed while a commit is being pushed', async () => {
    await h.ok('write_file', { project: 'later', path: 'held.txt', content: 'held\n' });
    const hook = await holdPushes(repo.dir);
    const committing = h.call('commit_task', { project: 'later', task: task(4, 'Held') });
    try {
      await expect.poll(hook.reached, { timeout: 30_000 }).toBe(true);
      expect(await h.fail('update_project', { project: 'later', remote: null })).toMatch(
        /^conflict: a commit of 'later' is being pushed to its remote: call update_project again once commit_task has finished/,
      );
      // Fields other than the remote are free to change meanwhile.
      await h.ok('update_project', { project: 'later', tags: ['busy'] });
    } finally {
      await hook.release();
    }
    expect((await committing).structuredContent).toMatchObject({ status: 'pushed', branch: 'dev' });
  });

  it('detached, commit_task commits locally and pushes nothing', async () => {
    const devHead = (await log(repo.dir, 'dev'))[0]!.sha;
    expect(await h.ok('update_project', { project: 'later', remote: null })).toMatchObject({
      remote: null,
      head_sha: null,
    });
    await h.ok('write_file', { project: 'later', path: 'after.txt', content: 'after\n' });
    expect(await h.ok('commit_task', { project: 'later', task: task(5, 'After') })).toMatchObject({
      status: 'local',
    });
    expect((await log(repo.dir, 'dev'))[0]!.sha).toBe(devHead);
    expect(await h.fail('sync_project', { project: 'later' })).toMatch(/has no remote to sync from/);
    expect(await paths('later')).toEqual(['README.md', 'after.txt', 'dev.txt', 'held.txt', 'notes.md']);
  });
});

/** A pre-receive hook of `repoDir` holding every push until released (60 s at most). */
async function holdPushes(repoDir: string) {
  const mark = join(root, `held-${Date.now()}`);
  const hook = join(repoDir, 'hooks', 'pre-receive');
  const script = [
    '#!/bin/sh',
    'cat > /dev/null',
    `touch '${mark}'`,
    `for _ in $(seq 600); do [ -f '${mark}.go' ] && exit 0; sleep 0.1; done`,
    'exit 1',
  ];
  await writeFile(hook, `${script.join('\n')}\n`);
  await chmod(hook, 0o755);
  return {
    reached: () => existsSync(mark),
    release: async () => {
      await writeFile(`${mark}.go`, '');
      await rm(hook, { force: true });
    },
  };
}

describe('over HTTP, with tokens', () => {
  let http: RunningHttp;
  const clients: Client[] = [];
  const remote = 'http://127.0.0.1:9/acme/taken.git';

  beforeAll(async () => {
    http = await serveHttp(h.stowage, { auth: h.stowage.tokens });
    await h.ok('create_project', { name: 'owned', remote: { url: remote }, import: false });
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await http.close();
  });

  async function as(projects: string[], more: { scopes?: string[]; remotes?: string[] } = {}) {
    const { token } = await h.stowage.tokens.create({
      principal: 'team-bot',
      scopes: more.scopes ?? ['read', 'write'],
      projects,
      remotes: more.remotes,
    });
    const { client } = await connectHttp(http.url, token);
    clients.push(client);
    return async (args: Record<string, unknown>) => {
      const result = await callTool(client, 'update_project', args);
      return { ok: !result.isError, text: textOf(result), project: result.structuredContent };
    };
  }

  it('attaches only remotes the token may, never one attached to a project it cannot see', async () => {
    await h.ok('create_project', { name: 'team-app' });
    const update = await as(['team-*'], { remotes: ['http://127.0.0.1:9/acme/*'] });
    const outside = await update({ project: 'team-app', remote: { url: 'http://127.0.0.1:9/evil/x.git' } });
    expect(outside.text).toMatch(
      /^forbidden: remote .* outside this token's remotes \(http:\/\/127.0.0.1:9\/acme\/\*\)/,
    );
    const taken = await update({ project: 'team-app', remote: { url: remote, branch: 'main' } });
    expect(taken.text).toMatch(/^forbidden: remote .* is attached to a project you cannot access/);
    expect(taken.text).not.toContain('owned');
    expect(await h.ok('get_project', { project: 'team-app' })).toMatchObject({ remote: null });

    const attached = await update({
      project: 'team-app',
      remote: { url: 'http://127.0.0.1:9/acme/app.git' },
    });
    expect(attached).toMatchObject({ ok: true, project: { remote: { branch: 'main' } } });
    // Another branch of the taken repository is free.
    expect((await update({ project: 'team-app', remote: { url: remote, branch: 'team' } })).ok).toBe(true);

    const none = await as(['team-*']);
    expect(
      (await none({ project: 'team-app', remote: { url: 'http://127.0.0.1:9/acme/other.git' } })).text,
    ).toMatch(/^forbidden: remote .* this token may attach no remote/);
    // Detaching needs no remote pattern; other fields neither.
    expect((await none({ project: 'team-app', remote: null, tags: ['solo'] })).project).toMatchObject({
      remote: null,
      tags: ['solo'],
    });
  });

  it('changes only projects in the token patterns, and needs the write scope', async () => {
    const update = await as(['team-*']);
    expect((await update({ project: 'docs', tags: ['x'] })).text).toMatch(
      /^forbidden: project 'docs' is outside this token's projects/,
    );
    const reader = await as(['team-*'], { scopes: ['read'] });
    expect((await reader({ project: 'team-app', tags: ['x'] })).text).toMatch(
      /^forbidden: update_project needs the 'write' scope/,
    );
    expect(await h.ok('get_project', { project: 'team-app' })).toMatchObject({ tags: ['solo'] });
  });
});
