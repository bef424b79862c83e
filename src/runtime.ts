// Opens the storage a process runs on: Postgres (DATABASE_URL, or the embedded default in
// STOWAGE_HOME, supervised: restarted if it dies), migrations, the blob store (S3 or the local
// directory), the blob cache and the backup target (BACKUP_TARGET); and settles, in the
// background, pushes a dead process left. Scratch directories dead processes left in
// STOWAGE_HOME/tmp are removed on the way in, this process's own on the way out
// (git/scratch-dirs.ts).
import { join } from 'node:path';
import type { Config } from './config.js';
import { createGitAdapters } from './git/index.js';
import { removeDeadScratch, removeOwnScratch } from './git/scratch-dirs.js';
import type { Logger } from './logger.js';
import { createFsArtifactStore } from './store/blobs/artifact-store.js';
import { createBlobCache } from './store/blobs/blob-cache.js';
import { createFsBlobStore } from './store/blobs/blob-store-fs.js';
import { startEmbeddedPostgres } from './store/db/embedded-postgres.js';
import { migrate } from './store/db/migrate.js';
import { warmConnection } from './store/db/queries/index.js';
import { createSql } from './store/db/sql.js';
import { startIntentRecovery } from './store/commits/index.js';
import { openBackupTarget } from './store/backups/index.js';
import { createStowage, type Stowage } from './store/stowage.js';

export interface Runtime {
  stowage: Stowage;
  close(): Promise<void>;
}

export async function openDatabase(config: Config, logger: Logger) {
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ home: config.home, logger });
  const sql = createSql(config.databaseUrl ?? embedded!.url, {
    historyCoalesceSeconds: config.history.coalesceSeconds,
  });
  // The Sql outlives a restart of the embedded Postgres: callers hold it, so it is repointed.
  embedded?.onMoved((url) => {
    logger.warn({ port: embedded.port }, 'the embedded Postgres came back on another port');
    sql.repoint(url);
  });
  return {
    sql,
    embedded: embedded !== undefined,
    async close() {
      await sql.close();
      await embedded?.release();
    },
  };
}

export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const db = await openDatabase(config, logger);
  try {
    const { applied } = await migrate(db.sql);
    if (applied.length) logger.info({ applied }, 'migrations applied');
    await warmConnection(db.sql); // the pool keeps that connection (sql.ts: min)
    // Its successor, once the pool has ended it for its age (sql.ts), is warmed the same way.
    db.sql.pool.on('remove', () => {
      if (db.sql.pool.totalCount > 0 || db.sql.pool.ending) return;
      warmConnection(db.sql).catch((err: unknown) =>
        logger.debug({ err }, 'could not warm a new connection'),
      );
    });
  } catch (err) {
    await db.close();
    throw err;
  }
  // Where git/index.ts puts the scratch directories of ephemeral clones.
  const scratch = join(config.home, 'tmp');
  try {
    const removed = await removeDeadScratch(scratch, config.lifecycle.cleanupGraceMinutes * 60_000);
    if (removed.length) logger.info({ removed }, 'scratch directories of dead processes removed');
  } catch (err) {
    logger.warn({ err }, 'could not remove the scratch directories of dead processes');
  }
  // The S3 SDK is loaded only when S3 is configured: it is most of what a start loads.
  const s3 = config.s3
    ? await Promise.all([
        import('./store/blobs/blob-store-s3.js'),
        import('./store/blobs/artifact-store-s3.js'),
      ])
    : undefined;
  const blobs = s3 ? s3[0].createS3BlobStore(config.s3!) : createFsBlobStore(join(config.home, 'blobs'));
  const cache = createBlobCache(blobs, config.cacheMaxBytes);
  const artifacts = s3
    ? s3[1].createS3ArtifactStore(config.s3!)
    : createFsArtifactStore(join(config.home, 'artifacts'));
  logger.info(
    { database: db.embedded ? `embedded (${join(config.home, 'pg')})` : 'DATABASE_URL', blobs: blobs.kind },
    'storage ready',
  );
  const stowage = createStowage({
    sql: db.sql,
    blobs,
    artifacts,
    cache,
    limits: { ...config.limits, totalBytes: config.lifecycle.totalBytes },
    git: createGitAdapters(config.git, config.home),
    lifecycle: config.lifecycle,
    backup: {
      ...config.backup,
      target: config.backup.target ? await openBackupTarget(config.backup.target) : undefined,
    },
    logger,
    groupCommit: config.groupCommit,
  });
  // A commit whose process died between push and apply is applied from start-up on, not only at
  // the workspace's next commit_task. Rows younger than a push can take (up to four attempts and
  // three fetches, each stopped after GIT_TIMEOUT_MS of silence) are left to their process.
  const recovery = startIntentRecovery((age, signal) => stowage.commits.settleAbandoned(age, signal), {
    minAgeMs: 8 * config.git.timeoutMs,
    logger,
  });
  return {
    stowage,
    async close() {
      await recovery.stop();
      await removeOwnScratch(scratch).catch((err: unknown) =>
        logger.warn({ err }, "could not remove this process's scratch directories"),
      );
      await db.close();
    },
  };
}
