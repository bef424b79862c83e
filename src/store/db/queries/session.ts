// Statements about a connection or a transaction rather than a table: the readiness probe, a
// read-only snapshot, the session advisory lock that lets one instance sweep at a time, and the
// transaction advisory locks that keep a backup target's pruning apart from backups being taken.
import type pg from 'pg';
import type { Queryable } from '../sql.js';

/** Whether Postgres answers; throws when it does not. */
export const ping = (db: Queryable) => db.query('SELECT 1');

/** Loads into a connection's caches what the first calls after a start read: the catalog entries
 *  of the tables and indexes every file call touches, and the search function's plan. A first
 *  search_files paid 17 ms for them (3.7× a warm one). Then as many rows as a listing or a
 *  search of a large project reads, so that the client's row parsing is compiled before a call
 *  waits on it. */
export async function warmConnection(db: Queryable): Promise<void> {
  await db.query(
    `SELECT (SELECT count(*) FROM stowage_search_candidates(ARRAY[''], '%stowage%', false)),
            (SELECT count(*) FROM (SELECT 1 FROM files WHERE project_id = $1 LIMIT 1) f),
            (SELECT count(*) FROM (SELECT 1 FROM drafts WHERE project_id = $1 LIMIT 1) d),
            (SELECT count(*) FROM (SELECT 1 FROM versions WHERE project_id = $1 LIMIT 1) v),
            (SELECT count(*) FROM (SELECT 1 FROM projects WHERE name = '' LIMIT 1) p)`,
    ['00000000-0000-0000-0000-000000000000'],
  );
  await db.query(
    `SELECT 'src/warm/' || i AS path, md5(i::text) AS blob, i::bigint AS size, NULL::bytea AS content
     FROM generate_series(1, 4000) i`,
  );
}

/** Makes the transaction read only, on one snapshot of the database for all its statements. Its
 *  first statement. */
export async function readOnlySnapshot(tx: Queryable): Promise<void> {
  await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
}

/** Takes the session advisory lock `key` on a dedicated connection, if nobody holds it. */
export async function tryAdvisoryLock(client: pg.PoolClient, key: number): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
    key,
  ]);
  return rows[0]?.locked ?? false;
}

export async function advisoryUnlock(client: pg.PoolClient, key: number): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1)', [key]);
}

/** Takes the transaction advisory lock `key` shared (many holders at once), waiting for an
 *  exclusive holder; released when the transaction ends. */
export async function advisoryXactLockShared(tx: Queryable, key: number): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [key]);
}

/** Takes the transaction advisory lock `key` exclusively, if nobody holds it in any mode. */
export async function tryAdvisoryXactLock(tx: Queryable, key: number): Promise<boolean> {
  const [row] = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [key]);
  return row?.locked ?? false;
}
