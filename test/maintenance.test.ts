// cleanup, the sweeper, delete_project, storage_stats and quotas, through a real MCP client
// against real Postgres and a real blob store. Jobs are made as projects of kind 'job' whose
// status and expiry are set with SQL, independent of the job tools.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createS3ArtifactStore } from '../src/store/blobs/artifact-store-s3.js';
import type { BlobStore } from '../src/store/blobs/blob-store.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createS3BlobStore } from '../src/store/blobs/blob-store-s3.js';
import { createSql } from '../src/store/db/sql.js';
import { runCleanup } from '../src/store/maintenance/index.js';
import { createStowage } from '../src/store/stowage.js';
import { createHarness, snapshot, type Harness } from './support/harness.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';

const INLINE = 1024;
/** Content stored as a blob (over the inline limit), distinct per tag. */
const big = (tag: string) => `${tag}\n${'x'.repeat(2000)}`;
const hashOf = (content: string) => createHash('sha256').update(content).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean> | boolean) {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Draft versions past retention go at once: a discarded draft's blob is then unreferenced, as
 *  it is 30 days on by default (history.test.ts tests retention itself). */
const NO_HISTORY_RETENTION = { historyRetentionDays: 0 };

/** Makes every blob (or the given ones) older than the default 60-minute grace period. */
const age = (h: Harness, hashes?: string[]) =>
  h.db.sql.query(
    `UPDATE blobs SET created_at = now() - interval '2 hours' WHERE $1::text[] IS NULL OR hash = ANY($1)`,
    [hashes ?? null],
  );

const blobRow = async (h: Harness, hash: string) =>
  (await h.db.sql.query(`SELECT 1 FROM blobs WHERE hash = $1`, [hash])).length === 1;

/** Row counts plus what lives outside the four tables snapshot() covers. */
async function state(h: Harness) {
  const [row] = await h.db.sql.query<Record<string, unknown>>(
    `SELECT (SELECT count(*) FROM blobs)::int AS blobs, (SELECT count(*) FROM artifacts)::int AS artifacts,
            (SELECT count(*) FROM projects)::int AS projects,
            (SELECT string_agg(name || ':' || status, ',' ORDER BY name) FROM projects) AS statuses`,
  );
  return { ...(await snapshot(h.db)), ...row };
}

async function addArtifact(h: Harness, project: string, expiresAt?: Date) {
  const { id } = await h.stowage.projects.get(project);
  return h.stowage.artifacts.create(id, {
    kind: 'job_zip',
    name: `${project}.zip`,
    source: Readable.from([Buffer.from(`zip of ${project}`)]),
    files: () => 1,
    expiresAt,
  });
}

const artifactBytesExist = (h: Harness, id: string) =>
  h.stowage.artifacts.store.read(id).then(
    (stream) => {
      stream.destroy();
      return true;
    },
    () => false,
  );

/** A job with one committed file and one draft; `expiresIn` as a Postgres interval. */
async function job(h: Harness, name: string, expiresIn: string, status = 'complete') {
  await h.stowage.projects.create({ name, kind: 'job' }, 'alice');
  await h.ok('write_file', { project: name, path: 'committed.txt', content: big(`${name} committed`) });
  await h.ok('commit_task', { project: name, task: { id: '1', title: 'Generate' } });
  await h.ok('write_file', { project: name, path: 'draft.txt', content: big(`${name} draft`) });
  await h.db.sql.query(`UPDATE projects SET status = $2, expires_at = now() + $3::interval WHERE name = $1`, [
    name,
    status,
    expiresIn,
  ]);
}

describe('cleanup', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ limits: { inlineBytes: INLINE }, lifecycle: NO_HISTORY_RETENTION });
  });
  afterAll(() => h.close());

  it('removes exactly the expired jobs, artifacts and unreferenced blobs; dry_run first changes nothing', async () => {
    await h.ok('create_project', { name: 'live' });
    await h.ok('write_file', { project: 'live', path: 'kept.txt', content: big('live committed') });
    await h.ok('commit_task', { project: 'live', task: { id: '1', title: 'Set up' } });
    await h.ok('write_file', { project: 'live', path: 'draft.txt', content: big('live draft') });
    await h.ok('write_file', { project: 'live', path: 'small.txt', content: 'inline' });
    await h.ok('write_file', { project: 'live', path: 'dropped.txt', content: big('dropped') });
    await h.ok('discard_changes', { project: 'live', paths: ['dropped.txt'] });
    const liveExpired = await addArtifact(h, 'live', new Date(Date.now() - 60_000));
    const liveKept = await addArtifact(h, 'live');
    await job(h, 'job-old', '-1 hour');
    const jobZip = await addArtifact(h, 'job-old', new Date(Date.now() + 3_600_000));
    await job(h, 'job-new', '47 hours');
    await age(h);

    const gone = ['job-old committed', 'job-old draft', 'dropped'].map((t) => hashOf(big(t)));
    const kept = ['live committed', 'live draft', 'job-new committed', 'job-new draft'].map((t) =>
      hashOf(big(t)),
    );
    const before = await state(h);
    const dry = await h.ok('cleanup', { dry_run: true });
    expect(await state(h)).toEqual(before);
    for (const hash of [...gone, ...kept]) expect(await h.blobs.has(hash)).toBe(true);
    expect(await artifactBytesExist(h, liveExpired.id)).toBe(true);
    expect(dry).toMatchObject({
      dry_run: true,
      expired_jobs: { count: 1, names: ['job-old'], files: 2 },
      purged_projects: { count: 0 },
      expired_artifacts: { count: 1, bytes: liveExpired.size },
      blobs: { count: 3, bytes: ['job-old committed', 'job-old draft', 'dropped'].map(big).join('').length },
    });

    const done = await h.ok('cleanup', {});
    expect(done).toEqual({ ...dry, dry_run: false });
    for (const hash of gone) {
      expect(await h.blobs.has(hash)).toBe(false);
      expect(await blobRow(h, hash)).toBe(false);
    }
    for (const hash of kept) expect(await h.blobs.has(hash)).toBe(true);
    expect(await artifactBytesExist(h, liveExpired.id)).toBe(false);
    expect(await artifactBytesExist(h, jobZip.id)).toBe(false);
    expect(await artifactBytesExist(h, liveKept.id)).toBe(true);
    expect((await h.stowage.artifacts.list(liveKept.project_id)).map((a) => a.id)).toEqual([liveKept.id]);

    const expired = await h.ok('get_project', { project: 'job-old' });
    expect(expired).toMatchObject({ status: 'expired', stats: { files: 0, bytes: 0, drafts: [] } });
    const [rows] = await h.db.sql.query<Record<string, number>>(
      `SELECT (SELECT count(*) FROM files WHERE project_id = $1)::int AS files,
              (SELECT count(*) FROM drafts WHERE project_id = $1)::int AS drafts,
              (SELECT count(*) FROM events WHERE project_id = $1)::int AS events,
              (SELECT count(*) FROM artifacts WHERE project_id = $1)::int AS artifacts`,
      [jobZip.project_id],
    );
    expect(rows).toEqual({ files: 0, drafts: 0, events: 0, artifacts: 0 });
    expect(await h.fail('write_file', { project: 'job-old', path: 'late.txt', content: 'too late' })).toMatch(
      /^conflict: job 'job-old' is expired.*create a new job/,
    );

    for (const [project, path, tag] of [
      ['live', 'kept.txt', 'live committed'],
      ['live', 'draft.txt', 'live draft'],
      ['job-new', 'committed.txt', 'job-new committed'],
      ['job-new', 'draft.txt', 'job-new draft'],
    ] as const) {
      expect((await h.ok('read_file', { project, path })).content).toBe(big(tag));
    }
    expect((await h.ok('read_file', { project: 'live', path: 'small.txt' })).content).toBe('inline');

    const again = await runCleanup(h.stowage, { dryRun: false });
    expect(again.report.bytes_freed).toBe(0);
    expect(again.summary).toMatch(/^removed 0 expired job\(s\), .* 0 blob\(s\): 0 bytes freed$/);
  });

  it('keeps an unreferenced blob within the grace period and removes it after', async () => {
    await h.ok('create_project', { name: 'grace' });
    await h.ok('write_file', { project: 'grace', path: 'a.txt', content: big('fresh garbage') });
    await h.ok('discard_changes', { project: 'grace' });
    const hash = hashOf(big('fresh garbage'));
    expect((await h.ok('cleanup', {})).blobs.count).toBe(0);
    expect(await h.blobs.has(hash)).toBe(true);
    await age(h, [hash]);
    expect((await h.ok('cleanup', {})).blobs).toEqual({ count: 1, bytes: big('fresh garbage').length });
    expect(await h.blobs.has(hash)).toBe(false);
    expect(await blobRow(h, hash)).toBe(false);
  });

  it('with older_than_hours also expires finished jobs and purges soft-deleted projects', async () => {
    await job(h, 'job-done', '40 hours');
    await job(h, 'job-busy', '40 hours', 'generating');
    await h.db.sql.query(
      `UPDATE projects SET updated_at = now() - interval '3 hours' WHERE name IN ('job-done', 'job-busy')`,
    );
    await h.ok('create_project', { name: 'binned' });
    await h.ok('write_file', { project: 'binned', path: 'a.txt', content: 'bye' });
    await h.ok('delete_project', { project: 'binned' });
    await h.db.sql.query(`UPDATE projects SET deleted_at = now() - interval '3 hours' WHERE name = 'binned'`);

    expect((await h.ok('cleanup', { dry_run: true, older_than_hours: 4 })).expired_jobs.count).toBe(0);
    const report = await h.ok('cleanup', { older_than_hours: 2 });
    expect(report.expired_jobs.names).toEqual(['job-done']);
    expect(report.purged_projects).toEqual({ count: 1, names: ['binned'], files: 1, bytes: 3 });
    expect((await h.ok('get_project', { project: 'job-busy' })).status).toBe('generating');
    expect(await h.db.sql.query(`SELECT 1 FROM projects WHERE name = 'binned'`)).toEqual([]);
  });
});

describe('cleanup of what crashes leave behind', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ limits: { inlineBytes: INLINE } });
  });
  afterAll(() => h.close());

  const TWO_HOURS_AGO = new Date(Date.now() - 2 * 3_600_000);
  const blobPath = (hash: string) => join(h.home, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash);
  const artifactPath = (name: string) => join(h.home, 'artifacts', name);
  /** Bytes in the blob store without a row: a crash between a blob and its row. */
  async function strayBlob(tag: string, old: boolean) {
    const hash = hashOf(big(tag));
    await h.blobs.put(hash, Buffer.from(big(tag)));
    if (old) await utimes(blobPath(hash), TWO_HOURS_AGO, TWO_HOURS_AGO);
    return hash;
  }
  /** An artifact's bytes without a row: a crash before its transaction committed. */
  async function strayArtifact(tag: string, old: boolean) {
    const id = randomUUID();
    const { size } = await h.stowage.artifacts.store.write(id, Readable.from([Buffer.from(tag)]));
    if (old) await utimes(artifactPath(id), TWO_HOURS_AGO, TWO_HOURS_AGO);
    return { id, size };
  }
  /** An archive row and bytes as a crash between them and the archive's transaction left them
   *  in earlier versions (written apart from the transaction, no expiry). */
  async function strayArchive(project: string, hoursAgo: number) {
    const artifact = await h.stowage.artifacts.create((await h.stowage.projects.get(project)).id, {
      kind: 'archive',
      name: `${project}.tar.gz`,
      source: Readable.from([Buffer.from(`archive of ${project} ${hoursAgo}`)]),
      files: () => 1,
    });
    await h.db.sql.query(`UPDATE artifacts SET created_at = now() - $2 * interval '1 hour' WHERE id = $1`, [
      artifact.id,
      hoursAgo,
    ]);
    return artifact;
  }
  const artifactRows = async () =>
    (await h.db.sql.query<{ id: string }>(`SELECT id::text AS id FROM artifacts ORDER BY id`)).map(
      (r) => r.id,
    );

  it('reclaims stray blobs, stray artifacts, temp files and dead archives past the grace period, and nothing else', async () => {
    // What must stay: a committed blob (its bytes old, its row there), an archived project's
    // archive, and strays younger than the grace period.
    await h.ok('create_project', { name: 'kept' });
    await h.ok('write_file', { project: 'kept', path: 'a.txt', content: big('kept committed') });
    await h.ok('commit_task', { project: 'kept', task: { id: '1', title: 'Add a' } });
    const committed = hashOf(big('kept committed'));
    await utimes(blobPath(committed), TWO_HOURS_AGO, TWO_HOURS_AGO);
    const freshBlob = await strayBlob('fresh stray', false);
    const freshArtifact = await strayArtifact('fresh stray zip', false);
    await h.ok('create_project', { name: 'shelved' });
    await h.ok('write_file', { project: 'shelved', path: 'b.txt', content: big('shelved committed') });
    await h.ok('commit_task', { project: 'shelved', task: { id: '1', title: 'Add b' } });
    const olderArchive = await strayArchive('shelved', 3);
    const { artifact: current } = await h.ok('archive_project', { project: 'shelved' });
    await h.db.sql.query(`UPDATE artifacts SET created_at = now() - interval '2 hours' WHERE id = $1`, [
      current.id,
    ]);

    // What must go.
    const oldBlob = await strayBlob('old stray', true);
    const blobTemp = join(
      h.home,
      'blobs',
      oldBlob.slice(0, 2),
      oldBlob.slice(2, 4),
      `.${oldBlob}.0123456789ab.tmp`,
    );
    await writeFile(blobTemp, 'half a blob');
    await utimes(blobTemp, TWO_HOURS_AGO, TWO_HOURS_AGO);
    const oldArtifact = await strayArtifact('old stray zip', true);
    const artifactTemp = artifactPath(`${randomUUID()}.0123456789ab.tmp`);
    await writeFile(artifactTemp, 'half a zip');
    await utimes(artifactTemp, TWO_HOURS_AGO, TWO_HOURS_AGO);
    await h.ok('create_project', { name: 'restored' });
    const deadArchive = await strayArchive('restored', 2);

    const rowsBefore = await artifactRows();
    const dry = await h.ok('cleanup', { dry_run: true });
    expect(dry).toMatchObject({
      blobs: { count: 2, bytes: big('old stray').length + 'half a blob'.length },
      expired_artifacts: {
        count: 4,
        bytes: oldArtifact.size + 'half a zip'.length + olderArchive.size + deadArchive.size,
      },
    });
    expect(await artifactRows()).toEqual(rowsBefore);
    expect(await h.blobs.has(oldBlob)).toBe(true);

    expect(await h.ok('cleanup', {})).toEqual({ ...dry, dry_run: false });
    expect(await h.blobs.has(oldBlob)).toBe(false);
    expect(await readdir(join(h.home, 'blobs', oldBlob.slice(0, 2), oldBlob.slice(2, 4)))).toEqual([]);
    expect(await artifactBytesExist(h, oldArtifact.id)).toBe(false);
    expect(await artifactBytesExist(h, olderArchive.id)).toBe(false);
    expect(await artifactBytesExist(h, deadArchive.id)).toBe(false);
    expect((await readdir(join(h.home, 'artifacts'))).sort()).toEqual([current.id, freshArtifact.id].sort());
    expect(await artifactRows()).toEqual([current.id]);
    for (const hash of [committed, freshBlob]) expect(await h.blobs.has(hash)).toBe(true);
    expect((await h.ok('read_file', { project: 'kept', path: 'a.txt' })).content).toBe(big('kept committed'));
    await h.ok('restore_project', { project: 'shelved' });
    expect((await h.ok('read_file', { project: 'shelved', path: 'b.txt' })).content).toBe(
      big('shelved committed'),
    );
    expect((await h.ok('cleanup', {})).bytes_freed).toBe(0);
  });

  it('leaves the stores alone when scoped to some projects (strays are a question over all of them)', async () => {
    const hash = await strayBlob('scoped stray', true);
    const { report } = await runCleanup(h.stowage, { dryRun: false, within: (p) => p.name === 'kept' });
    expect(report.blobs).toEqual({ count: 0, bytes: 0 });
    expect(await h.blobs.has(hash)).toBe(true);
    expect((await h.ok('cleanup', {})).blobs.count).toBe(1);
  });
});

describe('cleanup of what crashes leave behind, on S3', () => {
  let s3: TestS3Server;
  let h: Harness;
  // S3 keeps Last-Modified in whole seconds: a grace period of 3 s, waited out.
  const GRACE_MINUTES = 0.05;
  beforeAll(async () => {
    s3 = await startS3Server();
    h = await createHarness({
      limits: { inlineBytes: INLINE },
      blobs: createS3BlobStore(s3.config),
      artifacts: createS3ArtifactStore(s3.config),
      lifecycle: { cleanupGraceMinutes: GRACE_MINUTES },
    });
  });
  afterAll(async () => {
    await h.close();
    await s3.close();
  });

  it('reclaims objects without a row, listed with ListObjectsV2, and keeps those with one', async () => {
    await h.ok('create_project', { name: 'kept' });
    await h.ok('write_file', { project: 'kept', path: 'a.txt', content: big('kept on s3') });
    await h.ok('commit_task', { project: 'kept', task: { id: '1', title: 'Add a' } });
    const stray = hashOf(big('stray on s3'));
    await h.blobs.put(stray, Buffer.from(big('stray on s3')));
    const zip = randomUUID();
    const { size } = await h.stowage.artifacts.store.write(zip, Readable.from([Buffer.from('stray zip')]));
    await sleep(GRACE_MINUTES * 60_000 + 1500);

    const report = await h.ok('cleanup', {});
    expect(report).toMatchObject({
      blobs: { count: 1, bytes: big('stray on s3').length },
      expired_artifacts: { count: 1, bytes: size },
    });
    expect(s3.requests().some((r) => /^GET \/[^/?]+\/?\?.*list-type=2/.test(r))).toBe(true);
    expect(await h.blobs.has(stray)).toBe(false);
    expect(await artifactBytesExist(h, zip)).toBe(false);
    expect(await h.blobs.has(hashOf(big('kept on s3')))).toBe(true);
    expect((await h.ok('read_file', { project: 'kept', path: 'a.txt' })).content).toBe(big('kept on s3'));
  });
});

describe('blob collection racing a writer that reuses the blob', () => {
  let h: Harness;
  /** Blob deletions wait here while armed. */
  let gate: { entered: () => void; released: Promise<void> } | undefined;
  beforeAll(async () => {
    const store = createFsBlobStore(join(await mkdtemp(join(tmpdir(), 'stowage-gc-')), 'blobs'));
    const gated: BlobStore = {
      ...store,
      async delete(hash) {
        if (gate) {
          gate.entered();
          await gate.released;
        }
        return store.delete(hash);
      },
    };
    h = await createHarness({
      limits: { inlineBytes: INLINE },
      blobs: gated,
      lifecycle: NO_HISTORY_RETENTION,
    });
    await h.ok('create_project', { name: 'p' });
  });
  afterEach(() => {
    gate = undefined;
  });
  afterAll(() => h.close());

  /** An old blob nothing references: written, discarded, aged. */
  async function garbage(tag: string) {
    await h.ok('write_file', { project: 'p', path: `${tag}.txt`, content: big(tag) });
    await h.ok('discard_changes', { project: 'p', paths: [`${tag}.txt`] });
    await age(h, [hashOf(big(tag))]);
    expect((await h.ok('cleanup', { dry_run: true })).blobs.count).toBe(1);
    return hashOf(big(tag));
  }

  const lockWaits = async () =>
    (
      await h.db.sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      )
    )[0]!.n;

  it('a write arriving while the blob is being deleted waits, then stores it again', async () => {
    const hash = await garbage('during');
    let entered!: () => void;
    let release!: () => void;
    const inDelete = new Promise<void>((r) => (entered = r));
    gate = { entered, released: new Promise<void>((r) => (release = r)) };
    const cleaning = h.call('cleanup', {});
    await inDelete; // the row is deleted and locked, the bytes not yet
    let written = false;
    const writing = h.call('write_file', { project: 'p', path: 'again.txt', content: big('during') });
    void writing.then(() => (written = true));
    await until('the writer to wait on the blob row', async () => (await lockWaits()) > 0);
    expect(written).toBe(false);
    release();
    expect((await cleaning).structuredContent).toMatchObject({ blobs: { count: 1 } });
    expect((await writing).isError).toBeFalsy();
    expect((await h.ok('read_file', { project: 'p', path: 'again.txt' })).content).toBe(big('during'));
    expect(await h.blobs.has(hash)).toBe(true);
    expect(await blobRow(h, hash)).toBe(true);
  });

  it('a write that touched the blob before cleanup keeps it, though its draft is not in yet', async () => {
    const hash = await garbage('before');
    // Hold the project row: the write stores (touches) its blob, then waits for the row lock.
    const holder = await h.db.sql.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM projects WHERE name = 'p' FOR UPDATE`);
      const writing = h.call('write_file', { project: 'p', path: 'before.txt', content: big('before') });
      await until('the writer to wait on the project row', async () => (await lockWaits()) > 0);
      expect((await h.ok('cleanup', {})).blobs.count).toBe(0);
      await holder.query('COMMIT');
      expect((await writing).isError).toBeFalsy();
    } finally {
      holder.release();
    }
    expect((await h.ok('read_file', { project: 'p', path: 'before.txt' })).content).toBe(big('before'));
    expect(await h.blobs.has(hash)).toBe(true);
  });

  it('a write reusing a condemned blob whose bytes are already gone stores them again', async () => {
    const hash = await garbage('condemned');
    // What a deletion round that failed after removing the bytes leaves behind.
    await h.db.sql.query(`UPDATE blobs SET created_at = '-infinity' WHERE hash = $1`, [hash]);
    await h.blobs.delete(hash);
    await h.ok('write_file', { project: 'p', path: 'condemned.txt', content: big('condemned') });
    expect(await h.blobs.has(hash)).toBe(true);
    expect((await h.ok('cleanup', {})).blobs.count).toBe(0);
    expect((await h.ok('read_file', { project: 'p', path: 'condemned.txt' })).content).toBe(big('condemned'));
  });
});

describe('the sweeper', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  const recorder = (lines: string[], instance: string) =>
    pino(
      { level: 'debug' },
      { write: (line: string) => lines.push(`${instance} ${(JSON.parse(line) as { msg: string }).msg}`) },
    );

  it('runs a round on one of two instances at a time', async () => {
    const otherPool = createSql(h.db.url, { max: 3 });
    const instances = {
      a: h.stowage.maintenance,
      b: createStowage({ ...h.deps, sql: otherPool }).maintenance,
    };
    const lines: string[] = [];
    const rounds: string[] = [];
    let active = 0;
    let maxActive = 0;
    let entered!: () => void;
    let release!: () => void;
    const holding = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    const extra = (name: string) => async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      rounds.push(name);
      if (rounds.length === 1) {
        entered();
        await released; // hold the round (and the lock) until the other instance has skipped
      }
      active--;
    };
    const sweepers = Object.entries(instances).map(([name, m]) =>
      m.startSweeper({ intervalMinutes: 0.0005, logger: recorder(lines, name), extra: extra(name) }),
    );
    try {
      await holding;
      const other = rounds[0] === 'a' ? 'b' : 'a';
      const skips = () =>
        lines.filter((l) => l === `${other} cleanup round skipped: another instance is sweeping`);
      await until('the other instance to skip twice', () => skips().length >= 2);
      expect(rounds).toHaveLength(1);
      release();
      await until('more rounds', () => rounds.length >= 4);
    } finally {
      release();
      await Promise.all(sweepers.map((s) => s.stop()));
      await otherPool.close();
    }
    expect(maxActive).toBe(1);
    expect(lines.filter((l) => l.endsWith(' cleanup round')).length).toBeGreaterThanOrEqual(rounds.length);
  });

  it('stop() waits for the round in progress, and no round starts after it', async () => {
    let entered!: () => void;
    let release!: () => void;
    const inRound = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    let rounds = 0;
    const sweeper = h.stowage.maintenance.startSweeper({
      intervalMinutes: 0.0005,
      logger: recorder([], 'a'),
      extra: async () => {
        rounds++;
        entered();
        await released;
      },
    });
    await inRound;
    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await sleep(100);
    expect(stopped).toBe(false);
    release();
    await stopping;
    await sleep(100);
    expect(rounds).toBe(1);
  });
});

describe('delete_project', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ limits: { inlineBytes: INLINE } });
  });
  afterAll(() => h.close());

  it('soft: the project disappears, its name is free, its data stays', async () => {
    await h.ok('create_project', { name: 'soft' });
    await h.ok('write_file', { project: 'soft', path: 'a.txt', content: big('soft data') });
    const deleted = await h.ok('delete_project', { project: 'soft' });
    expect(deleted).toEqual({ project: 'soft', hard: false, files: 0, bytes_freed: 0 });
    const { projects } = await h.ok('list_projects', {});
    expect(projects.map((p: { name: string }) => p.name)).not.toContain('soft');
    expect(await h.fail('get_project', { project: 'soft' })).toMatch(/^not_found: project 'soft'/);
    expect(await h.fail('delete_project', { project: 'soft' })).toMatch(/^not_found: .*list_projects/);

    await h.ok('create_project', { name: 'soft' });
    expect((await h.ok('get_project', { project: 'soft' })).stats.files).toBe(0);
    expect(await h.fail('read_file', { project: 'soft', path: 'a.txt' })).toMatch(/^not_found/);
    const [row] = await h.db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM drafts d JOIN projects p ON p.id = d.project_id WHERE p.name = 'soft'`,
    );
    expect(row!.n).toBe(1); // the soft-deleted one's draft
  });

  it('hard: rows and artifact bytes go; its blobs go at the next cleanup', async () => {
    await h.ok('create_project', { name: 'hard' });
    await h.ok('write_file', { project: 'hard', path: 'c.txt', content: big('hard committed') });
    await h.ok('commit_task', { project: 'hard', task: { id: '1', title: 'Set up' } });
    await h.ok('write_file', { project: 'hard', path: 'small.txt', content: 'inline!' });
    const artifact = await addArtifact(h, 'hard');
    const id = artifact.project_id;

    const deleted = await h.ok('delete_project', { project: 'hard', hard: true });
    expect(deleted).toEqual({ project: 'hard', hard: true, files: 2, bytes_freed: 7 + artifact.size });
    const [rows] = await h.db.sql.query<Record<string, number>>(
      `SELECT (SELECT count(*) FROM projects WHERE id = $1)::int AS projects,
              (SELECT count(*) FROM files WHERE project_id = $1)::int AS files,
              (SELECT count(*) FROM drafts WHERE project_id = $1)::int AS drafts,
              (SELECT count(*) FROM events WHERE project_id = $1)::int AS events,
              (SELECT count(*) FROM commits WHERE project_id = $1)::int AS commits,
              (SELECT count(*) FROM artifacts WHERE project_id = $1)::int AS artifacts`,
      [id],
    );
    expect(rows).toEqual({ projects: 0, files: 0, drafts: 0, events: 0, commits: 0, artifacts: 0 });
    expect(await artifactBytesExist(h, artifact.id)).toBe(false);

    const hash = hashOf(big('hard committed'));
    expect(await h.blobs.has(hash)).toBe(true);
    await age(h, [hash]);
    await h.ok('cleanup', {});
    expect(await h.blobs.has(hash)).toBe(false);
  });

  // Drafts hold to their project by a check per statement (migration 0026), not a foreign key:
  // what the key promised still holds when a row is written or removed by any path.
  it('a draft naming no project is refused, and a project row removed takes its drafts', async () => {
    await h.ok('create_project', { name: 'keys' });
    await h.ok('write_files', {
      project: 'keys',
      files: [
        { path: 'a.txt', content: 'a' },
        { path: 'b.txt', content: 'b' },
      ],
    });
    const { id } = (await h.db.sql.query<{ id: string }>(`SELECT id FROM projects WHERE name = 'keys'`))[0]!;
    const drafts = async () =>
      (
        await h.db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM drafts WHERE project_id = $1`, [
          id,
        ])
      )[0]!.n;
    const insert = (project: string) =>
      h.db.sql.query(
        `INSERT INTO drafts (project_id, workspace, path, op, content, content_hash, size, version, updated_by)
         VALUES ($1, 'bench', 'c.txt', 'upsert', 'c', 'h', 1, 1, 'bench')`,
        [project],
      );
    await expect(insert(randomUUID())).rejects.toMatchObject({ code: '23503' });
    await expect(
      h.db.sql.query(`UPDATE drafts SET project_id = $2 WHERE project_id = $1`, [id, randomUUID()]),
    ).rejects.toMatchObject({ code: '23503' });
    expect(await drafts()).toBe(2);

    await h.db.sql.transaction(async (tx) => {
      await tx.query(`SELECT set_config('stowage.history', 'off', true)`);
      await tx.query(`DELETE FROM versions WHERE project_id = $1`, [id]);
      await tx.query(`DELETE FROM projects WHERE id = $1`, [id]);
    });
    expect(await drafts()).toBe(0);
  });

  it('hard on a name only soft deletes left behind removes those remains', async () => {
    await h.ok('create_project', { name: 'twice' });
    await h.ok('write_file', { project: 'twice', path: 'a.txt', content: 'one' });
    await h.ok('delete_project', { project: 'twice' });
    expect(await h.ok('delete_project', { project: 'twice', hard: true })).toMatchObject({ files: 1 });
    expect(await h.db.sql.query(`SELECT 1 FROM projects WHERE name = 'twice'`)).toEqual([]);
    expect(await h.fail('delete_project', { project: 'twice', hard: true })).toMatch(/^not_found/);
  });
});

describe('storage_stats', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ limits: { inlineBytes: INLINE } });
  });
  afterAll(() => h.close());

  it('counts shared content once in blobs and reports what dedup saves, overall and per project', async () => {
    const shared = big('shared');
    for (const name of ['one', 'two']) {
      await h.ok('create_project', { name });
      await h.ok('write_file', { project: name, path: 'shared.txt', content: shared });
    }
    await h.ok('commit_task', { project: 'one', task: { id: '1', title: 'Commit' } });
    await h.ok('write_file', { project: 'one', path: 'own.txt', content: big('own') });
    await h.ok('write_file', { project: 'two', path: 'note.md', content: 'small' });
    await h.ok('read_file', { project: 'one', path: 'shared.txt' });
    await job(h, 'gen', '10 hours', 'generating');
    await addArtifact(h, 'gen');
    const size = shared.length;
    const jobBytes = big('gen committed').length + big('gen draft').length;

    const all = await h.ok('storage_stats', {});
    expect(all).toMatchObject({
      projects: { active: 2 },
      files: { count: 2, bytes: size + big('gen committed').length },
      drafts: { count: 4, bytes: size + big('own').length + 5 + big('gen draft').length },
      dedup: { saved_bytes: size },
      blobs: { count: 4 },
      jobs: { generating: 1 },
      artifacts: { count: 1 },
      quota: { limit_bytes: null },
    });
    expect(all.dedup.referenced_bytes - all.dedup.stored_bytes).toBe(size);
    expect(all.dedup.stored_bytes).toBe(size + big('own').length + jobBytes);
    expect(all.cache.hits + all.cache.misses).toBeGreaterThan(0);
    expect(all.cache.hit_rate).toBeGreaterThanOrEqual(0);
    expect(all.cache.hit_rate).toBeLessThanOrEqual(1);

    const one = await h.ok('storage_stats', { project: 'one' });
    expect(one).toMatchObject({
      project: 'one',
      files: { count: 1, bytes: size },
      drafts: { count: 1, bytes: big('own').length },
      dedup: { saved_bytes: 0 },
      blobs: { count: 2, bytes: size + big('own').length },
      jobs: {},
      artifacts: { count: 0, bytes: 0 },
      quota: { used_bytes: size + big('own').length, limit_bytes: h.stowage.limits.projectBytes },
    });
    expect(one).not.toHaveProperty('projects');
    expect((await h.ok('storage_stats', { project: 'gen' })).jobs).toEqual({ generating: 1 });
    expect(await h.fail('storage_stats', { project: 'nope' })).toMatch(/^not_found: .*list_projects/);
  });
});

describe('quotas', () => {
  it('refuse a write over the project quota_bytes, or over the total, and store nothing', async () => {
    const h = await createHarness({ limits: { projectBytes: 5000, totalBytes: 1000 } });
    try {
      expect(await h.fail('create_project', { name: 'greedy', quota_bytes: 5001 })).toMatch(
        /^invalid_input: quota_bytes 5001 is over the server's project limit of 5000/,
      );
      const created = await h.ok('create_project', { name: 'tight', quota_bytes: 300 });
      expect(created.quota_bytes).toBe(300);
      await h.ok('write_file', { project: 'tight', path: 'a.txt', content: 'a'.repeat(200) });
      let before = await state(h);
      expect(
        await h.fail('write_file', { project: 'tight', path: 'b.txt', content: 'b'.repeat(101) }),
      ).toMatch(
        /^too_large: this write would bring project 'tight' to 301 bytes, over its quota_bytes of 300: delete files/,
      );
      expect(await state(h)).toEqual(before);
      expect((await h.ok('storage_stats', { project: 'tight' })).quota).toEqual({
        used_bytes: 200,
        limit_bytes: 300,
      });

      await h.ok('create_project', { name: 'big' });
      await h.ok('write_file', { project: 'big', path: 'a.txt', content: 'a'.repeat(700) });
      before = await state(h);
      expect(await h.fail('write_file', { project: 'big', path: 'b.txt', content: 'b'.repeat(101) })).toMatch(
        /^too_large: this write would bring all projects to 1001 bytes, over the total limit of 1000: .*cleanup, delete_project.*MAX_TOTAL_BYTES/,
      );
      expect(await state(h)).toEqual(before);
      expect((await h.ok('storage_stats', {})).quota).toEqual({ used_bytes: 900, limit_bytes: 1000 });

      // Soft-deleted projects no longer count against the total.
      await h.ok('delete_project', { project: 'tight' });
      await h.ok('write_file', { project: 'big', path: 'b.txt', content: 'b'.repeat(101) });
    } finally {
      await h.close();
    }
  });
});
