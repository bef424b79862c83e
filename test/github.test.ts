// The GitHub adapter (Octokit) against a stand-in of GitHub's REST API: GitHub itself is
// unreachable from here. The stand-in keeps real bare repositories, which the tests inspect with git.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StowageError } from '../src/errors.js';
import { createGitHub, parseRepository, type GitHub } from '../src/git/github.js';
import type { CommitRequest, FileChange, GitRemote } from '../src/git/types.js';
import { startGitHubStandIn, type GitHubStandIn } from './support/github-standin.js';

const TOKEN = 'ghp_StandInToken0123456789abcdefABCDEF';
const WRONG_TOKEN = 'ghp_WrongToken0123456789abcdefABCDEFGH';

let root: string;
let gh: GitHubStandIn;
let github: GitHub;
let remote: GitRemote;
/** Every error the adapter threw in this file, checked for the token at the end. */
const seen: StowageError[] = [];

/** The StowageError `work` rejects with (failing the test if it resolves). */
async function failure(work: Promise<unknown>): Promise<StowageError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StowageError);
  seen.push(err as StowageError);
  return err as StowageError;
}

let serial = 0;
/** A fresh repository of the token's user, created through the adapter; its URL and head. */
async function freshRepo(): Promise<{ name: string; url: string; head: string }> {
  const name = `repo-${++serial}`;
  const url = gh.remoteUrl('octocat', name);
  await github.ensureRepository(url, { private: true });
  return { name, url, head: await gh.git('octocat', name, ['rev-parse', 'main']) };
}

const commit = (url: string, changes: FileChange[], extra: Partial<CommitRequest> = {}): CommitRequest => ({
  remote: { url, branch: 'main' },
  branch: 'main',
  conflictBranch: 'stowage/task-1',
  changes,
  message: 'Agent work\n\nDetails of the change.',
  author: { name: 'Ada Agent', email: 'ada@example.com' },
  ...extra,
});
/** A text change; `base` as FileChange has it (undefined: not checked). */
const text = (path: string, content: string, mode?: number, base?: string | null): FileChange => ({
  path,
  content: Buffer.from(content),
  mode,
  base,
});
const blobAt = (name: string, object: string) => gh.git('octocat', name, ['rev-parse', object]);

/** The requests the stand-in received while `work` ran. */
async function requestsDuring<T>(work: () => Promise<T>) {
  const start = gh.requests().length;
  const result = await work();
  return {
    result,
    requests: gh
      .requests()
      .slice(start)
      .map((r) => `${r.method} ${r.url}`),
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-github-'));
  gh = await startGitHubStandIn({ root, token: TOKEN, login: 'octocat', orgs: ['acme'] });
  github = createGitHub({ token: TOKEN, baseUrl: gh.baseUrl });
  // The clone adapter is not under test; snapshots only have to reach it.
  const viaClone: GitRemote = {
    snapshot: (ref) => Promise.resolve({ head: `snapshot of ${ref.branch} by clone`, entries: [] }),
    commitAndPush: () => Promise.reject(new Error('the API remote must not commit through the clone')),
    holds: () => Promise.reject(new Error('the API remote must not ask the clone what the branch holds')),
    log: () => Promise.resolve([]),
  };
  remote = github.apiRemote(viaClone);
});
afterEach(() => {
  gh.rateLimit('none');
  gh.beforeRefUpdate(undefined);
});
afterAll(async () => {
  await gh.close();
  await rm(root, { recursive: true, force: true });
});

describe('repository identity', () => {
  it('takes owner and repo from github.com and other http(s) URLs', () => {
    expect(parseRepository('https://github.com/octocat/hello')).toEqual({ owner: 'octocat', repo: 'hello' });
    expect(parseRepository('https://github.com/octocat/hello.git')).toEqual({
      owner: 'octocat',
      repo: 'hello',
    });
    expect(parseRepository('http://127.0.0.1:8080/git/acme/tools.git')).toEqual({
      owner: 'acme',
      repo: 'tools',
    });
    expect(parseRepository('https://ghe.example.com/acme/tools/')).toEqual({ owner: 'acme', repo: 'tools' });
  });

  it('refuses anything else, naming the expected form and never echoing credentials', () => {
    for (const url of [
      'git@github.com:octocat/hello.git',
      'https://github.com/octocat',
      'https://github.com/octocat/hello/tree/main',
      'ftp://example.com/acme/tools',
      'https://example.com/acme/..',
      'not a url',
    ]) {
      const err = (() => {
        try {
          parseRepository(url);
        } catch (e) {
          return e as StowageError;
        }
        throw new Error(`accepted ${url}`);
      })();
      expect(err.code, url).toBe('invalid_input');
      expect(err.message).toContain('https://github.com/<owner>/<repo>');
    }
    expect(() => parseRepository(`https://x-access-token:${TOKEN}@github.com/octocat/hello.git`)).toThrow(
      /carries credentials: remove them/,
    );
    try {
      parseRepository(`https://x-access-token:${TOKEN}@github.com/octocat/hello.git`);
    } catch (e) {
      expect((e as Error).message).not.toContain(TOKEN);
    }
  });
});

describe('ensureRepository', () => {
  it("creates a missing repository of the token's user once, with a default branch", async () => {
    const url = gh.remoteUrl('octocat', 'created-once');
    const first = await requestsDuring(() =>
      github.ensureRepository(url, { private: true, description: 'd' }),
    );
    expect(first.result).toBe(true);
    expect(first.requests).toEqual(['GET /repos/octocat/created-once', 'GET /user', 'POST /user/repos']);
    expect(await gh.git('octocat', 'created-once', ['ls-tree', '--name-only', 'main'])).toBe('README.md');

    const second = await requestsDuring(() => github.ensureRepository(url, { private: true }));
    expect(second.result).toBe(false);
    expect(second.requests).toEqual(['GET /repos/octocat/created-once']);
  });

  it("creates one in an organisation through the organisation's endpoint", async () => {
    const url = gh.remoteUrl('acme', 'tools');
    const first = await requestsDuring(() => github.ensureRepository(url, { private: false }));
    expect(first.result).toBe(true);
    expect(first.requests).toContain('POST /orgs/acme/repos');
    expect(await gh.git('acme', 'tools', ['rev-parse', '--abbrev-ref', 'HEAD'])).toBe('main');
    expect(await github.ensureRepository(url, { private: false })).toBe(false);
  });

  it('reports an organisation the token cannot see as not_found', async () => {
    const err = await failure(github.ensureRepository(gh.remoteUrl('ghost', 'tools'), { private: true }));
    expect(err.code).toBe('not_found');
    expect(err.message).toMatch(/^GitHub has no organization ghost, or the token cannot see it: check/);
  });
});

describe('commitAndPush through the Git Data API', () => {
  it('lands one commit with text, binary, deletion, executable and nested paths on the head', async () => {
    const { name, url, head } = await freshRepo();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x00]);
    const latin1 = Buffer.from('caf\xe9\n', 'latin1'); // not UTF-8, no NUL
    const changes: FileChange[] = [
      text('notes.md', 'line one\r\nline two\n'),
      text('bin/run.sh', '#!/bin/sh\necho hi\n', 0o100755),
      text('src/lib/deep/util.ts', 'export const x = 1;\n'),
      { path: 'assets/logo.png', content: png, base: null },
      { path: 'latin1.txt', content: latin1 },
      text('has-nul.txt', 'a\0b'),
      text('empty.txt', ''),
      { path: 'README.md', base: await blobAt(name, 'main:README.md') },
    ];

    const { result, requests } = await requestsDuring(() =>
      remote.commitAndPush(commit(url, changes, { expectedHead: head })),
    );

    expect(result).toEqual({
      status: 'pushed',
      sha: expect.stringMatching(/^[0-9a-f]{40}$/),
      branch: 'main',
      parent: head,
      rebased: false,
      changes,
      empty: false,
    });
    expect(await gh.git('octocat', name, ['rev-parse', 'main', 'main^'])).toBe(`${result.sha}\n${head}`);
    expect(await gh.git('octocat', name, ['log', '-1', '--format=%an <%ae>|%B', 'main'])).toBe(
      'Ada Agent <ada@example.com>|Agent work\n\nDetails of the change.',
    );
    const tree = await gh.git('octocat', name, ['ls-tree', '-r', '--format=%(objectmode) %(path)', 'main']);
    expect(tree.split('\n').sort()).toEqual([
      '100644 assets/logo.png',
      '100644 empty.txt',
      '100644 has-nul.txt',
      '100644 latin1.txt',
      '100644 notes.md',
      '100644 src/lib/deep/util.ts',
      '100755 bin/run.sh',
    ]);
    for (const change of changes.filter((c) => c.content)) {
      expect(
        (await gh.show('octocat', name, `main:${change.path}`)).equals(change.content!),
        change.path,
      ).toBe(true);
    }
    // Only content that is not clean UTF-8 goes up as a blob; text rides inline in the tree.
    expect(requests.filter((r) => r.endsWith('/git/blobs'))).toHaveLength(3);
    expect(requests.at(-1)).toBe(`PATCH /repos/octocat/${name}/git/refs/heads%2Fmain`);
  });

  it('takes snapshots through the remote it was given', async () => {
    const snap = await remote.snapshot(
      { url: gh.remoteUrl('octocat', 'x'), branch: 'main' },
      {
        want: () => false,
        onBlob: () => Promise.resolve(),
      },
    );
    expect(snap.head).toBe('snapshot of main by clone');
  });

  it('builds on a head that moved before the call when it left the changed paths as based', async () => {
    const { name, url, head } = await freshRepo();
    const readme = await blobAt(name, 'main:README.md');
    const theirs = await gh.commit('octocat', name, 'main', { 'theirs.txt': 'theirs\n' });

    const outcome = await remote.commitAndPush(
      commit(
        url,
        [text('README.md', '# ours\n', undefined, readme), text('ours.txt', 'ours\n', undefined, null)],
        {
          expectedHead: head,
        },
      ),
    );

    expect(outcome).toEqual({
      status: 'pushed',
      sha: expect.any(String),
      branch: 'main',
      parent: theirs,
      rebased: true,
      changes: expect.any(Array),
      empty: false,
    });
    expect(await gh.git('octocat', name, ['ls-tree', '--name-only', 'main'])).toBe(
      'README.md\nours.txt\ntheirs.txt',
    );
    expect((await gh.show('octocat', name, 'main:README.md')).toString()).toBe('# ours\n');
  });

  it('rebuilds on the new head when the branch moves between its API calls', async () => {
    const { name, url, head } = await freshRepo();
    let theirs: string | undefined;
    gh.beforeRefUpdate(async () => {
      theirs ??= await gh.commit('octocat', name, 'main', { 'theirs.txt': 'theirs\n' });
    });

    const outcome = await remote.commitAndPush(
      commit(url, [text('ours.txt', 'ours\n', undefined, null)], { expectedHead: head }),
    );

    expect(outcome).toEqual({
      status: 'pushed',
      sha: expect.any(String),
      branch: 'main',
      parent: theirs,
      rebased: true,
      changes: expect.any(Array),
      empty: false,
    });
    expect(await gh.git('octocat', name, ['rev-list', 'main'])).toBe([outcome.sha, theirs, head].join('\n'));
    expect(await gh.git('octocat', name, ['ls-tree', '--name-only', 'main'])).toBe(
      'README.md\nours.txt\ntheirs.txt',
    );
  });

  it('diverges onto the conflict branch, built on the head, when the head contradicts a base', async () => {
    const { name, url } = await freshRepo();
    await gh.commit('octocat', name, 'main', { 'notes.md': 'v1\n', 'loose.txt': 'v1\n' });
    const v1 = await blobAt(name, 'main:notes.md');
    // Someone else changes notes.md, adds new.txt and changes loose.txt, which we change without a base.
    const theirs = await gh.commit('octocat', name, 'main', {
      'notes.md': 'theirs\n',
      'new.txt': 'theirs\n',
      'loose.txt': 'theirs\n',
    });
    const changes = [
      text('notes.md', 'ours\n', undefined, v1),
      text('new.txt', 'ours\n', undefined, null),
      text('loose.txt', 'ours\n'),
      text('more.md', 'more\n', undefined, null),
    ];

    const { result: outcome, requests } = await requestsDuring(() =>
      remote.commitAndPush(commit(url, changes, { conflictBranch: 'stowage/task-7' })),
    );

    expect(outcome).toEqual({
      status: 'diverged',
      sha: expect.stringMatching(/^[0-9a-f]{40}$/),
      branch: 'stowage/task-7',
      parent: theirs,
      conflicts: ['notes.md', 'new.txt'],
    });
    expect(await gh.git('octocat', name, ['rev-parse', 'stowage/task-7', 'stowage/task-7^'])).toBe(
      `${outcome.sha}\n${theirs}`,
    );
    expect((await gh.show('octocat', name, 'stowage/task-7:notes.md')).toString()).toBe('ours\n');
    expect((await gh.show('octocat', name, 'stowage/task-7:more.md')).toString()).toBe('more\n');
    expect(await gh.git('octocat', name, ['rev-parse', 'main'])).toBe(theirs);
    expect(requests.filter((r) => r.startsWith('PATCH'))).toEqual([]);
  });

  it('diverges when the branch moves onto a based path between its API calls', async () => {
    const { name, url } = await freshRepo();
    const readme = await blobAt(name, 'main:README.md');
    let theirs: string | undefined;
    gh.beforeRefUpdate(async () => {
      theirs ??= await gh.commit('octocat', name, 'main', { 'README.md': '# theirs\n' });
    });

    const outcome = await remote.commitAndPush(
      commit(url, [text('README.md', '# ours\n', undefined, readme)]),
    );

    expect(outcome).toMatchObject({
      status: 'diverged',
      branch: 'stowage/task-1',
      parent: theirs,
      conflicts: ['README.md'],
    });
    expect(await gh.git('octocat', name, ['rev-parse', 'main'])).toBe(theirs);
    expect((await gh.show('octocat', name, 'stowage/task-1:README.md')).toString()).toBe('# ours\n');
  });

  it('says whether the branch holds a commit: its head, an ancestor, or neither', async () => {
    const { name, url, head } = await freshRepo();
    const next = await gh.commit('octocat', name, 'main', { 'next.txt': 'n\n' });
    await gh.git('octocat', name, ['update-ref', 'refs/heads/side', head]);
    const aside = await gh.commit('octocat', name, 'side', { 'aside.txt': 'a\n' });
    const ref = { url, branch: 'main' };
    expect(await remote.holds(ref, next)).toBe(true);
    expect(await remote.holds(ref, head)).toBe(true);
    expect(await remote.holds(ref, aside)).toBe(false);
    expect(await remote.holds(ref, 'f'.repeat(40))).toBe(false);
  });

  it('drops the deletion of a path the head no longer has, which GitHub would refuse', async () => {
    const { name, url } = await freshRepo();
    await gh.commit('octocat', name, 'main', { 'gone.txt': 'x\n' });
    await gh.commit('octocat', name, 'main', { 'gone.txt': null });

    const outcome = await remote.commitAndPush(commit(url, [{ path: 'gone.txt' }, text('kept.txt', 'k\n')]));

    expect(outcome.status).toBe('pushed');
    expect(await gh.git('octocat', name, ['ls-tree', '--name-only', 'main'])).toBe('README.md\nkept.txt');
  });

  it('moves an existing conflict branch forward, or uses a fresh name beside it; never rewrites one', async () => {
    const { name, url, head } = await freshRepo();
    const readme = await blobAt(name, 'main:README.md');
    await gh.commit('octocat', name, 'main', { 'README.md': '# theirs\n' });
    await gh.git('octocat', name, ['update-ref', 'refs/heads/stowage/ahead', head]);
    await gh.git('octocat', name, ['update-ref', 'refs/heads/stowage/apart', head]);
    const apart = await gh.commit('octocat', name, 'stowage/apart', { 'apart.txt': 'x\n' });
    const change = [text('README.md', '# ours\n', undefined, readme)];

    const ahead = await remote.commitAndPush(commit(url, change, { conflictBranch: 'stowage/ahead' }));
    expect(ahead).toMatchObject({ status: 'diverged', branch: 'stowage/ahead' });
    expect(await gh.git('octocat', name, ['rev-parse', 'stowage/ahead'])).toBe(ahead.sha);

    const beside = await remote.commitAndPush(commit(url, change, { conflictBranch: 'stowage/apart' }));
    expect(beside).toMatchObject({ status: 'diverged', branch: `stowage/apart-${beside.sha.slice(0, 7)}` });
    expect(await gh.git('octocat', name, ['rev-parse', 'stowage/apart', beside.branch])).toBe(
      `${apart}\n${beside.sha}`,
    );
  });

  it('gives up with a conflict after bounded rebuilds when the branch keeps moving', async () => {
    const { name, url } = await freshRepo();
    let moves = 0;
    gh.beforeRefUpdate(async () => {
      await gh.commit('octocat', name, 'main', { [`theirs-${++moves}.txt`]: 'x\n' });
    });

    const err = await failure(remote.commitAndPush(commit(url, [text('ours.txt', 'ours\n')])));

    expect(err.code).toBe('conflict');
    expect(err.message).toMatch(
      /^Branch main of octocat\/repo-\d+ moved 4 times while committing: retry later$/,
    );
    expect(moves).toBe(4);
    expect(await gh.git('octocat', name, ['ls-tree', '--name-only', 'main'])).not.toContain('ours.txt');
  });
});

describe('openPullRequest', () => {
  it('opens one and reports a duplicate as already_exists', async () => {
    const { name, url, head } = await freshRepo();
    await gh.git('octocat', name, ['update-ref', 'refs/heads/feature', head]);
    await gh.commit('octocat', name, 'feature', { 'feature.txt': 'f\n' });
    const pr = { head: 'feature', base: 'main', title: 'Feature', body: 'Please merge' };

    expect(await github.openPullRequest(url, pr)).toEqual({
      number: 1,
      url: `${gh.baseUrl}/octocat/${name}/pull/1`,
      head: 'feature',
      base: 'main',
    });
    const err = await failure(github.openPullRequest(url, pr));
    expect(err.code).toBe('already_exists');
    expect(err.message).toMatch(/already open on octocat\/repo-\d+: push to feature to update it/);
  });
});

describe('errors', () => {
  it('turns a rejected token into forbidden, naming GITHUB_TOKEN', async () => {
    const wrong = createGitHub({ token: WRONG_TOKEN, baseUrl: gh.baseUrl });
    const err = await failure(wrong.ensureRepository(gh.remoteUrl('octocat', 'x'), { private: true }));
    expect(err.code).toBe('forbidden');
    expect(err.message).toBe('GitHub rejected the token: check GITHUB_TOKEN');
    expect(err.message).not.toContain(WRONG_TOKEN);
  });

  it.each([
    ['primary', 403, 120], // the stand-in's reset is two minutes ahead
    ['secondary', 429, 60],
  ] as const)('turns a %s rate limit (HTTP %i) into a retriable unavailable', async (mode, _status, wait) => {
    const { url } = await freshRepo();
    gh.rateLimit(mode);
    const err = await failure(remote.commitAndPush(commit(url, [text('a.txt', 'a\n')])));
    expect(err.code).toBe('unavailable');
    const seconds = err.details?.retryAfterSeconds as number;
    expect(seconds).toBeGreaterThanOrEqual(wait - 2);
    expect(seconds).toBeLessThanOrEqual(wait + 1);
    expect(err.message).toMatch(
      new RegExp(
        `^GitHub rate limit reached; retry after \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(in ${seconds} s\\)$`,
      ),
    );
  });

  it('names the permission GitHub says is missing', async () => {
    const { url } = await freshRepo();
    gh.failNext(
      403,
      { message: 'Resource not accessible by personal access token' },
      {
        'x-accepted-github-permissions': 'contents=write',
      },
    );
    const err = await failure(remote.commitAndPush(commit(url, [text('a.txt', 'a\n')])));
    expect(err.code).toBe('forbidden');
    expect(err.message).toMatch(
      /^GitHub refused to read branch main of octocat\/repo-\d+ \(Resource not accessible/,
    );
    expect(err.message).toMatch(/: the token needs contents=write$/);
  });

  it('reports server errors and an unreachable host as unavailable', async () => {
    const { url } = await freshRepo();
    gh.failNext(502, 'Bad Gateway');
    expect((await failure(remote.commitAndPush(commit(url, [text('a.txt', 'a\n')])))).message).toMatch(
      /^GitHub failed to read branch main of .* \(HTTP 502\): retry later$/,
    );
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const nowhere = createGitHub({ token: TOKEN, baseUrl: `http://127.0.0.1:${port}` });
    const err = await failure(nowhere.ensureRepository(url, { private: true }));
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(
      new RegExp(`^Could not reach GitHub at 127\\.0\\.0\\.1:${port} to read repository .*ECONNREFUSED`),
    );
  });

  it('removes the token from anything GitHub says back', async () => {
    const { url } = await freshRepo();
    gh.failNext(422, { message: `Invalid request: token ${TOKEN} is odd` });
    const err = await failure(remote.commitAndPush(commit(url, [text('a.txt', 'a\n')])));
    expect(err.code).toBe('invalid_input');
    expect(err.message).toContain('token [token] is odd');
  });
});

describe('cancellation and time limits', () => {
  it('stops before the first request when the signal is already aborted', async () => {
    const { url } = await freshRepo();
    const { result: err, requests } = await requestsDuring(() =>
      failure(remote.commitAndPush(commit(url, [text('a.txt', 'a\n')], { signal: AbortSignal.abort() }))),
    );
    expect(err.code).toBe('unavailable');
    expect(err.details).toEqual({ cancelled: true });
    expect(err.message).toMatch(/^Cancelled while waiting for GitHub to read branch main/);
    expect(requests).toEqual([]);
  });

  it('stops a call in flight and sends nothing after the abort', async () => {
    const { name, url } = await freshRepo();
    const controller = new AbortController();
    gh.beforeRefUpdate(async () => {
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    const { result: err, requests } = await requestsDuring(() =>
      failure(remote.commitAndPush(commit(url, [text('a.txt', 'a\n')], { signal: controller.signal }))),
    );
    expect(err.details).toEqual({ cancelled: true });
    expect(err.message).toMatch(/^Cancelled while waiting for GitHub to update branch main of/);
    expect(requests.at(-1)).toBe(`PATCH /repos/octocat/${name}/git/refs/heads%2Fmain`);
  });

  it('gives up on a request that outlasts request.timeout', async () => {
    const { url } = await freshRepo();
    const impatient = createGitHub({ token: TOKEN, baseUrl: gh.baseUrl, request: { timeout: 200 } });
    gh.beforeRefUpdate(() => new Promise((resolve) => setTimeout(resolve, 1000)));
    const err = await failure(impatient.apiRemote(remote).commitAndPush(commit(url, [text('a.txt', 'a\n')])));
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(
      /^GitHub did not update branch main of octocat\/repo-\d+ within 0\.2 s: retry later$/,
    );
  });
});

describe('the token', () => {
  it('appears in no error and in no URL, only in the Authorization header', () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const err of seen) {
      expect(`${err.message} ${JSON.stringify(err.details ?? {})}`).not.toContain(TOKEN);
      expect(err.message).not.toContain(WRONG_TOKEN);
    }
    const requests = gh.requests();
    expect(requests.length).toBeGreaterThan(50);
    for (const { url, headers } of requests) {
      expect(url).not.toContain(TOKEN);
      expect(headers.authorization).toMatch(new RegExp(`^token (${TOKEN}|${WRONG_TOKEN})$`));
      const others = Object.entries(headers).filter(([key]) => key !== 'authorization');
      expect(JSON.stringify(others)).not.toContain(TOKEN);
    }
  });
});
