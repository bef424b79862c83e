// Migrations: applied once each, in order, safe to run twice and from several instances at once.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, inject, it } from 'vitest';
import { migrate } from '../src/store/db/migrate.js';
import { createSql } from '../src/store/db/sql.js';

const serverUrl = inject('databaseUrl');
const name = `stowage_migrate_${randomBytes(4).toString('hex')}`;
const url = new URL(serverUrl);
url.pathname = `/${name}`;

async function admin(query: string) {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  await c.query(query);
  await c.end();
}

afterAll(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

it('applies every migration once even when three instances start together, then nothing', async () => {
  await admin(`CREATE DATABASE ${name}`);
  const instances = [0, 1, 2].map(() => createSql(url.toString(), { max: 2 }));
  try {
    const results = await Promise.all(instances.map((sql) => migrate(sql)));
    const applied = results.flatMap((r) => r.applied);
    expect(applied.length).toBeGreaterThan(0);
    expect(new Set(applied).size).toBe(applied.length); // no migration ran twice
    const rows = await instances[0]!.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => r.version)).toEqual([...rows.map((r) => r.version)].sort((a, b) => a - b));
    expect(rows).toHaveLength(applied.length);
    expect((await migrate(instances[0]!)).applied).toEqual([]);
    const tables = await instances[0]!.query<{ tablename: string }>(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
    );
    expect(tables.map((t) => t.tablename)).toEqual([
      'api_tokens',
      'artifacts',
      'blobs',
      'checkpoints',
      'commits',
      'drafts',
      'events',
      'files',
      'project_languages',
      'projects',
      'schema_migrations',
      'search_texts',
      'secret_findings',
      'versions',
      'workspaces',
    ]);
  } finally {
    await Promise.all(instances.map((sql) => sql.close()));
  }
});
