// Proves the git test infrastructure with the real git CLI: the smart-HTTP server (auth, protocol
// v2, gzip and chunked bodies, the request log, its failure switches) and the bare-repo fixtures.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, startGitServer, type GitServer } from './support/git-server.js';
import {
  branches,
  commitToBare,
  createBareRepo,
  createHostileRepo,
  git,
  log,
  readTree,
  runGit,
  TEST_AUTHOR,
  type BareRepo,
} from './support/git-repos.js';

const TOKEN = 'ghs_stowageTestToken0123456789';
const auth = (token = TOKEN) => ['-c', `http.extraHeader=Authorization: ${basicAuth(token)}`];

let root: string;
let work: string;
let server: GitServer;
let repo: BareRepo;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-git-root-'));
  work = await mkdtemp(join(tmpdir(), 'stowage-git-work-'));
  server = await startGitServer({ root, token: TOKEN });
  repo = await createBareRepo(root, 'acme/app', {
    'README.md': '# app\n',
    'bin/run': { content: '#!/bin/sh\necho run\n', mode: '100755' },
    'docs/link': { content: '../README.md', mode: '120000' },
  });
});

afterAll(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

/** The requests `action` caused. */
async function requestsDuring(action: () => Promise<unknown>) {
  const before = server.requests().length;
  await action();
  return server.requests().slice(before);
}

describe('git smart-HTTP server', () => {
  it('serves a clone to the token, sent only in the Authorization header, over protocol v2', async () => {
    const dest = join(work, 'clone');
    const requests = await requestsDuring(() => git([...auth(), 'clone', '-q', repo.url(server), dest]));
    expect(await readFile(join(dest, 'README.md'), 'utf8')).toBe('# app\n');
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /acme/app.git/info/refs?service=git-upload-pack',
      'POST /acme/app.git/git-upload-pack',
      'POST /acme/app.git/git-upload-pack',
    ]);
    for (const request of requests) {
      expect(request.headers.authorization).toBe(basicAuth(TOKEN));
      expect(request.headers['git-protocol']).toBe('version=2');
      expect(request.url).not.toContain(TOKEN);
      // The token travels base64-encoded: in plain text it is nowhere in what the server received.
      expect(request.rawHeaders.join('\n')).not.toContain(TOKEN);
    }
  });

  it('passes Git-Protocol to http-backend, which then answers in protocol v2', async () => {
    const refs = (headers: Record<string, string>) =>
      fetch(`${repo.url(server)}/info/refs?service=git-upload-pack`, {
        headers: { authorization: basicAuth(TOKEN), ...headers },
      }).then((res) => res.text());
    expect(await refs({ 'git-protocol': 'version=2' })).toContain('version 2');
    const v0 = await refs({});
    expect(v0).not.toContain('version 2');
    expect(v0).toContain(`${repo.head} refs/heads/main`);
  });

  it('inflates a gzip request body (Content-Encoding reaches http-backend)', async () => {
    const res = await fetch(`${repo.url(server)}/git-upload-pack`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'git-protocol': 'version=2',
        'content-type': 'application/x-git-upload-pack-request',
        'content-encoding': 'gzip',
      },
      body: gzipSync('0014command=ls-refs\n0001' + '0000'),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(`${repo.head} refs/heads/main`);
  });

  it('takes a push with the token, streaming a pack larger than http.postBuffer in chunks', async () => {
    const target = await createBareRepo(root, 'acme/push', { 'a.txt': 'a\n' });
    const dest = join(work, 'push');
    await git([...auth(), 'clone', '-q', target.url(server), dest]);
    const big = randomBytes(2 * 1024 * 1024); // incompressible, so the pack exceeds the 1 MiB buffer
    await writeFile(join(dest, 'big.bin'), big);
    await git(['add', 'big.bin'], { cwd: dest });
    await git(['commit', '-q', '-m', 'Add big.bin'], { cwd: dest });
    const requests = await requestsDuring(() =>
      git([...auth(), 'push', '-q', 'origin', 'main'], { cwd: dest }),
    );

    const pushes = requests.filter((r) => r.url === '/acme/push.git/git-receive-pack');
    expect(pushes.some((r) => r.headers['transfer-encoding'] === 'chunked')).toBe(true);
    expect((await readTree(target.dir)).get('big.bin')?.content.equals(big)).toBe(true);
    const [pushed] = await log(target.dir);
    expect(pushed).toMatchObject({ subject: 'Add big.bin', parents: [target.head], author: TEST_AUTHOR });
  });

  it('answers 401 with a Basic challenge to a missing or wrong token, which git reports', async () => {
    const lsRemote = (...config: string[]) => runGit([...config, 'ls-remote', repo.url(server)]);
    const missing = await lsRemote();
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/could not read Username .*terminal prompts disabled/);
    const wrongHeader = await lsRemote(...auth('ghs_wrong'));
    expect(wrongHeader.code).not.toBe(0);
    expect(wrongHeader.stderr).toMatch(/could not read Username .*terminal prompts disabled/);
    const helper = '!f() { echo username=x-access-token; echo password=ghs_wrong; }; f';
    const wrongCredential = await lsRemote('-c', `credential.helper=${helper}`);
    expect(wrongCredential.stderr).toMatch(/Authentication failed/);

    const status = async (authorization?: string) => {
      const res = await fetch(`${repo.url(server)}/info/refs?service=git-upload-pack`, {
        headers: authorization ? { authorization } : {},
      });
      return `${res.status} ${res.headers.get('www-authenticate') ?? ''}`;
    };
    expect(await status()).toBe('401 Basic realm="stowage-test"');
    expect(await status(basicAuth('ghs_wrong'))).toBe('401 Basic realm="stowage-test"');
    expect(await status(basicAuth('x', TOKEN))).toBe('401 Basic realm="stowage-test"'); // token as the user
    expect(await status(`Bearer ghs_wrong`)).toBe('401 Basic realm="stowage-test"');
    expect(await status(`Bearer ${TOKEN}`)).toBe('200 ');
    expect(await status(basicAuth(TOKEN, 'any-user'))).toBe('200 ');
  });

  it('rotates the token', async () => {
    server.setToken('ghs_rotated');
    try {
      expect((await runGit([...auth(), 'ls-remote', repo.url(server)])).code).not.toBe(0);
      expect(await git([...auth('ghs_rotated'), 'ls-remote', repo.url(server)])).toContain('refs/heads/main');
    } finally {
      server.setToken(TOKEN);
    }
  });

  it('fails every request with 500, or hangs, when told', async () => {
    try {
      server.fail('error');
      const failed = await runGit([...auth(), 'ls-remote', repo.url(server)]);
      expect(failed.stderr).toMatch(/returned error: 500/);
      server.fail('hang');
      const hung = fetch(`${repo.url(server)}/info/refs`, { signal: AbortSignal.timeout(300) });
      await expect(hung).rejects.toThrow(/timeout|aborted/i);
    } finally {
      server.fail('none');
    }
    expect(await git([...auth(), 'ls-remote', repo.url(server)])).toContain('refs/heads/main');
  });

  it('close() drops hung connections', async () => {
    const other = await startGitServer({ root, token: undefined });
    other.fail('hang');
    const hung = fetch(`${other.url}/acme/app.git/info/refs`);
    await expect.poll(() => other.requests().length).toBe(1);
    await other.close();
    await expect(hung).rejects.toThrow();
  });

  it('serves a blob-less depth-1 bare clone, fetching blobs on demand', async () => {
    const deep = await createBareRepo(root, 'acme/deep', { 'a.txt': 'one\n', 'b.txt': 'b\n' });
    const head = await commitToBare(deep.dir, { 'a.txt': 'two\n' });
    const dest = join(work, 'blobless.git');
    await git([
      ...auth(),
      'clone',
      '-q',
      '--bare',
      '--filter=blob:none',
      '--depth',
      '1',
      deep.url(server),
      dest,
    ]);

    expect((await readFile(join(dest, 'shallow'), 'utf8')).trim()).toBe(head);
    expect((await git(['rev-list', '--count', 'HEAD'], { cwd: dest })).trim()).toBe('1');
    const objects = await git(['rev-list', '--objects', '--missing=print', 'HEAD'], { cwd: dest });
    const tree = await readTree(deep.dir);
    const missing = objects.split('\n').filter((line) => line.startsWith('?'));
    expect(missing.sort()).toEqual([`?${tree.get('a.txt')!.sha}`, `?${tree.get('b.txt')!.sha}`].sort());
    // The lazy fetch runs a child git, which inherits the -c settings (and so the header).
    expect(await git([...auth(), 'cat-file', '-p', tree.get('a.txt')!.sha], { cwd: dest })).toBe('two\n');
  });
});

describe('bare repo fixtures', () => {
  it('builds 2,000 files with a fixed number of git processes; readTree returns them all', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 2000; i++) files[`dir${i % 20}/file${i}.txt`] = `content ${i}\n`;
    const trace = join(work, 'trace.log');
    process.env.GIT_TRACE = trace;
    let big: BareRepo;
    try {
      big = await createBareRepo(root, 'acme/big', files);
    } finally {
      delete process.env.GIT_TRACE;
    }
    const runs = (await readFile(trace, 'utf8'))
      .split('\n')
      .filter((l) => l.includes('trace: built-in: git '));
    // init, three configs, hash-object, update-index, write-tree, commit-tree, update-ref.
    expect(runs).toHaveLength(9);

    const tree = await readTree(big.dir);
    expect(tree.size).toBe(2000);
    for (const [path, content] of Object.entries(files)) {
      expect(tree.get(path)).toMatchObject({ mode: '100644', content: Buffer.from(content) });
    }

    // A blob-less clone's checkout fetches the 2,000 blobs in one request, which git gzips.
    const dest = join(work, 'big-checkout');
    const requests = await requestsDuring(() =>
      git([...auth(), 'clone', '-q', '--filter=blob:none', big.url(server), dest]),
    );
    expect(requests.some((r) => r.headers['content-encoding'] === 'gzip')).toBe(true);
    expect(await readFile(join(dest, 'dir7/file1007.txt'), 'utf8')).toBe('content 1007\n');
  });

  it('keeps modes and symlinks, and commitToBare moves the branch like another agent pushing', async () => {
    const before = await readTree(repo.dir);
    expect(before.get('bin/run')?.mode).toBe('100755');
    expect(before.get('docs/link')).toMatchObject({ mode: '120000', content: Buffer.from('../README.md') });

    const target = await createBareRepo(root, 'acme/moving', { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const head = await commitToBare(
      target.dir,
      { 'a.txt': 'changed\n', 'b.txt': null, 'new/c.sh': { content: 'echo c\n', mode: '100755' } },
      { message: 'Edit by another agent\n\nWith a body.' },
    );
    expect(head).not.toBe(target.head);
    expect(await branches(target.dir)).toEqual({ main: head });
    expect(await log(target.dir)).toEqual([
      {
        sha: head,
        subject: 'Edit by another agent',
        body: 'With a body.',
        author: TEST_AUTHOR,
        parents: [target.head],
      },
      { sha: target.head, subject: 'Initial commit', body: '', author: TEST_AUTHOR, parents: [] },
    ]);
    const after = await readTree(target.dir);
    expect([...after.keys()].sort()).toEqual(['a.txt', 'new/c.sh']);
    expect(after.get('a.txt')?.content.toString()).toBe('changed\n');
    expect(after.get('new/c.sh')?.mode).toBe('100755');

    const side = await commitToBare(target.dir, { 'x.txt': 'x\n' }, { branch: 'side' });
    expect(await branches(target.dir)).toEqual({ main: head, side });
  });

  it('createHostileRepo holds the entries it claims, and a real client fetches them untouched', async () => {
    const evil = await createHostileRepo(root, 'acme/evil');
    const listing = await git(['ls-tree', '-r', '-z', '-l', 'main'], { cwd: evil.dir });
    const tree = new Map(
      listing
        .split('\0')
        .filter(Boolean)
        .map((line) => {
          const [mode, , , size] = line.slice(0, line.indexOf('\t')).split(/ +/);
          return [line.slice(line.indexOf('\t') + 1), { mode, size: Number(size) }] as const;
        }),
    );
    expect([...tree.keys()].sort()).toEqual([...evil.entries].sort());
    for (const name of [
      'ok.txt',
      'sub/.git/config',
      '.GIT/hooks/post-checkout',
      'git~1/hooks/post-checkout',
      '../escape.txt',
      ':(glob)**',
      ':!x',
      '*',
      'new\nline',
      'back\\slash',
      '.gitattributes',
    ]) {
      expect(evil.entries).toContain(name);
    }
    expect(tree.get('link')?.mode).toBe('120000');
    expect(tree.get('abs')?.mode).toBe('120000');
    expect(tree.get('.GIT/hooks/post-checkout')?.mode).toBe('100755');
    expect(tree.get('huge.bin')?.size).toBe(11 * 1024 * 1024);
    const contents = await readTree(evil.dir);
    expect(contents.get('link')?.content.toString()).toBe('../../../etc/passwd');
    expect(contents.get('abs')?.content.toString()).toBe('/etc/passwd');
    expect(contents.get('.gitattributes')?.content.toString()).toContain('filter=evil');
    for (const hook of ['post-checkout', 'post-merge']) {
      expect((await stat(join(evil.dir, 'hooks', hook))).mode & 0o111).not.toBe(0);
      expect(await readFile(join(evil.dir, 'hooks', hook), 'utf8')).toContain(evil.marker);
    }
    expect(await git(['config', 'filter.evil.smudge'], { cwd: evil.dir })).toContain(evil.marker);

    const dest = join(work, 'evil.git');
    await git([...auth(), 'clone', '-q', '--bare', '--filter=blob:none', evil.url(server), dest]);
    expect((await git(['rev-parse', 'HEAD'], { cwd: dest })).trim()).toBe(evil.head);
    expect(await readdir(join(dest, 'hooks'))).not.toContain('post-checkout');
    expect(existsSync(evil.marker)).toBe(false);
  });
});
