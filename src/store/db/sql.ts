// A small SQL client over pg.Pool: queries, transactions on one pooled connection, and the
// translation of Postgres errors into StowageErrors where they first cross the boundary.
import pg from 'pg';
import { StowageError } from '../../errors.js';

export type Row = Record<string, unknown>;

/** A statement Postgres parses once per connection and keeps under `name`. */
export interface Prepared {
  name: string;
  text: string;
}

export interface Queryable {
  query<R = Row>(text: string | Prepared, params?: readonly unknown[]): Promise<R[]>;
}

export interface Sql extends Queryable {
  /** Runs `fn` inside BEGIN/COMMIT on one connection; rolls back if it throws. `opening`,
   *  statements without parameters (literals escaped by pg's escapeLiteral), travel with BEGIN
   *  in one round trip, run in order, and `fn` gets the rows of each: under load every round
   *  trip waits its turn in a busy event loop, and the autosave path is one transaction per
   *  batch of writes. */
  transaction<T>(fn: (tx: Queryable, opened: Row[][]) => Promise<T>, opening?: readonly string[]): Promise<T>;
  /** A dedicated connection for session-scoped work (advisory locks, LISTEN). */
  connect(): Promise<pg.PoolClient>;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

// pg returns int8 as string by default; our bigints (sizes, versions) fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export function createSql(
  connectionString: string,
  options: { max?: number; applicationName?: string } = {},
): Sql {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'stowage',
    idleTimeoutMillis: 30_000,
  });
  // An idle client that errors (server restart) must not crash the process; the pool drops it.
  pool.on('error', () => undefined);

  const run = async <R>(
    client: pg.Pool | pg.PoolClient,
    text: string | Prepared,
    params?: readonly unknown[],
  ) => {
    try {
      const values = params as unknown[] | undefined;
      const result = await (typeof text === 'string'
        ? client.query(text, values)
        : client.query({ ...text, values }));
      return result.rows as R[];
    } catch (err) {
      throw translatePgError(err);
    }
  };

  return {
    pool,
    query: (text, params) => run(pool, text, params),
    async transaction(fn, opening) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw translatePgError(err);
      }
      try {
        let opened: Row[][] = [];
        if (opening?.length) {
          // One simple query of several statements: pg answers with one result each.
          const results = await client.query(['BEGIN', ...opening].join(';\n')).catch((err: unknown) => {
            throw translatePgError(err);
          });
          opened = (results as unknown as pg.QueryResult<Row>[]).slice(1).map((r) => r.rows);
        } else {
          await client.query('BEGIN');
        }
        const result = await fn({ query: (text, params) => run(client, text, params) }, opened);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async connect() {
      try {
        return await pool.connect();
      } catch (err) {
        throw translatePgError(err);
      }
    },
    close: () => pool.end(),
  };
}

export function translatePgError(err: unknown): unknown {
  if (err instanceof StowageError) return err;
  const code = (err as { code?: string } | null)?.code;
  if (code === '23505') return new StowageError('already_exists', 'that already exists');
  if (code === 'ECONNREFUSED' || code === '57P01' || code === '57P03' || code === '53300') {
    return new StowageError('unavailable', 'the metadata database is unavailable; retry shortly', {
      cause: code,
    });
  }
  return err;
}
