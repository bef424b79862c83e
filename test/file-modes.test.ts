// Owner-only files: what Stowage writes (blobs, artifacts, exports, the download secret and
// STOWAGE_HOME itself) is 0600, its directories 0700: for library users whatever their umask, and
// for the CLI on a fresh home with the embedded Postgres, which as root runs as the postgres user
// and must still pass through the home (0710, the postgres group: traverse, not list).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport } from '../src/cli/backup.js';
import { createFsArtifactStore } from '../src/store/blobs/artifact-store.js';
import { sha256 } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createHarness, type Harness } from './support/harness.js';
import { callTool, connectHttp } from './support/http.js';
import { ROOT, spawnHttpServer, spawnStowage } from './support/spawn.js';

const asRoot = process.getuid?.() === 0;
const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** The modes of `root` and of every directory and file below it. */
async function modesUnder(root: string) {
  const dirs = [await modeOf(root)];
  const files: number[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const mode = await modeOf(join(entry.parentPath, entry.name));
    (entry.isDirectory() ? dirs : files).push(mode);
  }
  return { dirs, files };
}

/** Asserts every directory under `root` is 0700 and every file 0600, and that there are files. */
async function expectOwnerOnly(root: string) {
  const { dirs, files } = await modesUnder(root);
  expect(files.length, `files under ${root}`).toBeGreaterThan(0);
  expect(new Set(dirs.map((m) => m.toString(8))), `directory modes under ${root}`).toEqual(new Set(['700']));
  expect(new Set(files.map((m) => m.toString(8))), `file modes under ${root}`).toEqual(new Set(['600']));
}

describe('for library users, whatever their umask', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    h = await createHarness({ principal: 'lib' });
    dir = await mkdtemp(join(tmpdir(), 'stowage-modes-'));
  });
  afterAll(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates blob and artifact directories 0700 with files 0600, and exports 0600', async () => {
    await h.ok('create_project', { name: 'lib' });
    await h.ok('write_file', { project: 'lib', path: 'a.txt', content: 'private' });
    await h.ok('commit_task', { project: 'lib', task: { id: 1, title: 'init' } });
    // umask 0: only the modes Stowage asks for stand between the files and everyone.
    const umask = process.umask(0);
    try {
      const home = join(dir, 'home');
      const blobs = createFsBlobStore(join(home, 'blobs'));
      const content = Buffer.from('blob content');
      await blobs.put(sha256(content), content);
      const artifacts = createFsArtifactStore(join(home, 'artifacts'));
      await artifacts.write(randomUUID(), Readable.from([Buffer.from('artifact content')]));
      const exported = join(dir, 'lib.tar.gz');
      await runExport(h.stowage, 'lib', exported);

      expect(await modeOf(home)).toBe(0o700);
      await expectOwnerOnly(join(home, 'blobs'));
      await expectOwnerOnly(join(home, 'artifacts'));
      expect(await modeOf(exported)).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });
});

describe('the CLI on a fresh STOWAGE_HOME with the embedded Postgres', () => {
  let parent: string;
  let server: Awaited<ReturnType<typeof spawnHttpServer>> | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/index.js')))
      throw new Error('run `npm run build` first (npm test does)');
    parent = await mkdtemp(join(tmpdir(), 'stowage-modes-cli-'));
    await chmod(parent, 0o755); // as root, the postgres user must reach the home below it
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop(); // the last process out stops the embedded Postgres
    await rm(parent, { recursive: true, force: true });
  });

  it('creates the home, blobs, artifacts, the download secret and exports owner-only', async () => {
    const home = join(parent, 'data');
    const env = { STOWAGE_HOME: home, STOWAGE_PRINCIPAL: 'tester' };
    server = await spawnHttpServer(env);
    client = (await connectHttp(server.url)).client;
    const ok = async (name: string, args: Record<string, unknown>) => {
      const result = await callTool(client!, name, args);
      expect(result.isError, `${name}: ${JSON.stringify(result.content)}`).toBeFalsy();
    };
    for (const project of ['kept', 'shelved']) {
      await ok('create_project', { name: project });
      // Above INLINE_MAX_BYTES, so the content goes to the blob directory.
      await ok('write_file', { project, path: 'big.txt', content: `${project}\n`.repeat(20_000) });
      await ok('commit_task', { project, task: { id: 1, title: 'init' } });
    }
    await ok('archive_project', { project: 'shelved' });
    const exported = join(parent, 'kept.tar.gz');
    const exporting = await spawnStowage(['export', 'kept', exported], env).done;
    expect(exporting.code, exporting.stderr).toBe(0);

    const homeStat = await stat(home);
    if (asRoot) {
      const postgresGid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
      expect(homeStat.mode & 0o777).toBe(0o710);
      expect(homeStat.gid).toBe(postgresGid);
      expect(homeStat.uid).toBe(0);
    } else {
      expect(homeStat.mode & 0o777).toBe(0o700);
    }
    await expectOwnerOnly(join(home, 'blobs'));
    await expectOwnerOnly(join(home, 'artifacts'));
    expect(await modeOf(join(home, 'download-secret'))).toBe(0o600);
    expect(await modeOf(exported)).toBe(0o600);
    // The embedded Postgres started in that home (the calls above were stored in it).
    expect(existsSync(join(home, 'pg', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(home, 'pg', 'postmaster.pid'))).toBe(true);
  });
});
