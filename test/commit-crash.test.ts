// A commit survives a crash between its push and its apply. A real `stowage serve --http` process
// (dist/index.js: run `npm run build` first) on a real Postgres pushes to a real bare repository
// behind the git smart-HTTP server on loopback; the repository's own hook holds the push open
// after the branch moved (post-receive) or before it does (pre-receive) while the test kills the
// server with SIGKILL. A new process on the same home and database then retries commit_task, or,
// once the intent is older than a push takes, settles it on its own.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { branches, commitToBare, createBareRepo, log, readTree } from './support/git-repos.js';
import { startGitServer, type GitServer } from './support/git-server.js';
import { connectHttp } from './support/http.js';
import { spawnHttpServer } from './support/spawn.js';

const TOKEN = 'tok-crash-9d2e41';
let root: string;
let git: GitServer;
let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-crash-'));
  git = await startGitServer({ root, token: TOKEN });
  db = await createTestDatabase();
  env = {
    STOWAGE_HOME: join(root, 'home'),
    DATABASE_URL: db.url,
    STOWAGE_PRINCIPAL: 'ada',
    GIT_ALLOWED_PROTOCOLS: 'http',
    GIT_ALLOWED_HOSTS: '127.0.0.1',
    GITHUB_TOKEN: TOKEN,
    GITHUB_API_URL: `${git.url}/api/v3`,
  };
});
afterAll(async () => {
  await git.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

const ORIGINAL = 'line 1\nline 2\nline 3\nline 4\n';
const MINE = 'line 1\nline 2\nline 3, by the agent\nline 4\n';
const task = { id: 12, title: 'Edit line 3' };

async function serve() {
  const server = await spawnHttpServer(env);
  const { client } = await connectHttp(server.url);
  const call = async (name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  const ok = async (name: string, args: Record<string, unknown>) => {
    const result = await call(name, args);
    if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
    return result.structuredContent as Record<string, any>;
  };
  return { server, client, call, ok };
}

/** A hook of `repo` that marks when it runs, then waits (60 s at most) for the test to release it. */
async function holdAt(repoDir: string, hook: 'pre-receive' | 'post-receive', exitCode: number) {
  const marker = join(root, `${hook}-${Date.now()}.ran`);
  const release = `${marker}.release`;
  const path = join(repoDir, 'hooks', hook);
  await writeFile(
    path,
    `#!/bin/sh\ncat > /dev/null\ntouch '${marker}'\ni=0\nwhile [ ! -f '${release}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nexit ${exitCode}\n`,
  );
  await chmod(path, 0o755);
  return {
    reached: () => existsSync(marker),
    /** Lets the held push go on, and removes the hook. */
    async release() {
      await writeFile(release, '');
      await rm(path, { force: true });
    },
  };
}

/** Starts commit_task and kills the server with SIGKILL once the hook holds its push. */
async function crashWhilePushing(
  running: Awaited<ReturnType<typeof serve>>,
  hold: Awaited<ReturnType<typeof holdAt>>,
  project: string,
) {
  const pending = running.call('commit_task', { project, task }).catch((err: unknown) => err);
  await expect.poll(hold.reached, { timeout: 30_000 }).toBe(true);
  running.server.proc.kill('SIGKILL');
  await running.server.exited;
  await running.client.close().catch(() => undefined);
  return pending;
}

const commitRows = (project: string) =>
  db.sql.query<{ status: string; git_sha: string | null; version: number | null }>(
    `SELECT c.status, c.git_sha, c.version FROM commits c JOIN projects p ON p.id = c.project_id
     WHERE p.name = $1 ORDER BY c.id`,
    [project],
  );

describe('a server killed between push and apply', () => {
  it('is applied exactly once by the retry, which leaves the remote as it is', async () => {
    const repo = await createBareRepo(root, 'team/landed', { 'app.txt': ORIGINAL });
    const first = await serve();
    await first.ok('create_project', { name: 'landed', remote: { url: repo.url(git), branch: 'main' } });
    await first.ok('write_file', { project: 'landed', path: 'app.txt', content: MINE });
    // post-receive runs once the branch has moved: the push has landed, the server waits for it.
    const hold = await holdAt(repo.dir, 'post-receive', 0);
    await crashWhilePushing(first, hold, 'landed');
    const [landed] = await log(repo.dir);
    expect(landed).toMatchObject({ subject: 'Task #12: Edit line 3', parents: [repo.head] });
    expect(await commitRows('landed')).toEqual([{ status: 'pushing', git_sha: landed!.sha, version: null }]);
    await hold.release();
    // Meanwhile a teammate changes the same line on top: merging the drafts again would conflict.
    const theirs = await commitToBare(repo.dir, {
      'app.txt': 'line 1\nline 2\nline 3, by a teammate\nline 4\n',
    });

    const second = await serve();
    try {
      const retry = await second.ok('commit_task', { project: 'landed', task });
      expect(retry).toMatchObject({ status: 'pushed', sha: landed!.sha, branch: 'main', recovered: true });
      expect(retry.files).toEqual([{ path: 'app.txt', state: 'modified' }]);
      // The remote is as the teammate left it: nothing pushed again, no side branch.
      expect((await log(repo.dir))[0]!.sha).toBe(theirs);
      expect(await branches(repo.dir)).toEqual({ main: theirs });
      // Applied once: one history row, the draft gone, the committed tree holds the commit.
      const rows = await commitRows('landed');
      expect(rows).toEqual([{ status: 'pushed', git_sha: landed!.sha, version: expect.any(Number) }]);
      expect((await second.ok('list_changes', { project: 'landed' })).changes).toEqual([]);
      expect((await second.ok('read_file', { project: 'landed', path: 'app.txt' })).content).toBe(MINE);
      expect((await second.ok('get_project', { project: 'landed' })).head_sha).toBe(landed!.sha);
      const again = await second.call('commit_task', { project: 'landed', task });
      expect(again.isError).toBe(true);
      expect((again.content[0] as { text: string }).text).toMatch(/has no changes to commit/);
      expect(await commitRows('landed')).toHaveLength(1);
      // A sync then brings the teammate's change in.
      await second.ok('sync_project', { project: 'landed' });
      expect((await second.ok('read_file', { project: 'landed', path: 'app.txt' })).content).toMatch(
        /teammate/,
      );
    } finally {
      await second.client.close();
      await second.server.stop();
    }
  });

  it('is applied by a new server on its own, once the intent is older than a push takes', async () => {
    const repo = await createBareRepo(root, 'team/unattended', { 'app.txt': ORIGINAL });
    const first = await serve();
    await first.ok('create_project', { name: 'unattended', remote: { url: repo.url(git), branch: 'main' } });
    await first.ok('write_file', { project: 'unattended', path: 'app.txt', content: MINE });
    const hold = await holdAt(repo.dir, 'post-receive', 0);
    await crashWhilePushing(first, hold, 'unattended');
    const [landed] = await log(repo.dir);
    expect(landed).toMatchObject({ subject: 'Task #12: Edit line 3', parents: [repo.head] });
    await hold.release();
    // The server stayed down longer than any push takes (8 × GIT_TIMEOUT_MS): its intent is old.
    await db.sql.query(
      `UPDATE commits c SET created_at = c.created_at - interval '1 day' FROM projects p
       WHERE p.id = c.project_id AND p.name = 'unattended' AND c.status = 'pushing'`,
    );

    // No commit_task, no sync_project: the new server settles it on its own.
    const second = await serve();
    try {
      await expect
        .poll(() => commitRows('unattended'), { timeout: 20_000 })
        .toEqual([{ status: 'pushed', git_sha: landed!.sha, version: expect.any(Number) }]);
      const [drafts] = await db.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM drafts d JOIN projects p ON p.id = d.project_id WHERE p.name = 'unattended'`,
      );
      expect(drafts!.n).toBe(0);
      // Nothing pushed again: the branch is where the dead server's push left it.
      expect((await log(repo.dir)).map((c) => c.sha)).toEqual([landed!.sha, repo.head]);
      expect(await branches(repo.dir)).toEqual({ main: landed!.sha });
      expect((await second.ok('read_file', { project: 'unattended', path: 'app.txt' })).content).toBe(MINE);
      expect((await second.ok('get_project', { project: 'unattended' })).head_sha).toBe(landed!.sha);
    } finally {
      await second.client.close();
      await second.server.stop();
    }
  });

  it('drops an intent whose push never landed, and the retry pushes the commit once', async () => {
    const repo = await createBareRepo(root, 'team/unlanded', { 'app.txt': ORIGINAL });
    const first = await serve();
    await first.ok('create_project', { name: 'unlanded', remote: { url: repo.url(git), branch: 'main' } });
    await first.ok('write_file', { project: 'unlanded', path: 'app.txt', content: MINE });
    // pre-receive runs before the branch moves; released, it refuses the push.
    const hold = await holdAt(repo.dir, 'pre-receive', 1);
    await crashWhilePushing(first, hold, 'unlanded');
    expect(await commitRows('unlanded')).toEqual([
      { status: 'pushing', git_sha: expect.any(String), version: null },
    ]);
    await hold.release();
    await expect.poll(async () => (await log(repo.dir))[0]!.sha).toBe(repo.head);

    const second = await serve();
    try {
      const retry = await second.ok('commit_task', { project: 'unlanded', task });
      expect(retry).toMatchObject({ status: 'pushed', branch: 'main' });
      expect(retry.recovered).toBeUndefined();
      const history = await log(repo.dir);
      expect(history.map((c) => c.sha)).toEqual([retry.sha, repo.head]);
      expect((await readTree(repo.dir)).get('app.txt')!.content.toString()).toBe(MINE);
      expect(await commitRows('unlanded')).toEqual([
        { status: 'pushed', git_sha: retry.sha, version: expect.any(Number) },
      ]);
    } finally {
      await second.client.close();
      await second.server.stop();
    }
  });
});
