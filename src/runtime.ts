// Opens the storage a process runs on: Postgres (DATABASE_URL, or the embedded default in
// STOWAGE_HOME, supervised: restarted if it dies), migrations, the blob store (S3 or the local
// directory) and the blob cache.
import { join } from 'node:path';
import type { Config } from './config.js';
import { createGitAdapters } from './git/index.js';
import type { Logger } from './logger.js';
import { createFsArtifactStore } from './store/blobs/artifact-store.js';
import { createS3ArtifactStore } from './store/blobs/artifact-store-s3.js';
import { createBlobCache } from './store/blobs/blob-cache.js';
import { createFsBlobStore } from './store/blobs/blob-store-fs.js';
import { createS3BlobStore } from './store/blobs/blob-store-s3.js';
import { startEmbeddedPostgres } from './store/db/embedded-postgres.js';
import { migrate } from './store/db/migrate.js';
import { createSql } from './store/db/sql.js';
import { createStowage, type Stowage } from './store/stowage.js';

export interface Runtime {
  stowage: Stowage;
  close(): Promise<void>;
}

export async function openDatabase(config: Config, logger: Logger) {
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ home: config.home, logger });
  const sql = createSql(config.databaseUrl ?? embedded!.url);
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
  } catch (err) {
    await db.close();
    throw err;
  }
  const blobs = config.s3 ? createS3BlobStore(config.s3) : createFsBlobStore(join(config.home, 'blobs'));
  const cache = createBlobCache(blobs, config.cacheMaxBytes);
  const artifacts = config.s3
    ? createS3ArtifactStore(config.s3)
    : createFsArtifactStore(join(config.home, 'artifacts'));
  logger.info(
    { database: db.embedded ? `embedded (${join(config.home, 'pg')})` : 'DATABASE_URL', blobs: blobs.kind },
    'storage ready',
  );
  return {
    stowage: createStowage({
      sql: db.sql,
      blobs,
      artifacts,
      cache,
      limits: { ...config.limits, totalBytes: config.lifecycle.totalBytes },
      git: createGitAdapters(config.git, config.home),
      lifecycle: config.lifecycle,
      groupCommit: config.groupCommit,
    }),
    close: () => db.close(),
  };
}
