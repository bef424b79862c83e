// A fresh, migrated database per test file on the suite's Postgres server, dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { migrate } from '../../src/store/db/migrate.js';
import { createSql, type Sql } from '../../src/store/db/sql.js';

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export async function createTestDatabase(
  options: { historyCoalesceSeconds?: number | undefined } = {},
): Promise<TestDatabase> {
  const serverUrl = inject('databaseUrl');
  const name = `stowage_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const sql = createSql(url.toString(), options);
  await migrate(sql);
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.close();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
