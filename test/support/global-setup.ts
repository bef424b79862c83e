// Starts the real services the suite needs once: Postgres (the CI service when
// TEST_DATABASE_URL is set, otherwise an embedded one) whose URL each test file receives.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/store/db/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    project.provide('databaseUrl', url);
    return () => undefined;
  }
  const home = await mkdtemp(join(tmpdir(), 'stowage-test-pg-'));
  await chmod(home, 0o755); // when root, Postgres runs as the postgres user, which must traverse it
  try {
    const db = await startEmbeddedPostgres({ home });
    // A superuser URL: test/support/db.ts creates one database per test file from it.
    project.provide('databaseUrl', db.url);
    return async () => {
      await db.release();
      await rm(home, { recursive: true, force: true });
    };
  } catch (err) {
    await rm(home, { recursive: true, force: true });
    throw err;
  }
}
