// commit_task, import and sync against real bare repositories behind a real git smart-HTTP
// server on loopback (git http-backend checking a token).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3BlobStore } from '../src/store/blobs/blob-store-s3.js';
import { commitToBare, createBareRepo, createHostileRepo, git, log, readTree } from './support/git-repos.js';
import { startGitServer, type GitServer } from './support/git-server.js';
import { createHarness, type Harness } from './support/harness.js';
import { startS3Server } from './support/s3-server.js';
import { startS3WriteGate } from './support/s3-write-gate.js';

const TOKEN = 'tok-3f9c2a7e51d84b06';
let root: string;
let server: GitServer;
let h: Harness;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-remotes-'));
  server = await startGitServer({ root, token: TOKEN });
  // GITHUB_TOKEN reaches the loopback server as it reaches github.com: as the web host of the
  // (stand-in) API URL.
  h = await createHarness({ principal: 'ada', git: { ...asGitHub(server), allowedProtocols: ['http'] } });
});
afterAll(async () => {
  await h.close();
  await server.close();
  await rm(root, { recursive: true, force: true });
});

const task = (id: string | number, title = 'Do the thing') => ({ id, title });
/** GITHUB_TOKEN with a GITHUB_API_URL whose web host is `git`, as api.github.com's is github.com. */
const asGitHub = (git: GitServer) => ({ token: TOKEN, githubApiUrl: `${git.url}/api/v3` });
const text = (b: Buffer | undefined) => b?.toString('utf8');

async function importRepo(name: string, files: Parameters<typeof createBareRepo>[2]) {
  const repo = await createBareRepo(root, `acme/${name}`, files);
  const created = await h.ok('create_project', { name, remote: { url: repo.url(server), branch: 'main' } });
  return { repo, created };
}

describe('create_project with a remote', () => {
  it('imports the branch: content, git SHAs and the executable bit', async () => {
    const { repo, created } = await importRepo('imported', {
      'README.md': '# app\n',
      'src/index.ts': 'export {};\n',
      'bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: '100755' },
    });
    expect(created).toMatchObject({ remote: { branch: 'main' }, head_sha: repo.head });
    expect(created.import.updated).toEqual(['README.md', 'bin/run.sh', 'src/index.ts']);
    const { entries } = await h.ok('list_files', { project: 'imported' });
    expect(entries.map((e: { path: string; state: string }) => [e.path, e.state])).toEqual([
      ['README.md', 'committed'],
      ['bin/run.sh', 'committed'],
      ['src/index.ts', 'committed'],
    ]);
    const rows = await h.db.sql.query<{ path: string; git_sha: string; mode: number }>(
      `SELECT path, git_sha, mode FROM files ORDER BY path`,
    );
    const tree = await readTree(repo.dir);
    for (const row of rows.filter((r) => tree.has(r.path))) {
      expect(row.git_sha).toBe(tree.get(row.path)!.sha);
      expect(row.mode.toString(8)).toBe(tree.get(row.path)!.mode);
    }
  });

  it('refuses credentials in the URL and protocols not allowed, creating nothing', async () => {
    const withCreds = await h.fail('create_project', {
      name: 'leaky',
      remote: { url: `http://x:${TOKEN}@127.0.0.1:1/acme/x.git` },
    });
    expect(withCreds).toMatch(/must not carry credentials.*GITHUB_TOKEN/);
    expect(withCreds).not.toContain(TOKEN);
    expect(
      await h.fail('create_project', { name: 'ftp', remote: { url: 'ftp://example.com/x.git' } }),
    ).toMatch(/protocol 'ftp' is not allowed/);
    expect(await h.fail('get_project', { project: 'leaky' })).toMatch(/^not_found/);
  });

  it('makes nothing of an import whose blob store stops taking writes partway, and imports on a retry', async () => {
    // 450 files are stored 200 at a time, each batch while the next is read out of git: the
    // refused batch fails the import however far the reading has gone.
    const s3 = await startS3Server();
    const gate = await startS3WriteGate(s3.endpoint);
    const hs = await createHarness({
      principal: 'ada',
      git: { allowedProtocols: ['file'] },
      blobs: createS3BlobStore({ ...s3.config, endpoint: gate.endpoint }),
    });
    try {
      const files = Object.fromEntries(
        Array.from({ length: 450 }, (_, i) => [`src/f${i}.txt`, `file ${i}\n`]),
      );
      const repo = await createBareRepo(root, 'acme/partway', files);
      const remote = { url: `file://${repo.dir}`, branch: 'main' };
      gate.refuseWritesAfter(250);
      expect(await hs.fail('create_project', { name: 'partway', remote })).toMatch(/^unavailable/);
      expect(await hs.fail('get_project', { project: 'partway' })).toMatch(/^not_found/);
      gate.refuseWrites(false);
      const created = await hs.ok('create_project', { name: 'partway', remote });
      expect(created.import.updated).toHaveLength(450);
      for (const i of [0, 249, 449]) {
        expect(await hs.ok('read_file', { project: 'partway', path: `src/f${i}.txt` })).toMatchObject({
          content: `file ${i}\n`,
        });
      }
    } finally {
      await hs.close();
      await gate.close();
      await s3.close();
    }
  });
});

describe('commit_task', () => {
  it('without a remote makes a local commit recorded in the history', async () => {
    await h.ok('create_project', { name: 'local-only' });
    await h.ok('write_file', { project: 'local-only', path: 'a.txt', content: 'a\n' });
    const c = await h.ok('commit_task', {
      project: 'local-only',
      task: task(7, 'Add a'),
      message: 'Why: because',
    });
    expect(c).toMatchObject({ status: 'local', files: [{ path: 'a.txt', state: 'added' }] });
    const { commits } = await h.ok('project_history', { project: 'local-only' });
    expect(commits[0]).toMatchObject({ task_id: '7', status: 'local', git_sha: null, author: 'ada' });
    expect(commits[0].message).toBe('Task #7: Add a\n\nWhy: because\n');
    expect((await h.ok('list_changes', { project: 'local-only' })).changes).toEqual([]);
  });

  it('writes paths that need quoting (spaces, quotes, non-ASCII) byte for byte, and deletes them', async () => {
    const { repo } = await importRepo('quoted', { 'plain.txt': 'p\n', 'old "name".md': 'o\n' });
    const paths = ['docs/with space.md', '"leading quote".txt', 'i18n/größe ✓.json'];
    await h.ok('write_files', {
      project: 'quoted',
      files: paths.map((path) => ({ path, content: `${path}\n` })),
    });
    await h.ok('delete_file', { project: 'quoted', path: 'old "name".md' });
    expect(await h.ok('commit_task', { project: 'quoted', task: task(31, 'Odd names') })).toMatchObject({
      status: 'pushed',
    });
    const tree = await readTree(repo.dir);
    expect([...tree.keys()].sort()).toEqual([...paths, 'plain.txt'].sort());
    for (const path of paths) expect(text(tree.get(path)?.content)).toBe(`${path}\n`);
  });

  it('pushes a commit many times larger than a pipe holds, byte for byte', async () => {
    const { repo } = await importRepo('large', { 'README.md': '# large\n' });
    const big = randomBytes(3 * 1024 * 1024);
    await h.ok('write_file', {
      project: 'large',
      path: 'data/big.bin',
      content: big.toString('base64'),
      encoding: 'base64',
    });
    await h.ok('write_file', { project: 'large', path: 'after.txt', content: 'after\n' });
    expect(await h.ok('commit_task', { project: 'large', task: task(32, 'Big') })).toMatchObject({
      status: 'pushed',
    });
    const tree = await readTree(repo.dir);
    expect(tree.get('data/big.bin')!.content.equals(big)).toBe(true);
    expect(text(tree.get('after.txt')?.content)).toBe('after\n');
  });

  it('pushes one real commit with adds, edits, deletions, a rename, binary content and modes', async () => {
    const { repo } = await importRepo('pushy', {
      'README.md': '# pushy\n',
      'src/old.ts': 'old\n',
      'src/gone.ts': 'gone\n',
      'bin/run.sh': { content: '#!/bin/sh\necho 1\n', mode: '100755' },
    });
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
    await h.ok('write_files', {
      project: 'pushy',
      files: [
        { path: 'README.md', content: '# pushy\n\nNow with more.\n' },
        { path: 'src/new.ts', content: 'new\n' },
        { path: 'img/logo.png', content: png.toString('base64'), encoding: 'base64' },
        { path: 'bin/run.sh', content: '#!/bin/sh\necho 2\n' },
      ],
    });
    await h.ok('delete_file', { project: 'pushy', path: 'src/gone.ts' });
    await h.ok('move_file', { project: 'pushy', from: 'src/old.ts', to: 'src/renamed.ts' });
    const c = await h.ok('commit_task', {
      project: 'pushy',
      task: task(29, 'Add login page'),
      message: 'Body text',
    });
    expect(c).toMatchObject({ status: 'pushed', branch: 'main', rebased: false });

    const tree = await readTree(repo.dir);
    expect([...tree.keys()].sort()).toEqual([
      'README.md',
      'bin/run.sh',
      'img/logo.png',
      'src/new.ts',
      'src/renamed.ts',
    ]);
    expect(text(tree.get('README.md')?.content)).toBe('# pushy\n\nNow with more.\n');
    expect(tree.get('img/logo.png')!.content.equals(png)).toBe(true);
    expect(tree.get('bin/run.sh')).toMatchObject({ mode: '100755' });
    expect(text(tree.get('src/renamed.ts')?.content)).toBe('old\n');
    const [top] = await log(repo.dir);
    expect(top).toMatchObject({ sha: c.sha, subject: 'Task #29: Add login page', parents: [repo.head] });
    expect(top!.body.trim()).toBe('Body text');
    expect(top!.author).toEqual({ name: 'ada', email: 'ada@users.stowage.local' });

    expect((await h.ok('list_changes', { project: 'pushy' })).changes).toEqual([]);
    expect(await h.ok('get_project', { project: 'pushy' })).toMatchObject({ head_sha: c.sha });
    const { commits } = await h.ok('project_history', { project: 'pushy', task_id: 29 });
    expect(commits).toHaveLength(1);
    expect(commits[0]).toMatchObject({ status: 'pushed', git_sha: c.sha, branch: 'main' });
    // The committed tree now carries git's SHAs for what was pushed.
    const [row] = await h.db.sql.query<{ git_sha: string }>(
      `SELECT f.git_sha FROM files f JOIN projects p ON p.id = f.project_id WHERE p.name = 'pushy' AND f.path = 'README.md'`,
    );
    expect(row!.git_sha).toBe(tree.get('README.md')!.sha);
  });

  it('commits only the given paths and leaves the other drafts', async () => {
    const { repo } = await importRepo('partial', { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    await h.ok('write_files', {
      project: 'partial',
      files: [
        { path: 'a.txt', content: 'A\n' },
        { path: 'b.txt', content: 'B\n' },
      ],
    });
    await h.ok('commit_task', { project: 'partial', task: task(1), paths: ['a.txt'] });
    const tree = await readTree(repo.dir);
    expect(text(tree.get('a.txt')?.content)).toBe('A\n');
    expect(text(tree.get('b.txt')?.content)).toBe('b\n');
    const { changes } = await h.ok('list_changes', { project: 'partial' });
    expect(changes.map((c: { path: string }) => c.path)).toEqual(['b.txt']);
  });

  it('rebuilds on a moved remote when no changed path conflicts', async () => {
    const { repo } = await importRepo('moved', { 'mine.txt': 'mine\n', 'theirs.txt': 'theirs\n' });
    const theirs = await commitToBare(repo.dir, { 'theirs.txt': 'theirs, changed\n' });
    await h.ok('write_file', { project: 'moved', path: 'mine.txt', content: 'mine, changed\n' });
    const c = await h.ok('commit_task', { project: 'moved', task: task(2, 'Edit mine') });
    expect(c).toMatchObject({ status: 'pushed', branch: 'main', rebased: true });
    const tree = await readTree(repo.dir);
    expect(text(tree.get('mine.txt')?.content)).toBe('mine, changed\n');
    expect(text(tree.get('theirs.txt')?.content)).toBe('theirs, changed\n');
    expect((await log(repo.dir))[0]!.parents).toEqual([theirs]);
    // The other agent's change is not in the committed tree until a sync brings it.
    const synced = await h.ok('sync_project', { project: 'moved' });
    expect(synced.updated).toEqual(['theirs.txt']);
    expect(synced.head).toBe(c.sha);
  });

  it('takes the clone its last push left for the next commit, and still merges what the remote gained', async () => {
    const { repo } = await importRepo('reuse', { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const fetches = () =>
      server.requests().filter((r) => r.url.includes('/acme/reuse') && r.url.includes('upload-pack')).length;
    await h.ok('write_file', { project: 'reuse', path: 'a.txt', content: 'a1\n' });
    const first = await h.ok('commit_task', { project: 'reuse', task: task(1) });
    const before = fetches();
    await h.ok('write_file', { project: 'reuse', path: 'a.txt', content: 'a2\n' });
    const second = await h.ok('commit_task', { project: 'reuse', task: task(2) });
    expect(fetches()).toBe(before); // no clone: the kept one holds the first push already
    expect((await log(repo.dir))[0]).toMatchObject({ sha: second.sha, parents: [first.sha] });
    // A teammate pushes: the kept clone's push is rejected, and the commit fetches and rebuilds.
    const theirs = await commitToBare(repo.dir, { 'b.txt': 'B\n' });
    await h.ok('write_file', { project: 'reuse', path: 'a.txt', content: 'a3\n' });
    const third = await h.ok('commit_task', { project: 'reuse', task: task(3) });
    expect(third).toMatchObject({ status: 'pushed', rebased: true });
    expect((await log(repo.dir))[0]).toMatchObject({ sha: third.sha, parents: [theirs] });
    const tree = await readTree(repo.dir);
    expect([text(tree.get('a.txt')?.content), text(tree.get('b.txt')?.content)]).toEqual(['a3\n', 'B\n']);
  });

  it('fetches and rebuilds when the branch moves while it pushes', async () => {
    const { repo } = await importRepo('race', { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    // Prepare another agent's commit, then let a pre-receive hook move main to it during our push
    // (outside the push quarantine: the commit already exists), so our first push is rejected.
    const theirs = await commitToBare(repo.dir, { 'b.txt': 'B\n' });
    await git(['update-ref', 'refs/heads/main', repo.head, theirs], { cwd: repo.dir });
    const hook = join(repo.dir, 'hooks', 'pre-receive');
    await writeFile(
      hook,
      `#!/bin/sh\nif [ ! -f moved ]; then touch moved; env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main ${theirs}; fi\nexit 0\n`,
    );
    await chmod(hook, 0o755);
    await h.ok('write_file', { project: 'race', path: 'a.txt', content: 'A\n' });
    const c = await h.ok('commit_task', { project: 'race', task: task(8, 'Edit a') });
    expect(c).toMatchObject({ status: 'pushed', rebased: true });
    expect((await log(repo.dir))[0]).toMatchObject({ sha: c.sha, parents: [theirs] });
    const tree = await readTree(repo.dir);
    expect([text(tree.get('a.txt')?.content), text(tree.get('b.txt')?.content)]).toEqual(['A\n', 'B\n']);
  });

  it('pushes to stowage/task-<id> when the remote changed the same lines, keeping the drafts', async () => {
    const { repo } = await importRepo('clash', { 'shared.txt': 'base\n', 'other.txt': 'o\n' });
    const theirs = await commitToBare(repo.dir, { 'shared.txt': 'theirs\n' });
    await h.ok('write_files', {
      project: 'clash',
      files: [
        { path: 'shared.txt', content: 'mine\n' },
        { path: 'other.txt', content: 'O\n' },
      ],
    });
    const before = (await h.ok('list_changes', { project: 'clash' })).changes;
    const c = await h.ok('commit_task', { project: 'clash', task: task(31, 'Touch shared') });
    expect(c).toMatchObject({ status: 'diverged', branch: 'stowage/task-31', conflicts: ['shared.txt'] });
    expect((await log(repo.dir))[0]!.sha).toBe(theirs);
    const side = await readTree(repo.dir, 'stowage/task-31');
    // The overlap between conflict markers (base lines included), the other change as it is.
    expect(text(side.get('shared.txt')?.content)).toBe(
      '<<<<<<< ours\nmine\n||||||| base\nbase\n=======\ntheirs\n>>>>>>> theirs\n',
    );
    expect(text(side.get('other.txt')?.content)).toBe('O\n');
    // Built on the remote's head, so a pull request from the branch shows exactly our change.
    expect((await log(repo.dir, 'stowage/task-31'))[0]!.parents).toEqual([theirs]);
    expect((await h.ok('list_changes', { project: 'clash' })).changes).toEqual(before);
    const { commits } = await h.ok('project_history', { project: 'clash' });
    expect(commits[0]).toMatchObject({ status: 'diverged', branch: 'stowage/task-31', version: null });
  });

  it('keeps every draft when the push fails, and says why without the token', async () => {
    await importRepo('offline', { 'x.txt': 'x\n' });
    await h.ok('write_file', { project: 'offline', path: 'x.txt', content: 'y\n' });
    const before = (await h.ok('list_changes', { project: 'offline' })).changes;
    server.fail('error');
    try {
      const error = await h.fail('commit_task', { project: 'offline', task: task(3) });
      expect(error).toMatch(/^unavailable: the git remote is unreachable/);
      expect(error).not.toContain(TOKEN);
    } finally {
      server.fail('none');
    }
    expect((await h.ok('list_changes', { project: 'offline' })).changes).toEqual(before);
    expect((await h.ok('project_history', { project: 'offline' })).commits).toEqual([]);
  });

  it('reports a wrong token as an authentication failure', async () => {
    await importRepo('rotated', { 'x.txt': 'x\n' });
    await h.ok('write_file', { project: 'rotated', path: 'x.txt', content: 'z\n' });
    server.setToken('another-token');
    try {
      const error = await h.fail('commit_task', { project: 'rotated', task: task(4) });
      expect(error).toMatch(/^forbidden: the git remote rejected the credentials: check GITHUB_TOKEN/);
    } finally {
      server.setToken(TOKEN);
    }
  });

  it('sends progress notifications when asked, and removes every clone', async () => {
    await importRepo('progress', { 'p.txt': 'p\n' });
    await h.ok('write_file', { project: 'progress', path: 'p.txt', content: 'q\n' });
    const seen: { progress: number; message?: string }[] = [];
    const result = await h.client.callTool(
      { name: 'commit_task', arguments: { project: 'progress', task: task(5) } },
      undefined,
      { onprogress: (p) => seen.push(p) },
    );
    expect(result.isError).toBeFalsy();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toMatchObject({ message: 'pushed' });
    expect(await readdir(join(h.home, 'tmp')).then((d) => d.filter((n) => !n.startsWith('home-')))).toEqual(
      [],
    );
  });

  it('clones a file:// remote blob-less too, rather than copying every blob', async () => {
    // A file:// remote's upload-pack runs with the serving repository's config, which refuses
    // filters: without Stowage's own upload-pack, git would copy every blob with a warning.
    const hf = await createHarness({ principal: 'ada', git: { allowedProtocols: ['file'] } });
    try {
      const files = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `file ${i}\n`]));
      const repo = await createBareRepo(root, 'acme/local', files);
      await hf.ok('create_project', { name: 'local', remote: { url: `file://${repo.dir}`, branch: 'main' } });
      await hf.ok('write_file', { project: 'local', path: 'f0.txt', content: 'changed\n' });
      // Without the clone the import kept (blobs and all), the commit clones for itself.
      await rm(join(hf.home, 'git-cache'), { recursive: true, force: true });
      const c = await hf.ok('commit_task', { project: 'local', task: task(1) });
      expect(c).toMatchObject({ status: 'pushed' });
      expect(text((await readTree(repo.dir)).get('f0.txt')?.content)).toBe('changed\n');
      // The clone the push used, kept for the next commit: no blob of the tree it cloned came.
      const [kept] = await readdir(join(hf.home, 'git-cache'));
      const objects = await git(['rev-list', '--objects', '--missing=print', 'HEAD'], {
        cwd: join(hf.home, 'git-cache', kept!),
      });
      expect(objects.split('\n').filter((line) => line.startsWith('?'))).toHaveLength(20);
    } finally {
      await hf.close();
    }
  });
});

describe('quotas on a remote tree', () => {
  let hq: Harness;
  beforeAll(async () => {
    hq = await createHarness({
      principal: 'ada',
      git: { ...asGitHub(server), allowedProtocols: ['http'] },
      limits: { totalBytes: 1000 },
    });
  });
  afterAll(() => hq.close());

  it('refuses an import or sync over quota_bytes, or an import over the total, storing nothing', async () => {
    const repo = await createBareRepo(root, 'acme/quota-a', { 'a.txt': 'a'.repeat(600) });
    const url = repo.url(server);
    expect(
      await hq.fail('create_project', { name: 'tight', quota_bytes: 500, remote: { url, branch: 'main' } }),
    ).toMatch(
      /^too_large: the remote tree holds 600 bytes of files, over the project's quota_bytes of 500: pass a larger/,
    );
    // A sync is held to the project's quota_bytes.
    const small = await createBareRepo(root, 'acme/quota-c', { 'c.txt': 'c'.repeat(100) });
    await hq.ok('create_project', { name: 'capped', quota_bytes: 500, remote: { url: small.url(server) } });
    await commitToBare(small.dir, { 'more.txt': 'm'.repeat(450) });
    expect(await hq.fail('sync_project', { project: 'capped' })).toMatch(
      /^too_large: the remote tree holds 550 bytes of files, over the project's quota_bytes of 500: raise quota_bytes with update_project/,
    );
    expect(await hq.fail('read_file', { project: 'capped', path: 'more.txt' })).toMatch(/^not_found/);
    await hq.ok('delete_project', { project: 'capped' });
    await hq.ok('create_project', { name: 'first', remote: { url, branch: 'main' } });
    expect(await hq.fail('create_project', { name: 'second', remote: { url, branch: 'main' } })).toMatch(
      /^too_large: importing the remote tree of 'second' would bring all projects to 1200 bytes, over the total limit of 1000/,
    );
    const names = (await hq.ok('list_projects', {})).projects.map((p: { name: string }) => p.name);
    expect(names).toEqual(['first']);
  });

  it('refuses a sync that grows the tree over the total, keeping the tree as it was', async () => {
    const repo = await createBareRepo(root, 'acme/quota-b', { 'b.txt': 'b'.repeat(300) });
    await hq.ok('create_project', { name: 'growing', remote: { url: repo.url(server), branch: 'main' } });
    const head = (await hq.ok('get_project', { project: 'growing' })).head_sha;
    await commitToBare(repo.dir, { 'c.txt': 'c'.repeat(200) }); // 600 + 300 + 200 > 1000
    expect(await hq.fail('sync_project', { project: 'growing' })).toMatch(
      /^too_large: syncing 'growing' would bring all projects to 1100 bytes, over the total limit of 1000/,
    );
    expect(await hq.fail('read_file', { project: 'growing', path: 'c.txt' })).toMatch(/^not_found/);
    expect((await hq.ok('get_project', { project: 'growing' })).head_sha).toBe(head);
    // A sync that shrinks the tree is let through even while the total is tight.
    await commitToBare(repo.dir, { 'b.txt': null, 'c.txt': 'c'.repeat(200) });
    expect(await hq.ok('sync_project', { project: 'growing' })).toMatchObject({ removed: ['b.txt'] });
  });
});

describe('a write held to the project limit with a committed tree', () => {
  it('counts the committed files, a replaced one by its difference, after an archive and restore too', async () => {
    const hl = await createHarness({
      principal: 'ada',
      git: { ...asGitHub(server), allowedProtocols: ['http'] },
      limits: { projectBytes: 300 },
    });
    try {
      const repo = await createBareRepo(root, 'acme/held', {
        'h.txt': 'h'.repeat(150),
        'i.txt': 'i'.repeat(50),
      });
      await hl.ok('create_project', { name: 'held', remote: { url: repo.url(server), branch: 'main' } });
      const write = (path: string, n: number) => ({ project: 'held', path, content: 'x'.repeat(n) });
      await hl.ok('write_file', write('n.txt', 100)); // 300 exactly
      expect(await hl.fail('write_file', write('o.txt', 1))).toMatch(/^too_large: .*'held' to 301 bytes/);
      await hl.ok('write_file', write('h.txt', 10)); // 10 + 50 + 100
      expect(await hl.fail('write_file', write('o.txt', 141))).toMatch(/^too_large: .*'held' to 301 bytes/);
      await hl.ok('discard_changes', { project: 'held' });
      await hl.ok('archive_project', { project: 'held' });
      await hl.ok('restore_project', { project: 'held' });
      await hl.ok('write_file', write('n.txt', 100));
      expect(await hl.fail('write_file', write('o.txt', 1))).toMatch(/^too_large: .*'held' to 301 bytes/);
    } finally {
      await hl.close();
    }
  });
});

describe('sync_project', () => {
  it('brings remote changes into the committed tree and reports those that have drafts', async () => {
    const { repo } = await importRepo('synced', { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
    await h.ok('write_file', { project: 'synced', path: 'b.txt', content: 'my b\n', workspace: 'agent-2' });
    const head = await commitToBare(repo.dir, {
      'a.txt': 'A\n',
      'b.txt': 'B\n',
      'c.txt': null,
      'd.txt': 'd\n',
    });
    const s = await h.ok('sync_project', { project: 'synced' });
    expect(s).toMatchObject({ head, updated: ['a.txt', 'b.txt', 'd.txt'], removed: ['c.txt'] });
    expect(s.conflicts).toEqual([{ path: 'b.txt', workspaces: ['agent-2'] }]);
    expect((await h.ok('read_file', { project: 'synced', path: 'a.txt' })).content).toBe('A\n');
    expect(await h.fail('read_file', { project: 'synced', path: 'c.txt' })).toMatch(/^not_found/);
    // The draft is untouched, and a second sync changes nothing.
    expect(
      (await h.ok('read_file', { project: 'synced', path: 'b.txt', workspace: 'agent-2' })).content,
    ).toBe('my b\n');
    expect(await h.ok('sync_project', { project: 'synced' })).toMatchObject({ updated: [], removed: [] });
  });

  it('keeps files committed locally without a push', async () => {
    const { repo } = await importRepo('kept', { 'k.txt': 'k\n' });
    await h.ok('write_file', { project: 'kept', path: 'k.txt', content: 'local\n' });
    await h.ok('commit_task', { project: 'kept', task: task(6), push: false });
    await commitToBare(repo.dir, { 'k.txt': 'remote\n' });
    const s = await h.ok('sync_project', { project: 'kept' });
    expect(s.kept_local).toEqual(['k.txt']);
    expect((await h.ok('read_file', { project: 'kept', path: 'k.txt' })).content).toBe('local\n');
    // A later pushed commit of that file lands (there is no known remote base to conflict with).
    await h.ok('write_file', { project: 'kept', path: 'k.txt', content: 'local, pushed\n' });
    expect(await h.ok('commit_task', { project: 'kept', task: task(11) })).toMatchObject({
      status: 'pushed',
    });
    expect(text((await readTree(repo.dir)).get('k.txt')?.content)).toBe('local, pushed\n');
    expect((await h.ok('sync_project', { project: 'kept' })).kept_local).toEqual([]);
  });
});

describe('history with a remote', () => {
  it('keeps the versions an import, a commit and a sync produced, readable at each', async () => {
    const { repo } = await importRepo('travels', { 'a.txt': 'imported\n' });
    await h.ok('write_file', { project: 'travels', path: 'a.txt', content: 'ours\n' });
    const pushed = await h.ok('commit_task', { project: 'travels', task: task(21) });
    const theirs = await commitToBare(repo.dir, { 'a.txt': 'theirs\n' }, { message: 'Teammate edit' });
    await h.ok('sync_project', { project: 'travels' });

    const versions = (await h.ok('file_history', { project: 'travels', path: 'a.txt' })).versions as {
      id: string;
      workspace: string | null;
      how: string | null;
    }[];
    const committed = versions.filter((v) => v.workspace === null).map((v) => v.how);
    expect(committed).toEqual(['sync', 'commit', 'import']);
    const at = async (point: string) =>
      (await h.ok('read_file', { project: 'travels', path: 'a.txt', at: point })).content as string;
    expect(await at('Task #21')).toBe('ours\n');
    expect(await at(pushed.sha)).toBe('ours\n');
    expect(await at(pushed.sha.slice(0, 8))).toBe('ours\n');
    expect(await at('committed')).toBe('theirs\n');
    expect(await at(versions.at(-1)!.id)).toBe('imported\n');

    // The remote's own commits, newest first, Stowage's marked.
    const listed = await h.ok('project_history', { project: 'travels', remote_commits: true, limit: 10 });
    expect(
      listed.remote_commits.map((c: { sha: string; subject: string; stowage: boolean }) => [
        c.sha,
        c.subject,
        c.stowage,
      ]),
    ).toEqual([
      [theirs, 'Teammate edit', false],
      [pushed.sha, 'Task #21: Do the thing', true],
      [repo.head, 'Initial commit', false],
    ]);
    expect(await h.fail('project_history', { project: 'nowhere-remote', remote_commits: true })).toMatch(
      /^not_found/,
    );
  });
});

describe('a hostile repository', () => {
  it('imports only safe files and runs nothing; a commit to it is refused, keeping the drafts', async () => {
    const evil = await createHostileRepo(root, 'acme/evil', { hugeSize: 11 * 1024 * 1024 });
    const created = await h.ok('create_project', {
      name: 'evil',
      remote: { url: evil.url(server), branch: 'main' },
    });
    const skipped = new Map(
      created.import.skipped.map((s: { path: string; reason: string }) => [s.path, s.reason]),
    );
    expect(skipped.get('link')).toBe('symlink');
    expect(skipped.get('abs')).toBe('symlink');
    expect(skipped.get('huge.bin')).toBe('too_large');
    for (const path of ['sub/.git/config', '.GIT/hooks/post-checkout', '../escape.txt', 'back\\slash']) {
      expect(skipped.get(path), path).toBe('invalid_path');
    }
    const { entries } = await h.ok('list_files', { project: 'evil' });
    const paths = entries.map((e: { path: string }) => e.path);
    expect(paths).toContain('ok.txt');
    expect(paths.some((p: string) => /(^|\/)\.git(\/|$)/i.test(p) || p.includes('..'))).toBe(false);
    expect(existsSync(evil.marker)).toBe(false);

    // git itself refuses to build on a tree holding '../escape.txt': a clear error, nothing lost.
    await h.ok('write_file', { project: 'evil', path: 'ok.txt', content: 'still ok\n' });
    const error = await h.fail('commit_task', { project: 'evil', task: task(66, 'Edit ok') });
    expect(error).toMatch(/^invalid_input: the remote tree holds a path git itself refuses/);
    expect((await h.ok('list_changes', { project: 'evil' })).changes).toHaveLength(1);
    expect((await log(evil.dir))[0]!.sha).toBe(evil.head);
    expect(existsSync(evil.marker)).toBe(false);
  });
});

describe('the token', () => {
  it('travels only in the Authorization header', () => {
    const requests = server.requests();
    expect(requests.length).toBeGreaterThan(10);
    for (const r of requests) {
      expect(r.url).not.toContain(TOKEN);
      const headers = Object.entries(r.headers).filter(([k]) => k !== 'authorization');
      expect(JSON.stringify(headers)).not.toContain(TOKEN);
    }
  });
});

describe('cancellation, progress and what git sees', () => {
  it('a cancelled push stops, removes its clone and keeps the drafts', async () => {
    await importRepo('cancel', { 'c.txt': 'c\n' });
    await h.ok('write_file', { project: 'cancel', path: 'c.txt', content: 'C\n' });
    server.fail('hang');
    const controller = new AbortController();
    try {
      const call = h.client.callTool(
        { name: 'commit_task', arguments: { project: 'cancel', task: task(9) } },
        undefined,
        {
          signal: controller.signal,
        },
      );
      await expect
        .poll(() => server.requests().filter((r) => r.url.includes('acme/cancel')).length)
        .toBeGreaterThan(0);
      controller.abort();
      await expect(call).rejects.toThrow();
    } finally {
      server.fail('none');
    }
    await expect
      .poll(async () => (await readdir(join(h.home, 'tmp'))).filter((n) => !n.startsWith('home-')), {
        timeout: 10_000,
      })
      .toEqual([]);
    expect((await h.ok('list_changes', { project: 'cancel' })).changes).toHaveLength(1);
  });

  it('import reports progress when asked', async () => {
    const repo = await createBareRepo(
      root,
      'acme/many',
      Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f/${i}.txt`, `${i}\n`])),
    );
    const seen: { progress: number; total?: number }[] = [];
    const result = await h.client.callTool(
      { name: 'create_project', arguments: { name: 'many', remote: { url: repo.url(server) } } },
      undefined,
      { onprogress: (p) => seen.push(p) },
    );
    expect(result.isError).toBeFalsy();
    expect(seen.some((p) => p.total === 300)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ progress: 300, total: 300 });
  });

  it('git never gets the token in its arguments or a repository config', async () => {
    // A wrapper first on PATH records every git invocation's arguments and the clone's config.
    const bin = await mkdtemp(join(tmpdir(), 'stowage-gitwrap-'));
    const record = join(bin, 'calls.log');
    const real = (await git(['--exec-path'])).trim().replace(/\/libexec\/git-core$|\/lib\/git-core$/, '/bin');
    await writeFile(
      join(bin, 'git'),
      `#!/bin/sh\necho "ARGS $*" >> ${record}\n[ -f config ] && cat config >> ${record}\n[ -f .git/config ] && cat .git/config >> ${record}\nexec ${real}/git "$@"\n`,
    );
    await chmod(join(bin, 'git'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const { repo } = await importRepo('watched', { 'w.txt': 'w\n' });
      await h.ok('write_file', { project: 'watched', path: 'w.txt', content: 'W\n' });
      await h.ok('commit_task', { project: 'watched', task: task(10) });
      await commitToBare(repo.dir, { 'x.txt': 'x\n' });
      await h.ok('sync_project', { project: 'watched' });
    } finally {
      process.env.PATH = path;
    }
    const calls = await readFile(record, 'utf8');
    expect(calls).toMatch(/ARGS .*clone/);
    expect(calls).toMatch(/ARGS .*push/);
    expect(calls).not.toContain(TOKEN);
    expect(calls).not.toContain(Buffer.from(`x-access-token:${TOKEN}`).toString('base64'));
    await rm(bin, { recursive: true, force: true });
  });
});
