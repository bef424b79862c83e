// What a killed server leaves behind is reclaimed. Real `stowage serve --http` processes
// (dist/index.js: run `npm run build` first) on a real Postgres and the local blob directory are
// killed with SIGKILL at named points (STOWAGE_TEST_PAUSE, src/test-pause.ts: the process marks
// the point and waits there), or while a git push is held by the remote's own hook; then
// `stowage cleanup`, or the next start-up, must remove what they left, and nothing else.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { createBareRepo } from './support/git-repos.js';
import { startGitServer, type GitServer } from './support/git-server.js';
import { connectHttp } from './support/http.js';
import { spawnHttpServer, spawnStowage } from './support/spawn.js';

const TOKEN = 'tok-leftovers-5c1a';
/** Over INLINE_MAX_BYTES (64 KiB), so stored in the blob store, and under the tests' RESPONSE_MAX_CHARS. */
const big = (tag: string) => `${tag}\n${'x'.repeat(66 * 1024)}`;

let root: string;
let home: string;
let git: GitServer;
let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'stowage-leftovers-'));
  home = join(root, 'home');
  git = await startGitServer({ root, token: TOKEN });
  db = await createTestDatabase();
  env = {
    STOWAGE_HOME: home,
    DATABASE_URL: db.url,
    STOWAGE_PRINCIPAL: 'ada',
    GIT_ALLOWED_PROTOCOLS: 'http',
    GIT_ALLOWED_HOSTS: '127.0.0.1',
    GITHUB_TOKEN: TOKEN,
    GITHUB_API_URL: `${git.url}/api/v3`,
    // No sweeper: the test says when cleanup runs.
    CLEANUP_INTERVAL_MINUTES: '0',
    // The large files are read back whole.
    RESPONSE_MAX_CHARS: '400000',
  };
});
afterAll(async () => {
  await git.close();
  await db.drop();
  await rm(root, { recursive: true, force: true });
});

async function serve(extra: Record<string, string> = {}) {
  const server = await spawnHttpServer({ ...env, ...extra });
  const { client } = await connectHttp(server.url);
  const call = async (name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  const ok = async (name: string, args: Record<string, unknown>) => {
    const result = await call(name, args);
    if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
    return result.structuredContent as Record<string, any>;
  };
  return {
    server,
    call,
    ok,
    async stop() {
      await client.close();
      return server.stop();
    },
  };
}

type Running = Awaited<ReturnType<typeof serve>>;

/** Runs `action` on a server that pauses at `point`, and kills it (SIGKILL) there. */
async function killAt(point: string, action: (running: Running) => Promise<unknown>) {
  const marker = join(root, `${point}-${Date.now()}.reached`);
  const running = await serve({ STOWAGE_TEST_PAUSE: `${point}:${marker}` });
  const pending = action(running).catch((err: unknown) => err);
  await expect.poll(() => existsSync(marker), { timeout: 30_000 }).toBe(true);
  running.server.proc.kill('SIGKILL');
  await running.server.exited;
  await pending;
}

/** Every file under `dir`, relative to it. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const found: string[] = [];
  for (const entry of entries) if ((await stat(join(dir, entry))).isFile()) found.push(entry);
  return found.sort();
}

/** Makes everything in the stores older than the default 60-minute grace period. */
async function ageStores() {
  const then = new Date(Date.now() - 2 * 3_600_000);
  for (const dir of [join(home, 'blobs'), join(home, 'artifacts')]) {
    for (const file of await files(dir)) await utimes(join(dir, file), then, then);
  }
}

async function cleanup() {
  const { code, stderr } = await spawnStowage(['cleanup'], env).done;
  expect(code, stderr).toBe(0);
  return stderr;
}

const blobRows = async () =>
  (await db.sql.query<{ hash: string }>(`SELECT hash FROM blobs`)).map((r) => r.hash);
const artifactRows = async () =>
  await db.sql.query<{ id: string; kind: string }>(`SELECT id::text AS id, kind FROM artifacts ORDER BY id`);

describe('cleanup after a server killed mid-write', () => {
  beforeAll(async () => {
    // What must survive every cleanup: committed blobs, a complete job's zip.
    const setup = await serve();
    try {
      await setup.ok('create_project', { name: 'app' });
      await setup.ok('write_file', { project: 'app', path: 'kept.txt', content: big('kept') });
      await setup.ok('commit_task', { project: 'app', task: { id: 1, title: 'Add kept' } });
      await setup.ok('create_project', { name: 'shelf' });
      await setup.ok('write_file', { project: 'shelf', path: 'book.txt', content: big('book') });
      await setup.ok('commit_task', { project: 'shelf', task: { id: 1, title: 'Add book' } });
    } finally {
      await setup.stop();
    }
  });

  /** Files in the stores that a row records (blobs by hash, artifacts by id). */
  async function recorded() {
    const hashes = new Set(await blobRows());
    const ids = new Set((await artifactRows()).map((a) => a.id));
    return {
      blobs: (await files(join(home, 'blobs'))).filter((f) => hashes.has(f.split('/').at(-1)!)),
      artifacts: (await files(join(home, 'artifacts'))).filter((f) => ids.has(f)),
    };
  }

  it('reclaims a blob temp file (killed before the rename)', async () => {
    await killAt('blob-temp', (s) =>
      s.call('write_file', { project: 'app', path: 'temp.txt', content: big('temp') }),
    );
    const left = (await files(join(home, 'blobs'))).filter((f) => f.endsWith('.tmp'));
    expect(left).toHaveLength(1);
    const kept = await recorded();
    await ageStores();
    await cleanup();
    expect((await files(join(home, 'blobs'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(await recorded()).toEqual(kept);
  });

  it('reclaims a blob stored without its row (killed between the two)', async () => {
    await killAt('blob-stored', (s) =>
      s.call('write_file', { project: 'app', path: 'norow.txt', content: big('no row') }),
    );
    const rows = new Set(await blobRows());
    const rowless = (await files(join(home, 'blobs'))).filter(
      (f) => !f.endsWith('.tmp') && !rows.has(f.split('/').at(-1)!),
    );
    expect(rowless).toHaveLength(1);
    const kept = await recorded();
    await ageStores();
    await cleanup();
    expect(await files(join(home, 'blobs'))).toEqual(kept.blobs);
  });

  it('reclaims a partial zip and a complete zip whose row never committed', async () => {
    const setup = await serve();
    const job = (await setup.ok('create_job', { name: 'site' })).job as string;
    await setup.ok('write_file', { project: job, path: 'index.html', content: '<h1>hi</h1>' });
    await setup.stop();
    await killAt('artifact-temp', (s) => s.call('zip_job', { job }));
    expect((await files(join(home, 'artifacts'))).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
    await killAt('artifact-written', (s) => s.call('zip_job', { job }));
    const stored = (await files(join(home, 'artifacts'))).filter((f) => !f.endsWith('.tmp'));
    expect(stored).toHaveLength(1);
    expect(await artifactRows()).toEqual([]);
    // The job is still generating: zipped again, it completes.
    const again = await serve();
    const zipped = await again.ok('zip_job', { job });
    await again.stop();
    await ageStores();
    await cleanup();
    expect(await files(join(home, 'artifacts'))).toEqual([zipped.zip.id]);
    expect((await artifactRows()).map((a) => a.id)).toEqual([zipped.zip.id]);
  });

  it('reclaims an archive killed before its transaction; the retry and the restore leave nothing', async () => {
    const before = await files(join(home, 'artifacts'));
    await killAt('artifact-written', (s) => s.call('archive_project', { project: 'shelf' }));
    expect((await files(join(home, 'artifacts'))).length).toBe(before.length + 1);
    const running = await serve();
    try {
      expect((await running.ok('get_project', { project: 'shelf' })).status).toBe('active');
      await running.ok('archive_project', { project: 'shelf' });
      await running.ok('restore_project', { project: 'shelf' });
      expect((await running.ok('read_file', { project: 'shelf', path: 'book.txt' })).content).toBe(
        big('book'),
      );
    } finally {
      await running.stop();
    }
    expect((await artifactRows()).filter((a) => a.kind === 'archive')).toEqual([]);
    await ageStores();
    await cleanup();
    expect(await files(join(home, 'artifacts'))).toEqual(before);
    expect((await artifactRows()).filter((a) => a.kind === 'archive')).toEqual([]);
    // Nothing recorded went with the leftovers.
    const after = await serve();
    try {
      expect((await after.ok('read_file', { project: 'app', path: 'kept.txt' })).content).toBe(big('kept'));
      expect((await after.ok('read_file', { project: 'shelf', path: 'book.txt' })).content).toBe(big('book'));
    } finally {
      await after.stop();
    }
  });
});

describe('scratch directories of git clones', () => {
  const ORIGINAL = 'line 1\n';
  const scratch = async () => (await readdir(join(home, 'tmp')).catch(() => [] as string[])).sort();
  const without = (all: string[], some: string[]) => all.filter((name) => !some.includes(name));

  /** A hook of `repo` that marks when it runs, then waits for the test to release it. */
  async function holdPreReceive(repoDir: string) {
    const marker = join(root, `pre-receive-${Date.now()}.ran`);
    const release = `${marker}.release`;
    const path = join(repoDir, 'hooks', 'pre-receive');
    await writeFile(
      path,
      `#!/bin/sh\ncat > /dev/null\ntouch '${marker}'\ni=0\nwhile [ ! -f '${release}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\nexit 1\n`,
    );
    await chmod(path, 0o755);
    return {
      reached: () => existsSync(marker),
      release: () => writeFile(release, ''),
    };
  }

  it("are removed at start-up when their process died, never a live one's, and by a clean exit", async () => {
    const repo = await createBareRepo(root, 'team/scratch', { 'app.txt': ORIGINAL });
    // A live server that has used git: its empty HOME is in tmp/.
    const live = await serve();
    await live.ok('create_project', { name: 'cloned', remote: { url: repo.url(git), branch: 'main' } });
    const liveDirs = await scratch();
    expect(liveDirs.some((d) => d.startsWith('home-'))).toBe(true);

    // A server killed while its push is held by the remote: its clone stays in tmp/.
    const killed = await serve();
    await killed.ok('write_file', { project: 'cloned', path: 'app.txt', content: 'line 1, changed\n' });
    const hold = await holdPreReceive(repo.dir);
    const pending = killed.call('commit_task', { project: 'cloned', task: { id: 3, title: 'Change' } });
    void pending.catch(() => undefined);
    await expect.poll(hold.reached, { timeout: 30_000 }).toBe(true);
    killed.server.proc.kill('SIGKILL');
    await killed.server.exited;
    const deadDirs = without(await scratch(), liveDirs);
    expect(deadDirs.some((d) => d.startsWith('push-'))).toBe(true);
    await hold.release();

    // The next start-up removes the dead server's directories and keeps the live one's.
    const next = await serve();
    const afterStart = await scratch();
    expect(without(deadDirs, afterStart)).toEqual(deadDirs);
    expect(without(liveDirs, afterStart)).toEqual([]);

    // A clean exit takes a server's own directories with it.
    expect(await live.stop()).toBe(0);
    expect(without(liveDirs, await scratch())).toEqual(liveDirs);
    await next.stop();
    expect(await scratch()).toEqual([]);
  });
});
