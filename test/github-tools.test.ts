// GitHub through the tools: repository creation, the API push strategy and pull requests,
// against the Git Data API stand-in (GitHub is unreachable from here) whose bare repositories
// the loopback smart-HTTP server serves too, so import and sync still go through real git.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitToBare, log, readTree } from './support/git-repos.js';
import { startGitServer, type GitServer } from './support/git-server.js';
import { startGitHubStandIn, type GitHubStandIn } from './support/github-standin.js';
import { createHarness, type Harness } from './support/harness.js';

const TOKEN = 'ghp_standin_5c1e7d0a9b';
let root: string;
let gitServer: GitServer;
let github: GitHubStandIn;
let h: Harness;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-github-'));
  gitServer = await startGitServer({ root, token: TOKEN });
  github = await startGitHubStandIn({ root, token: TOKEN, login: 'ada' });
  h = await createHarness({
    principal: 'ada',
    git: {
      token: TOKEN,
      githubApiUrl: github.baseUrl,
      // The stand-in's git lives on a port of its own: its token comes from GIT_CREDENTIALS.
      credentials: [{ url: gitServer.url, token: TOKEN }],
      allowedProtocols: ['http'],
      pushStrategy: 'api',
    },
  });
});
afterAll(async () => {
  await h.close();
  await github.close();
  await gitServer.close();
  await rm(root, { recursive: true, force: true });
});

const url = (repo: string) => gitServer.repoUrl(`ada/${repo}`);
const text = (b: Buffer | undefined) => b?.toString('utf8');

describe('with GitHub (API push strategy)', () => {
  it('creates a missing repository once and imports it', async () => {
    const created = await h.ok('create_project', {
      name: 'gh-app',
      remote: { url: url('app'), create: true },
    });
    expect(created).toMatchObject({ repository_created: true, remote: { branch: 'main' } });
    expect(created.import.updated).toEqual(['README.md']);
    const again = await h.ok('create_project', {
      name: 'gh-app-2',
      remote: { url: url('app'), create: true },
    });
    expect(again.repository_created).toBe(false);
  });

  it('commits through the Git Data API: one tree, one commit, a fast-forward ref update', async () => {
    const before = gitServer.requests().length;
    await h.ok('write_files', {
      project: 'gh-app',
      files: [
        { path: 'src/app.ts', content: 'export const app = 1;\n' },
        { path: 'logo.bin', content: Buffer.from([0, 1, 255]).toString('base64'), encoding: 'base64' },
      ],
    });
    const c = await h.ok('commit_task', { project: 'gh-app', task: { id: 12, title: 'Start the app' } });
    expect(c).toMatchObject({ status: 'pushed', branch: 'main', rebased: false });
    const dir = join(root, 'ada', 'app.git');
    const tree = await readTree(dir);
    expect(text(tree.get('src/app.ts')?.content)).toBe('export const app = 1;\n');
    expect(tree.get('logo.bin')!.content.equals(Buffer.from([0, 1, 255]))).toBe(true);
    expect((await log(dir))[0]).toMatchObject({ sha: c.sha, subject: 'Task #12: Start the app' });
    const api = github.requests().map((r) => `${r.method} ${decodeURIComponent(r.url.split('?')[0]!)}`);
    expect(api).toContain('POST /repos/ada/app/git/trees');
    expect(api).toContain('PATCH /repos/ada/app/git/refs/heads/main');
    // No git push went over the smart-HTTP server.
    expect(
      gitServer
        .requests()
        .slice(before)
        .some((r) => r.url.includes('git-receive-pack')),
    ).toBe(false);
  });

  it("merges a teammate's change of another line of the same file, reading only that blob", async () => {
    await h.ok('create_project', { name: 'gh-merge', remote: { url: url('merge'), create: true } });
    const lines = (a: string, c: string) => `${a}\nline 2\n${c}\nline 4\n`;
    await h.ok('write_file', { project: 'gh-merge', path: 'lines.txt', content: lines('line 1', 'line 3') });
    await h.ok('commit_task', { project: 'gh-merge', task: { id: 20, title: 'Lines' } });
    const dir = join(root, 'ada', 'merge.git');
    const theirs = await commitToBare(dir, { 'lines.txt': lines('line 1, theirs', 'line 3') });
    await h.ok('write_file', {
      project: 'gh-merge',
      path: 'lines.txt',
      content: lines('line 1', 'line 3, mine'),
    });
    const before = github.requests().length;
    const c = await h.ok('commit_task', { project: 'gh-merge', task: { id: 21, title: 'Edit line 3' } });
    expect(c).toMatchObject({ status: 'pushed', branch: 'main', rebased: true });
    expect(text((await readTree(dir)).get('lines.txt')?.content)).toBe(
      lines('line 1, theirs', 'line 3, mine'),
    );
    expect((await log(dir))[0]).toMatchObject({ sha: c.sha, parents: [theirs] });
    const reads = github
      .requests()
      .slice(before)
      .filter((r) => r.method === 'GET' && r.url.includes('/git/blobs/'));
    expect(reads).toHaveLength(1);
  });

  it('puts a conflicting commit on a branch and opens a pull request from it', async () => {
    const dir = join(root, 'ada', 'app.git');
    await commitToBare(dir, { 'src/app.ts': 'export const app = 2;\n' });
    await h.ok('write_file', { project: 'gh-app', path: 'src/app.ts', content: 'export const app = 3;\n' });
    const c = await h.ok('commit_task', { project: 'gh-app', task: { id: 13, title: 'Bump app' } });
    expect(c).toMatchObject({ status: 'diverged', branch: 'stowage/task-13', conflicts: ['src/app.ts'] });
    expect(text((await readTree(dir, 'stowage/task-13')).get('src/app.ts')?.content)).toBe(
      '<<<<<<< ours\nexport const app = 3;\n||||||| base\nexport const app = 1;\n=======\n' +
        'export const app = 2;\n>>>>>>> theirs\n',
    );

    const pr = await h.ok('open_pull_request', {
      project: 'gh-app',
      head: 'stowage/task-13',
      title: 'Bump app',
    });
    expect(pr).toMatchObject({ head: 'stowage/task-13', base: 'main' });
    expect(pr.number).toBeGreaterThan(0);
    expect(
      await h.fail('open_pull_request', { project: 'gh-app', head: 'stowage/task-13', title: 'Again' }),
    ).toMatch(/^already_exists/);
  });

  it('turns a rate limit into a retriable error and keeps the drafts', async () => {
    await h.ok('write_file', { project: 'gh-app', path: 'notes.md', content: 'n\n' });
    github.rateLimit('primary');
    try {
      const error = await h.fail('commit_task', { project: 'gh-app', task: { id: 14, title: 'Notes' } });
      expect(error).toMatch(/^unavailable: GitHub rate limit reached; retry after/);
      expect(error).not.toContain(TOKEN);
    } finally {
      github.rateLimit('none');
    }
    const { changes } = await h.ok('list_changes', { project: 'gh-app' });
    expect(changes.map((x: { path: string }) => x.path)).toContain('notes.md');
  });

  it('never sends the token anywhere but the Authorization header', () => {
    for (const r of [...github.requests(), ...gitServer.requests()]) {
      expect(r.url).not.toContain(TOKEN);
      const headers = Object.entries(r.headers).filter(([k]) => k !== 'authorization');
      expect(JSON.stringify(headers)).not.toContain(TOKEN);
    }
  });
});

describe('without a GitHub token', () => {
  it('says what to set instead of failing obscurely', async () => {
    const bare = await createHarness({ git: { token: undefined, allowedProtocols: ['http'] } });
    try {
      await bare.ok('create_project', { name: 'plain' });
      expect(
        await bare.fail('create_project', { name: 'needs-gh', remote: { url: url('other'), create: true } }),
      ).toMatch(/^unavailable: creating a repository needs GitHub access: set GITHUB_TOKEN/);
      expect(await bare.fail('open_pull_request', { project: 'plain', head: 'x', title: 't' })).toMatch(
        /^invalid_input: project 'plain' has no remote/,
      );
    } finally {
      await bare.close();
    }
  });
});
