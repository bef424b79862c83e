// Backups to a target elsewhere (BACKUP_TARGET) through a real MCP client: taken incrementally,
// listed, restored (into a new project, over an archived or a deleted one) byte for byte,
// refused when the target's content is damaged, pruned past the retention, and scheduled on one
// of two instances at a time — against real Postgres, with a directory target and an S3 target
// (s3rver on loopback). Last, the built CLI on the embedded Postgres: a backup outlives its
// STOWAGE_HOME, restored into a fresh one.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { openBackupTarget, type BackupTarget } from '../src/store/backups/index.js';
import { createSql } from '../src/store/db/sql.js';
import { createStowage } from '../src/store/stowage.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';
import { ROOT, spawnStowage } from './support/spawn.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const alice = { principal: 'alice' };
const DAY = 86_400_000;

const binary = Buffer.concat([Buffer.from([0, 1, 2, 0, 255]), randomBytes(3000)]);
const TREE = [
  { path: 'README.md', content: Buffer.from('# demo\n') },
  { path: 'src/a/b/deep.ts', content: Buffer.from('export const deep = true;\n') },
  { path: 'bin/data.bin', content: binary },
  { path: 'scripts/run.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o100755 },
  { path: 'big.txt', content: Buffer.from('lorem ipsum '.repeat(4000)) },
  { path: 'copy-of-readme.md', content: Buffer.from('# demo\n') }, // the same content twice
];

async function populate(
  h: Harness,
  project: string,
  tree: { path: string; content: Buffer; mode?: number }[],
) {
  await h.ok('create_project', { name: project, description: `the ${project} project`, tags: ['kept'] });
  await h.stowage.workspace.write(project, alice, tree);
  await h.ok('commit_task', { project, task: { id: 'init', title: 'Initial tree' } });
}

/** The committed tree as stored: what "byte for byte" means after a round trip. */
const committed = (h: Harness, project: string) =>
  h.db.sql.query<{ path: string; blob_hash: string; size: number; mode: number }>(
    `SELECT f.path, f.blob_hash, f.size, f.mode FROM files f JOIN projects p ON p.id = f.project_id
     WHERE p.name = $1 AND p.deleted_at IS NULL ORDER BY f.path`,
    [project],
  );

const projectRows = async (h: Harness) =>
  (await h.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM projects`))[0]!.n;

/** The content the target holds: hash → when it was last written. */
async function contents(target: BackupTarget): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for await (const page of target.blobs.list()) {
    for (const e of page) if (e.id) found.set(e.id, e.modified.getTime());
  }
  return found;
}

/** A backup as `backup` reports and lists it. */
interface Listed {
  id: string;
  project: string;
  time: string;
  files: number;
  bytes: number;
  kept?: number;
  uploaded?: { files: number; bytes: number };
}
type Backups = { backups: Listed[] };

interface Kind {
  name: string;
  open(): Promise<{
    target: BackupTarget;
    corrupt: (hash: string) => Promise<void>;
    close: () => Promise<void>;
  }>;
  /** Requests of `method` for content the target was sent so far (S3: under its blobs/). */
  requests?: (method: 'PUT' | 'GET' | 'HEAD') => number;
}

let s3: TestS3Server;
const kinds: Kind[] = [
  {
    name: 'a directory target',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'stowage-backup-target-'));
      const target = await openBackupTarget(loadConfig({ BACKUP_TARGET: dir }).backup.target!);
      return {
        target,
        corrupt: (hash) =>
          writeFile(join(dir, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash), 'tampered'),
        close: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'an S3 target',
    async open() {
      s3 = await startS3Server('backups');
      const config = loadConfig({
        BACKUP_TARGET: `s3://${s3.bucket}/nightly`,
        BACKUP_S3_ENDPOINT: s3.endpoint,
        BACKUP_S3_FORCE_PATH_STYLE: 'true',
        BACKUP_S3_ACCESS_KEY_ID: 'S3RVER',
        BACKUP_S3_SECRET_ACCESS_KEY: 'S3RVER',
      });
      const target = await openBackupTarget(config.backup.target!);
      return {
        target,
        // S3 puts whatever it is given under the key: the content no longer matches its name.
        corrupt: (hash) => target.blobs.put(hash, Buffer.from('tampered')),
        close: () => s3.close(),
      };
    },
    requests: (method) =>
      s3.requests().filter((r) => r.startsWith(`${method} /${s3.bucket}/nightly/blobs/`)).length,
  },
];

describe.each(kinds)('backups to $name', (kind) => {
  let h: Harness;
  let target: BackupTarget;
  let corrupt: (hash: string) => Promise<void>;
  let closeTarget: () => Promise<void>;
  let first: Record<string, any>;

  beforeAll(async () => {
    ({ target, corrupt, close: closeTarget } = await kind.open());
    h = await createHarness({ backup: { target, intervalHours: 0, retentionDays: 30 } });
    await populate(h, 'demo', TREE);
  });
  afterAll(async () => {
    await h.close();
    await closeTarget();
  });

  it('a first backup sends each content once, and is listed with its time, files and bytes', async () => {
    const before = Date.now();
    const { backups } = await h.ok('backup', { project: 'demo' });
    first = backups[0];
    const bytes = TREE.reduce((n, f) => n + f.content.byteLength, 0);
    const unique = new Set(TREE.map((f) => sha256(f.content)));
    expect(first).toMatchObject({ project: 'demo', files: TREE.length, bytes });
    expect(first.uploaded).toEqual({
      files: unique.size,
      bytes: [...unique].reduce(
        (n, hash) => n + TREE.find((f) => sha256(f.content) === hash)!.content.length,
        0,
      ),
    });
    expect([...(await contents(target)).keys()].sort()).toEqual([...unique].sort());
    const listed = await h.ok('backup', { list: true, project: 'demo' });
    expect(listed.backups).toEqual([
      { id: first.id, project: 'demo', time: first.time, files: TREE.length, bytes },
    ]);
    expect(Date.parse(first.time)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(first.time)).toBeLessThanOrEqual(Date.now());
  });

  it('a second backup of an unchanged project sends no content: it costs a manifest', async () => {
    const held = await contents(target);
    const requests = (['PUT', 'GET', 'HEAD'] as const).map((m) => kind.requests?.(m));
    const { backups } = await h.ok('backup', { project: 'demo' });
    expect(backups[0]).toMatchObject({ files: TREE.length, uploaded: { files: 0, bytes: 0 } });
    expect(backups[0].id).not.toBe(first.id);
    expect(await contents(target)).toEqual(held); // not one written again
    // Nor read or looked up: the previous backup's content was verified when it was written.
    if (kind.requests)
      expect((['PUT', 'GET', 'HEAD'] as const).map((m) => kind.requests!(m))).toEqual(requests);
    expect((await target.listManifests('demo')).length).toBe(2);
  });

  it('after 50 of 200 files changed, a backup sends only those 50', async () => {
    const files = Array.from({ length: 200 }, (_, i) => ({
      path: `src/f${i}.ts`,
      content: `// file ${i}\n`,
    }));
    await h.ok('create_project', { name: 'wide' });
    await h.ok('write_files', { project: 'wide', files });
    await h.ok('commit_task', { project: 'wide', task: { id: 1, title: 'wide' } });
    await h.ok('backup', { project: 'wide' });
    const held = await contents(target);
    const changed = files.slice(0, 50).map((f) => ({ ...f, content: `${f.content}// changed\n` }));
    await h.ok('write_files', { project: 'wide', files: changed });
    await h.ok('commit_task', { project: 'wide', task: { id: 2, title: 'fifty' } });
    const puts = kind.requests?.('PUT');
    const { backups } = await h.ok('backup', { project: 'wide' });
    expect(backups[0]).toMatchObject({ files: 200, uploaded: { files: 50 } });
    const now = await contents(target);
    const added = [...now.keys()].filter((hash) => !held.has(hash)).sort();
    expect(added).toEqual(changed.map((f) => sha256(Buffer.from(f.content))).sort());
    if (kind.requests) expect(kind.requests('PUT') - puts!).toBe(50);
  });

  it('lists every project: its newest backup and how many are kept', async () => {
    const { backups } = await h.ok<Backups>('backup', { list: true });
    expect(backups.map((b) => [b.project, b.kept, b.files])).toEqual([
      ['demo', 2, TREE.length],
      ['wide', 2, 200],
    ]);
  });

  it('restores into a new project, every file byte for byte, with its settings', async () => {
    const restored = await h.ok('restore_project', { project: 'demo-copy', backup: first.id });
    expect(restored).toMatchObject({
      project: 'demo-copy',
      status: 'active',
      files: TREE.length,
      backup: first.id,
    });
    const strip = (rows: Awaited<ReturnType<typeof committed>>) =>
      rows.map(({ path, blob_hash, size, mode }) => ({ path, blob_hash, size, mode }));
    expect(strip(await committed(h, 'demo-copy'))).toEqual(strip(await committed(h, 'demo')));
    const read = await h.ok('read_file', { project: 'demo-copy', path: 'bin/data.bin' });
    expect(Buffer.from(read.content, 'base64').equals(binary)).toBe(true);
    expect(await h.ok('get_project', { project: 'demo-copy' })).toMatchObject({
      description: 'the demo project',
      tags: ['kept'],
    });
  });

  it('restores over an archived project (its newest backup), and its archive goes', async () => {
    const before = await committed(h, 'demo');
    await h.ok('archive_project', { project: 'demo' });
    // An archived project is backed up from its archive: the same tree, no content to send.
    for (let i = 0; i < 2; i++) {
      const { backups } = await h.ok<Backups>('backup', { project: 'demo' });
      expect(backups[0]).toMatchObject({ files: TREE.length, uploaded: { files: 0, bytes: 0 } });
    }
    const restored = await h.ok('restore_project', { project: 'demo', backup: 'demo' });
    expect(restored).toMatchObject({ project: 'demo', status: 'active', files: TREE.length });
    expect(await committed(h, 'demo')).toEqual(before.map((r) => ({ ...r })));
    const project = await h.stowage.projects.get('demo');
    expect(await h.stowage.artifacts.list(project.id)).toEqual([]);
  });

  it('restores over a deleted project', async () => {
    const before = await committed(h, 'wide');
    await h.ok('delete_project', { project: 'wide' });
    await h.ok('restore_project', { project: 'wide', backup: 'wide' });
    const strip = (rows: typeof before) =>
      rows.map(({ path, blob_hash, mode }) => ({ path, blob_hash, mode }));
    expect(strip(await committed(h, 'wide'))).toEqual(strip(before));
  });

  it('refuses an unknown backup, a bad id and an active project, changing nothing', async () => {
    const before = await snapshot(h.db);
    const projects = await projectRows(h);
    expect(
      await h.fail('restore_project', { project: 'x', backup: 'demo/20200101T000000000Z-abcdef' }),
    ).toMatch(
      /^not_found: backup demo\/20200101T000000000Z-abcdef not found .*backup \{list: true, project: 'demo'\}/,
    );
    expect(await h.fail('restore_project', { project: 'x', backup: 'no-such' })).toMatch(
      /^not_found: no backup of project 'no-such'/,
    );
    expect(await h.fail('restore_project', { project: 'x', backup: '../etc' })).toMatch(
      /^invalid_input: backup '\.\.\/etc' is neither a backup id/,
    );
    expect(await h.fail('restore_project', { project: 'demo', backup: 'demo' })).toMatch(
      /^conflict: project 'demo' exists and is active: restore the backup under another name/,
    );
    expect(await h.fail('backup', { project: 'no-such' })).toMatch(/^not_found: project 'no-such' not found/);
    expect(await h.fail('backup', { project: 'demo', listing: true })).toMatch(
      /^invalid_input: unknown argument listing/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    expect(await projectRows(h)).toBe(projects);
  });

  it('refuses a restore from damaged content, naming the file, and creates nothing', async () => {
    await populate(h, 'fragile', [
      { path: 'ok.txt', content: Buffer.from('fine\n') },
      { path: 'bad.txt', content: Buffer.from(`will be damaged ${randomBytes(8).toString('hex')}\n`) },
    ]);
    await h.ok('backup', { project: 'fragile' });
    const [bad] = await committed(h, 'fragile'); // bad.txt sorts first
    await corrupt(bad!.blob_hash);
    const before = await snapshot(h.db);
    const projects = await projectRows(h);
    expect(await h.fail('restore_project', { project: 'fragile-copy', backup: 'fragile' })).toMatch(
      /^invalid_input: backup fragile\/\S+ is damaged in the backup target: the content of bad\.txt is missing or does not match its SHA-256; nothing was restored/,
    );
    expect(await snapshot(h.db)).toEqual(before);
    expect(await projectRows(h)).toBe(projects);

    // A backup that needs that content and has no earlier backup naming it reads it, finds it
    // damaged and writes it anew: the older backup restores again.
    const same = await h.stowage.workspace.read('fragile', alice, 'bad.txt');
    await populate(h, 'fragile-twin', [{ path: 'same.txt', content: Buffer.from(same.content) }]);
    const twin = (await h.ok('backup', { project: 'fragile-twin' })).backups[0];
    expect(twin.uploaded.files).toBe(1);
    await h.ok('restore_project', { project: 'fragile-copy', backup: 'fragile' });
  });

  it('prunes backups past the retention and the content only they named, never the newest', async () => {
    const tree = (x: string, y: string) => [
      { path: 'x.txt', content: Buffer.from(x) },
      { path: 'y.txt', content: Buffer.from(y) },
    ];
    const salt = randomBytes(6).toString('hex');
    await populate(h, 'aging', tree(`x1 ${salt}`, `y1 ${salt}`));
    const a = (await h.ok('backup', { project: 'aging' })).backups[0];
    await sleep(10);
    await h.stowage.workspace.write('aging', alice, tree(`x1 ${salt}`, `y2 ${salt}`));
    await h.ok('commit_task', { project: 'aging', task: { id: 2, title: 'y2' } });
    const b = (await h.ok('backup', { project: 'aging' })).backups[0];
    await sleep(10);
    await h.stowage.workspace.write('aging', alice, tree(`x3 ${salt}`, `y2 ${salt}`));
    await h.ok('commit_task', { project: 'aging', task: { id: 3, title: 'x3' } });
    const c = (await h.ok('backup', { project: 'aging' })).backups[0];
    const hashOf = (text: string) => sha256(Buffer.from(`${text} ${salt}`));

    // Today, nothing is past 30 days.
    expect(await h.stowage.backups.prune()).toMatchObject({ manifests: 0, blobs: { count: 0 } });
    // 30 days after b was taken: a is past the retention, b and c are not.
    const report = await h.stowage.backups.prune(new Date(Date.parse(b.time) + 30 * DAY - 1));
    const ids = (await h.ok<Backups>('backup', { list: true, project: 'aging' })).backups.map((k) => k.id);
    expect(ids).toEqual([c.id, b.id]);
    expect(ids).not.toContain(a.id);
    const held = await contents(target);
    expect(held.has(hashOf('y1'))).toBe(false); // named by a alone
    for (const kept of ['x1', 'y2', 'x3']) expect(held.has(hashOf(kept)), kept).toBe(true);
    expect(report.manifests).toBeGreaterThanOrEqual(1);

    // Years later every project keeps its newest backup, whole and restorable.
    await h.stowage.backups.prune(new Date(Date.now() + 3650 * DAY));
    const listed = await h.ok<Backups>('backup', { list: true });
    expect(listed.backups.every((k) => k.kept === 1)).toBe(true);
    expect(
      (await h.ok<Backups>('backup', { list: true, project: 'aging' })).backups.map((k) => k.id),
    ).toEqual([c.id]);
    expect([...(await contents(target)).keys()]).not.toContain(hashOf('x1'));
    await h.ok('restore_project', { project: 'aging-copy', backup: 'aging' });
    const strip = (rows: Awaited<ReturnType<typeof committed>>) =>
      rows.map(({ path, blob_hash }) => [path, blob_hash]);
    expect(strip(await committed(h, 'aging-copy'))).toEqual(strip(await committed(h, 'aging')));
  });
});

describe('scheduled backups', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-backup-schedule-'));
    h = await createHarness();
    await populate(h, 'nightly', TREE.slice(0, 2));
  });
  afterAll(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('two instances on one database take one backup per interval between them', async () => {
    const target = await openBackupTarget(loadConfig({ BACKUP_TARGET: dir }).backup.target!);
    const intervalHours = 0.0004; // 1.44 s
    const otherPool = createSql(h.db.url, { max: 3 });
    const lines: string[] = [];
    const logger = (name: string) =>
      pino(
        { level: 'debug' },
        { write: (l: string) => lines.push(`${name} ${(JSON.parse(l) as { msg: string }).msg}`) },
      );
    const backup = { target, intervalHours, retentionDays: 30 };
    const instances = [
      createStowage({ ...h.deps, backup }),
      createStowage({ ...h.deps, sql: otherPool, backup }),
    ];
    // The second starts half an interval later: its rounds fall between the first one's.
    const schedules = [instances[0]!.backups.startSchedule(logger('i0'))];
    await sleep(intervalHours * 1_800_000);
    schedules.push(instances[1]!.backups.startSchedule(logger('i1')));
    try {
      const deadline = Date.now() + 25_000;
      while ((await target.listManifests('nightly')).length < 3 && Date.now() < deadline) await sleep(200);
    } finally {
      await Promise.all(schedules.map((s) => s.stop()));
      await otherPool.close();
    }
    const { backups } = await instances[0]!.backups.list('nightly').then((b) => ({ backups: b.reverse() }));
    expect(backups.length).toBeGreaterThanOrEqual(3);
    const times = backups.map((b) => Date.parse(b.time));
    for (let i = 1; i < times.length; i++) {
      expect(times[i]! - times[i - 1]!, `backups ${i - 1} and ${i}`).toBeGreaterThanOrEqual(
        intervalHours * 3_600_000,
      );
    }
    // Both instances ran rounds; only a due project was backed up in any of them.
    expect(lines.some((l) => l.startsWith('i0 backup round'))).toBe(true);
    expect(lines.some((l) => l.startsWith('i1 backup round'))).toBe(true);
  });

  it('is off without a target, and a call says how to configure one', async () => {
    await expect(h.stowage.backups.list()).rejects.toThrow(
      /backups are not configured on this server: set BACKUP_TARGET/,
    );
    expect(await h.fail('backup', {})).toMatch(/^unavailable: backups are not configured .*BACKUP_TARGET/);
  });
});

describe('backup settings', () => {
  it('read a directory or an s3:// target with its own S3 settings', () => {
    expect(loadConfig({ BACKUP_TARGET: 'backups' }, '/srv').backup).toEqual({
      target: { kind: 'dir', where: '/srv/backups', directory: '/srv/backups' },
      intervalHours: 0,
      retentionDays: 30,
    });
    const s3 = loadConfig({
      BACKUP_TARGET: 's3://bucket/a/b/',
      BACKUP_INTERVAL_HOURS: '24',
      S3_ACCESS_KEY_ID: 'main',
      S3_SECRET_ACCESS_KEY: 'main',
    }).backup;
    expect(s3).toMatchObject({
      target: {
        kind: 's3',
        where: 's3://bucket/a/b/',
        s3: { bucket: 'bucket', prefix: 'a/b/', credentials: undefined },
      },
      intervalHours: 24,
    });
  });

  it.each([
    [{ BACKUP_INTERVAL_HOURS: '24' }, /BACKUP_INTERVAL_HOURS needs BACKUP_TARGET/],
    [
      { BACKUP_TARGET: 'https://example.com/x' },
      /BACKUP_TARGET: 'https:\/\/example.com\/x' is neither a directory nor s3/,
    ],
    [
      { BACKUP_TARGET: '/tmp/b', BACKUP_S3_ENDPOINT: 'http://127.0.0.1:9000' },
      /BACKUP_S3_ENDPOINT apply to an s3:\/\/ BACKUP_TARGET only/,
    ],
    [
      { BACKUP_TARGET: 's3://Backups/x' },
      /BACKUP_TARGET: 'Backups' is not a bucket name: give s3:\/\/bucket\/prefix/,
    ],
    [
      { BACKUP_TARGET: 's3://bucket', BACKUP_S3_ACCESS_KEY_ID: 'k' },
      /set both BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY/,
    ],
    [
      { STOWAGE_HOME: '/srv/home', BACKUP_TARGET: '/srv/home/backups' },
      /BACKUP_TARGET \/srv\/home\/backups is inside STOWAGE_HOME/,
    ],
    [{ BACKUP_RETENTION_DAYS: '-1' }, /BACKUP_RETENTION_DAYS/],
  ])('refuse %o naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
  });
});

describe('a backup outlives STOWAGE_HOME (the built CLI, embedded Postgres)', () => {
  let parent: string;
  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist/index.js')))
      throw new Error('run `npm run build` first (npm test does)');
    parent = await mkdtemp(join(tmpdir(), 'stowage-home-loss-'));
    await chmod(parent, 0o755); // when root, the embedded Postgres runs as postgres and must pass through
  });
  afterAll(() => rm(parent, { recursive: true, force: true }));

  it(
    'is listed and restored into a fresh home after the first one is deleted',
    { timeout: 180_000 },
    async () => {
      const source = join(parent, 'source');
      const files: Record<string, Buffer> = {
        'README.md': Buffer.from('# lost and found\n'),
        'src/app.ts': Buffer.from('export const app = 1;\n'),
        'assets/logo.bin': randomBytes(100_000),
      };
      for (const [path, content] of Object.entries(files)) {
        await mkdir(join(source, path, '..'), { recursive: true });
        await writeFile(join(source, path), content);
      }
      await writeFile(join(source, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
      const target = join(parent, 'target');
      const cli = async (home: string, ...args: string[]) => {
        const done = await spawnStowage(args, {
          STOWAGE_HOME: home,
          BACKUP_TARGET: target,
          STOWAGE_PRINCIPAL: 'ops',
        }).done;
        expect(done.code, `${args.join(' ')}: ${done.stderr}`).toBe(0);
        return done;
      };
      const first = join(parent, 'home-1');
      await cli(first, 'import', 'lost', source);
      await cli(first, 'import', 'found', source);
      const taken = await cli(first, 'backup');
      expect(taken.stderr).toMatch(/backed up found as found\/\S+: 4 file\(s\)/);
      expect(taken.stderr).toMatch(/backed up lost as lost\/\S+: 4 file\(s\), \d+ bytes; sent 0 new content/);
      await rm(first, { recursive: true, force: true });
      expect(existsSync(first)).toBe(false);

      const second = join(parent, 'home-2');
      const listed = await cli(second, 'backup', '--list');
      expect(
        listed.stdout
          .trim()
          .split('\n')
          .map((l) => l.split('\t')[0]!.split('/')[0]),
      ).toEqual(['found', 'lost']);
      const restored = await cli(second, 'restore-backup', '--all');
      expect(restored.stderr).toMatch(/restored found from found\/\S+: 4 file\(s\)/);
      expect(restored.stderr).toMatch(/restored lost from lost\/\S+: 4 file\(s\)/);
      const copy = join(parent, 'copy');
      await cli(second, 'checkout', 'lost', copy);
      for (const [path, content] of Object.entries(files)) {
        expect((await readFile(join(copy, path))).equals(content), path).toBe(true);
      }
      expect((await stat(join(copy, 'run.sh'))).mode & 0o111).not.toBe(0);
      // Bad input changes nothing: restoring over the active project is refused.
      const again = await spawnStowage(['restore-backup', 'lost'], {
        STOWAGE_HOME: second,
        BACKUP_TARGET: target,
      }).done;
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/project 'lost' exists and is active/);
    },
  );
});
