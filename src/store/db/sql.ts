// A small SQL client over pg.Pool: queries, transactions on one pooled connection, and the
// translation of Postgres errors into StowageErrors where they first cross the boundary.
//
// Decisions:
// - A lost connection (a terminated backend, a restarted or killed server, a reset socket) is
//   `unavailable`, never an internal error: the agent can retry, and the pool replaces it.
// - pg emits 'error' on a connection that dies, and pg-pool listens only while it is idle: every
//   connection we check out gets a listener until it is released, or the process would crash on
//   Node's unhandled 'error' event; a connection that failed is released with its error, which
//   makes the pool discard it instead of handing it to the next caller.
// - A transaction lost before COMMIT was sent never committed: it changed nothing, and the retry
//   is safe. One lost while its COMMIT was in flight may have committed; the message says so.
import type { Socket } from 'node:net';
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

/** A statement and its parameters, to open a transaction with (Sql.transaction's `opening`). */
export interface Statement {
  text: string | Prepared;
  values?: readonly unknown[];
}

export interface Transaction extends Queryable {
  /** Runs the transaction's last statement with COMMIT sent right behind it, in one round trip;
   *  `fn` must run nothing after it. If the statement fails, Postgres answers the COMMIT by
   *  rolling back; if the connection is lost meanwhile, the outcome is in doubt, and it says so. */
  commitWith: <R = Row>(text: string | Prepared, params?: readonly unknown[]) => Promise<R[]>;
}

export interface Sql extends Queryable {
  /** Runs `fn` inside BEGIN/COMMIT on one connection; rolls back if it throws. `opening`
   *  statements are sent with BEGIN without waiting for its answer (the pool's connections
   *  pipeline), run in order, and `fn` gets the rows of each: under load every round trip waits
   *  its turn in a busy event loop, and the autosave path is one transaction per batch of
   *  writes, whose lock and view read this makes one trip, and whose store and COMMIT another
   *  (`commitWith`). */
  transaction<T>(
    fn: (tx: Transaction, opened: Row[][]) => Promise<T>,
    opening?: readonly Statement[],
  ): Promise<T>;
  /** A dedicated connection for session-scoped work (advisory locks). Its loss never crashes the
   *  process; release() discards it if it was lost. Its errors are pg's, untranslated. */
  connect(): Promise<pg.PoolClient>;
  readonly pool: pg.Pool;
  /** New connections go to `url` from now on: the embedded Postgres came back on another port.
   *  Open ones are left to fail (their server is gone) and be discarded. */
  repoint(url: string): void;
  close(): Promise<void>;
}

// pg returns int8 as string by default; our bigints (sizes, versions) fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

const CONNECT_TIMEOUT_MS = 10_000; // a server that accepts TCP but never answers (stopped, wedged)

export function createSql(
  connectionString: string,
  options: {
    max?: number;
    applicationName?: string;
    /** Draft versions of a path younger than this coalesce (migration 0013); default 60. */
    historyCoalesceSeconds?: number | undefined;
    /** A connection's age at which the pool replaces it; default 600 (see below). */
    maxLifetimeSeconds?: number;
  } = {},
): Sql {
  const coalesce = options.historyCoalesceSeconds;
  // No parallel plans: Stowage's queries are short, and starting a plan's workers (a read of a
  // 2,000-file view at a point: 79 ms) cost many times the scan they would share (10 ms).
  const settings = ['-c max_parallel_workers_per_gather=0'];
  if (coalesce !== undefined) settings.push(`-c stowage.history_coalesce_seconds=${Number(coalesce)}`);
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    // One connection stays open when idle, its caches warm (runtime.ts): a new one costs the
    // next call a connection's start and the catalog lookups of every table it touches.
    min: 1,
    application_name: options.applicationName ?? 'stowage',
    options: settings.join(' '),
    idleTimeoutMillis: 30_000,
    // A connection is replaced once it has served 10 minutes (when next idle, never mid-call):
    // Postgres keeps a function's and a trigger's plans for the connection's life, made with the
    // tables as they were at its first call, and the connection kept open would otherwise serve
    // a fresh install's plans, made on empty tables, for as long as the server runs.
    maxLifetimeSeconds: options.maxLifetimeSeconds ?? 600,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    // Queries are sent as they are made, not each after the last one's answer: a transaction's
    // opening statements, and its last statement with COMMIT, cost one round trip each.
    // Everything else awaits each query before making the next, as before.
    pipeline: true,
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

  /** A checked-out client that survives losing its connection; see the Decisions above. */
  async function checkout(): Promise<{ client: pg.PoolClient; lost: () => Error | undefined }> {
    let lost: Error | undefined;
    const onError = (err: Error) => {
      lost ??= err;
    };
    const client = await new Promise<pg.PoolClient>((resolve, reject) => {
      pool.connect((err, connected) => {
        if (err || !connected) {
          const failure = translatePgError(err);
          return reject(failure instanceof Error ? failure : new Error('no connection from the pool'));
        }
        // Now, in pg-pool's callback: it has just removed its own listener, and a FATAL that came
        // in the same packet as "ready" would be emitted before an awaiting caller resumed.
        connected.on('error', onError);
        resolve(connected);
      });
    });
    // A query failing for a lost connection marks it lost at once: pg emits 'error' only when the
    // socket's end arrives, which can be after the caller has released the client.
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) {
        result.catch((err: unknown) => {
          if (isConnectionError(err)) lost ??= err as Error;
        });
      }
      return result;
    }) as typeof client.query;
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      client.removeListener('error', onError);
      delete (client as { query?: unknown }).query; // back to pg's own, for the pool's next user
      release(err || lost);
    };
    return { client, lost: () => lost };
  }

  return {
    pool,
    query: (text, params) => run(pool, text, params),
    async transaction(fn, opening = []) {
      const { client, lost } = await checkout();
      let discard: Error | undefined; // a connection in doubt goes, rather than back to the pool
      let committing: Promise<unknown> | undefined; // COMMIT, once commitWith has sent it
      const tx: Transaction = {
        query: (text, params) => run(client, text, params),
        commitWith: async <R = Row>(text: string | Prepared, params?: readonly unknown[]) => {
          const [last, commit] = together(
            client,
            () => [run<R>(client, text, params), client.query('COMMIT')] as const,
          );
          committing = commit;
          committing.catch(() => undefined); // heard below, once the statement has been
          try {
            return await last;
          } catch (err) {
            throw isConnectionError(err) ? commitInDoubt(err) : err;
          }
        },
      };
      try {
        const [, ...opened] = await Promise.all(
          together(client, () => [
            run<Row>(client, 'BEGIN'),
            ...opening.map((s) => run<Row>(client, s.text, s.values)),
          ]),
        );
        const result = await fn(tx, opened);
        if (!committing) {
          // Lost meanwhile: COMMIT would fail unsent, so the transaction certainly did not commit.
          const gone = lost();
          if (gone) throw translatePgError(gone);
          committing = client.query('COMMIT');
        }
        await committing.catch((err: unknown) => {
          throw isConnectionError(err) ? commitInDoubt(err) : translatePgError(err);
        });
        return result;
      } catch (err) {
        if (isConnectionError(err)) discard = err as Error;
        else if (committing) {
          // COMMIT went out behind a statement that failed, and Postgres rolled back in answer:
          // once that is heard, the connection is idle again (a lost one is marked by lost()).
          await committing.catch(() => undefined);
        } else if (!lost()) {
          await client.query('ROLLBACK').catch((rollback: unknown) => {
            discard = rollback instanceof Error ? rollback : new Error(String(rollback));
          });
        }
        throw err;
      } finally {
        client.release(lost() ?? discard);
      }
    },
    async connect() {
      return (await checkout()).client;
    },
    repoint(url) {
      // pg-pool builds every new client from pool.options (as does the change feed's listener).
      pool.options.connectionString = url;
    },
    close: () => pool.end(),
  };
}

/** Runs `send`, whose queries pg writes to the socket as each is made, with the socket corked:
 *  they leave in one write. Written one by one, each woke Postgres to answer it alone. */
function together<T>(client: pg.PoolClient, send: () => T): T {
  const stream = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  stream.cork();
  try {
    return send();
  } finally {
    stream.uncork();
  }
}

// SQLSTATEs of a connection that is gone or cannot be had: class 08 (connection exception) is
// matched by prefix; 57P01-03 admin shutdown, crash shutdown, cannot connect now (starting up,
// recovering); 53300 too many connections.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
// Node socket and DNS errors on the way to the server.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// pg and pg-pool say so in words only (no code): the socket closed, a client made unusable by
// that, or no connection within connectionTimeoutMillis.
const LOST_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect)/;

/** Whether `err` says the connection to Postgres is lost or cannot be made (so: retry later). */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof StowageError) return err.code === 'unavailable' && err.details?.connection === true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    return code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || SOCKET_CODES.has(code);
  }
  return LOST_MESSAGES.test(err.message);
}

export function translatePgError(err: unknown): unknown {
  if (err instanceof StowageError) return err;
  const code = (err as { code?: string } | null)?.code;
  if (code === '23505') return new StowageError('already_exists', 'that already exists');
  if (isConnectionError(err)) {
    return new StowageError('unavailable', 'the metadata database is unavailable; retry shortly', {
      cause: typeof code === 'string' ? code : 'connection lost',
      connection: true,
    });
  }
  if (err instanceof Error && err.message === 'Cannot use a pool after calling end on the pool') {
    return new StowageError('unavailable', 'the server is shutting down; retry shortly');
  }
  return err;
}

function commitInDoubt(err: unknown): StowageError {
  return new StowageError(
    'unavailable',
    'the connection to the metadata database was lost while committing, so this change may or may ' +
      'not have been saved: read it back before you retry shortly',
    {
      // What a lost connection was called where it was first translated (translatePgError).
      cause:
        err instanceof StowageError
          ? err.details?.cause
          : ((err as { code?: string }).code ?? 'connection lost'),
      connection: true,
    },
  );
}
