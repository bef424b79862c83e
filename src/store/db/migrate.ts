// Applies the numbered SQL files in migrations/ in order, once each, under an advisory lock so
// that any number of instances can start at the same time.
import { readdir, readFile } from 'node:fs/promises';
import type { Sql } from './sql.js';

const MIGRATIONS_DIR = new URL('../../../migrations/', import.meta.url);
const LOCK_KEY = 0x5707_a6e1; // "stowage" migrations

export interface MigrationResult {
  applied: string[];
  current: number;
}

export async function migrate(sql: Sql, dir: URL = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  const client = await sql.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const applied: string[] = [];
    for (const file of files) {
      const version = Number(file.slice(0, 4));
      if (done.has(version)) continue;
      const text = await readFile(new URL(file, dir), 'utf8');
      try {
        await client.query('BEGIN');
        await client.query(text);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(file);
    }
    const current = files.length ? Math.max(...files.map((f) => Number(f.slice(0, 4)))) : 0;
    return { applied, current };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}
