// Bench (issue 20): backups to a directory target. A daily backup of an unchanged 2,000-file
// project (a manifest only) and of one with 50 changed files, each vs `tar czf` of the same tree
// on disk (what a cron job without Stowage would run), median of 5 (unchanged) and 3 (changed).
// Run alone with `tsx bench/backups.ts` (embedded Postgres, or DATABASE_URL), or call
// benchBackups from bench/run.ts.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createGitAdapters } from '../src/git/index.js';
import { openBackupTarget } from '../src/store/backups/index.js';
import { createFsArtifactStore } from '../src/store/blobs/artifact-store.js';
import { createBlobCache } from '../src/store/blobs/blob-cache.js';
import { createFsBlobStore } from '../src/store/blobs/blob-store-fs.js';
import { createSql } from '../src/store/db/sql.js';
import { createStowage } from '../src/store/stowage.js';
import { median, ms, ratio, run, time } from './timing.js';
import { ranDirectly, runAlone } from './alone.js';

const FILES = 2000;
const line = 'export const value = compute(input, options); // a typical line of source\n';

export async function benchBackups({ databaseUrl, home }: { databaseUrl: string; home: string }) {
  const salt = Math.floor(Math.random() * 1e9); // content unique to this run's blob directory
  const content = (i: number, edit = '') => `// file ${i} ${salt}\n${line.repeat(55)}${edit}`;
  const paths = Array.from({ length: FILES }, (_, i) => `src/m${i % 40}/f${i}.ts`);
  const config = loadConfig({ BACKUP_TARGET: join(home, 'backup-target') });
  const blobs = createFsBlobStore(join(home, 'backup-blobs'));
  const sql = createSql(databaseUrl);
  const stowage = createStowage({
    sql,
    blobs,
    artifacts: createFsArtifactStore(join(home, 'backup-artifacts')),
    cache: createBlobCache(blobs, config.cacheMaxBytes),
    limits: config.limits,
    git: createGitAdapters(config.git, home),
    lifecycle: config.lifecycle,
    backup: { ...config.backup, target: await openBackupTarget(config.backup.target!) },
    logger: pino({ level: 'silent' }),
  });
  const project = `bench-backup-${salt}`;
  const actor = { principal: 'bench' };
  // The same tree on disk, for tar.
  const tree = join(home, 'backup-tree');
  const writeTree = (files: { path: string; content: Buffer }[]) =>
    Promise.all(
      files.map(async (f) => {
        await mkdir(dirname(join(tree, f.path)), { recursive: true });
        await writeFile(join(tree, f.path), f.content);
      }),
    );
  const commit = async (files: { path: string; content: Buffer }[], id: string) => {
    for (let i = 0; i < files.length; i += 200) {
      await stowage.workspace.write(project, actor, files.slice(i, i + 200));
    }
    await stowage.commits.commitTask(project, actor, { task: { id, title: 'Bench' } });
    await writeTree(files);
  };
  const tarball = join(home, 'backup-tree.tar.gz');
  const tar = () => run('tar', ['czf', tarball, '-C', tree, '.']);
  const lines: string[] = [];
  try {
    await stowage.projects.create({ name: project }, actor.principal);
    await commit(
      paths.map((path, i) => ({ path, content: Buffer.from(content(i)) })),
      'tree',
    );
    let full!: Awaited<ReturnType<typeof stowage.backups.take>>;
    const first = await time(async () => (full = await stowage.backups.take(project)));
    const tarBytes = await tar().then(() => stat(tarball));
    lines.push(
      `backup of a new 2,000-file project (${(full.bytes / 1e6).toFixed(1)} MB, every content sent and read back): ${ms(first)}; tar czf of the tree ${(tarBytes.size / 1e6).toFixed(2)} MB`,
    );

    const unchanged: number[] = [];
    const tars: number[] = [];
    let sent = 0;
    for (let r = 0; r < 5; r++) {
      unchanged.push(await time(async () => (sent += (await stowage.backups.take(project)).uploaded.bytes)));
      tars.push(await time(tar));
    }
    const manifests = await stowage.backups.list(project);
    const manifestBytes = (
      await stat(
        join(
          home,
          'backup-target',
          'manifests',
          `${manifests[0]!.id}-${FILES}f-${manifests[0]!.bytes}b.json`,
        ),
      )
    ).size;
    lines.push(
      `daily backup of an unchanged 2,000-file project (median of 5): ${ms(median(unchanged))}, ${sent} bytes of content sent, a ${(manifestBytes / 1024).toFixed(0)} KiB manifest, vs tar czf ${ms(median(tars))} → ${ratio(unchanged, tars)}`,
    );

    const changed: number[] = [];
    const changedTars: number[] = [];
    let changedSent = 0;
    for (let r = 0; r < 3; r++) {
      const fifty = Array.from({ length: 50 }, (_, k) => {
        const i = (k * 37 + r * 11) % FILES;
        return { path: paths[i]!, content: Buffer.from(content(i, `// change ${r}\n`)) };
      });
      await commit(fifty, `change-${r}`);
      changed.push(
        await time(async () => {
          changedSent += (await stowage.backups.take(project)).uploaded.files;
        }),
      );
      changedTars.push(await time(tar));
    }
    lines.push(
      `daily backup with 50 of 2,000 files changed (median of 3): ${ms(median(changed))}, ${changedSent / 3} contents sent each, vs tar czf ${ms(median(changedTars))} → ${ratio(changed, changedTars)}`,
    );
    return lines;
  } finally {
    await sql.close();
  }
}

if (ranDirectly(import.meta.url)) {
  await runAlone('backups', (databaseUrl, home) => benchBackups({ databaseUrl, home }));
}
