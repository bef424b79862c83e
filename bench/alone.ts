// Running one bench section by itself (`tsx bench/<section>.ts`): on a fresh embedded Postgres,
// or DATABASE_URL's, migrated, in a scratch home removed afterwards.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { startEmbeddedPostgres } from '../src/store/db/embedded-postgres.js';
import { migrate } from '../src/store/db/migrate.js';
import { createSql } from '../src/store/db/sql.js';

/** Whether the module at `url` is the one `tsx` was asked to run. */
export const ranDirectly = (url: string) =>
  process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href;

/** Runs `section` and prints its lines. */
export async function runAlone(
  name: string,
  section: (databaseUrl: string, home: string) => Promise<string[]>,
): Promise<void> {
  const home = await mkdtemp(join(tmpdir(), `stowage-bench-${name}-`));
  await chmod(home, 0o755); // when root, the embedded Postgres runs as postgres and must pass through
  const pg = process.env.DATABASE_URL
    ? undefined
    : await startEmbeddedPostgres({ home, logger: pino({ level: 'silent' }) });
  try {
    const databaseUrl = process.env.DATABASE_URL ?? pg!.url;
    const sql = createSql(databaseUrl);
    await migrate(sql);
    await sql.close();
    for (const line of await section(databaseUrl, home)) console.log(line);
  } finally {
    await pg?.release();
    await rm(home, { recursive: true, force: true });
  }
}
