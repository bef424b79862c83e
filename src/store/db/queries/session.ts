// Statements about a connection or a transaction rather than a table: the readiness probe, a
// read-only snapshot, and the session advisory lock that lets one instance sweep at a time.
import type pg from 'pg';
import type { Queryable } from '../sql.js';

/** Whether Postgres answers; throws when it does not. */
export const ping = (db: Queryable) => db.query('SELECT 1');

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
