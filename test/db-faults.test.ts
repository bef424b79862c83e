// The SQL client when connections die under it (sql.ts), on the suite's Postgres: a backend of
// this test's own connections terminated mid-transaction, or while a dedicated connection is
// held. Nothing crashes the process (an unhandled 'error' event would fail this file), the caller
// is told `unavailable`, the transaction stored nothing, and the pool carries on.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageError } from '../src/errors.js';
import { freePort } from '../src/store/db/postmaster.js';
import { createSql, translatePgError, type Sql } from '../src/store/db/sql.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { waitUntil } from './support/embedded-admin.js';

let db: TestDatabase;
let admin: pg.Client;
const table = `fault_rows_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.sql.query(`CREATE TABLE ${table} (n int NOT NULL)`);
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

/** Terminates one backend of this test's own, and waits until it is gone. */
async function terminate(pid: number): Promise<void> {
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  await waitUntil(`backend ${pid} is gone`, async () => {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    return rowCount === 0;
  });
}

const count = async () =>
  (await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;

/** Waits for `promise` to reject, and returns what it rejected with. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('lost connections', () => {
  it('fail a transaction as unavailable, store nothing of it, and leave the pool working', async () => {
    const before = await count();
    const err = await rejectionOf(
      db.sql.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (1), (2)`);
        const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [
          { pid: number },
        ];
        await terminate(pid); // the connection dies while checked out, between two statements
        await tx.query(`INSERT INTO ${table} VALUES (3)`);
      }),
    );
    expect(err).toBeInstanceOf(StowageError);
    expect(err).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/retry shortly/) });
    expect(await count()).toBe(before);

    await db.sql.transaction((tx) => tx.query(`INSERT INTO ${table} VALUES (4)`));
    expect(await count()).toBe(before + 1);
  });

  it('fail a transaction lost before its COMMIT as unavailable, with nothing stored', async () => {
    const before = await count();
    const err = await rejectionOf(
      db.sql.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (5)`);
        const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [
          { pid: number },
        ];
        await terminate(pid); // fn then returns normally: only COMMIT is left
      }),
    );
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(await count()).toBe(before);
  });

  it('do not crash a process holding a dedicated connection, which release() then discards', async () => {
    const client = await db.sql.connect();
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [
      { pid: number },
    ];
    await terminate(pid);
    await expect(client.query('SELECT 1')).rejects.toThrow();
    client.release();

    const next = await db.sql.connect();
    try {
      const [{ other }] = (await next.query<{ other: number }>('SELECT pg_backend_pid() AS other')).rows as [
        { other: number },
      ];
      expect(other).not.toBe(pid);
    } finally {
      next.release();
    }
  });
});

describe('pipelined statements', () => {
  // One connection, so each test also shows the connection is left fit for the next transaction.
  let one: Sql;
  beforeAll(() => {
    one = createSql(db.url, { max: 1 });
  });
  afterAll(() => one.close());
  const committed = async (n: number) =>
    (await one.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE n = ${n}`))[0]!.n;

  it('open a transaction with statements that run in order once BEGIN has, and give their rows', async () => {
    const [result, opened] = await one.transaction(
      async (tx, rows) => [
        await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE n = 6`),
        rows,
      ],
      [
        { text: `INSERT INTO ${table} VALUES ($1), ($1) RETURNING n`, values: [6] },
        { text: `SELECT count(*)::int AS n FROM ${table} WHERE n = $1`, values: [6] },
      ],
    );
    expect(opened).toEqual([[{ n: 6 }, { n: 6 }], [{ n: 2 }]]);
    expect(result).toEqual([{ n: 2 }]);
    expect(await committed(6)).toBe(2);
  });

  it('refuse the transaction when an opening statement fails, storing nothing', async () => {
    const err = await rejectionOf(
      one.transaction(
        async (tx) => tx.query(`INSERT INTO ${table} VALUES (7)`),
        [
          { text: `INSERT INTO ${table} VALUES ($1)`, values: [7] },
          { text: `INSERT INTO ${table} VALUES ($1)`, values: [null] }, // n is NOT NULL
        ],
      ),
    );
    expect(err).toMatchObject({ code: '23502' });
    expect(await committed(7)).toBe(0);
    await one.transaction((tx) => tx.query(`INSERT INTO ${table} VALUES (7)`));
    expect(await committed(7)).toBe(1);
  });

  it('roll back the whole transaction when the statement sent with COMMIT fails', async () => {
    const err = await rejectionOf(
      one.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (8)`);
        await tx.commitWith(`INSERT INTO ${table} VALUES ($1)`, [null]);
      }),
    );
    expect(err).toMatchObject({ code: '23502' });
    expect(await committed(8)).toBe(0);
    await one.transaction((tx) => tx.commitWith(`INSERT INTO ${table} VALUES ($1), ($1)`, [8]));
    expect(await committed(8)).toBe(2);
  });

  it('say a transaction lost while its last statement and COMMIT were in flight may not be saved', async () => {
    const err = await rejectionOf(
      one.transaction(async (tx) => {
        const [{ pid }] = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [
          { pid: number },
        ];
        const last = rejectionOf(tx.commitWith(`INSERT INTO ${table} SELECT 9 FROM pg_sleep(30)`));
        await waitUntil('the last statement runs', async () => {
          const { rows } = await admin.query('SELECT wait_event FROM pg_stat_activity WHERE pid = $1', [pid]);
          return rows[0]?.wait_event === 'PgSleep';
        });
        await terminate(pid);
        throw await last;
      }),
    );
    expect(err).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/may or may not/) });
    expect(await committed(9)).toBe(0);
    expect(await one.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('repointing', () => {
  it('sends the same Sql to another server: unavailable before, working after', async () => {
    const closed = await freePort(); // nothing listens on it once released
    const url = new URL(db.url);
    url.port = String(closed);
    const sql = createSql(url.toString(), { max: 2 });
    try {
      await expect(sql.query('SELECT 1')).rejects.toMatchObject({ code: 'unavailable' });
      sql.repoint(db.url);
      expect(await sql.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await sql.close();
    }
  });
});

describe('connection lifetime', () => {
  // The pool replaces a connection once it is old enough (its cached plans were made on the tables
  // as they were), but never under a caller: a transaction outliving that age still commits.
  it('replaces an old connection when it is idle, never during a transaction', async () => {
    const sql = createSql(db.url, { max: 1, maxLifetimeSeconds: 1 });
    const backend = async (q: { query: Sql['query'] }) =>
      (await q.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
    try {
      // Older than its lifetime by the end, the transaction's connection serves it to COMMIT.
      const [start, end] = await sql.transaction(async (tx) => {
        const pid = await backend(tx);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await tx.query(`INSERT INTO ${table} VALUES (424242)`);
        return [pid, await backend(tx)];
      });
      expect(end).toBe(start);
      const [kept] = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table} WHERE n = 424242`,
      );
      expect(kept!.n).toBe(1);
      await waitUntil('the old connection is replaced', async () => (await backend(sql)) !== start);
    } finally {
      await sql.close();
    }
  });
});

describe('translatePgError', () => {
  const sqlState = (code: string, message: string) => Object.assign(new Error(message), { code });
  it.each([
    ['a socket reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a broken pipe', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
    ['a timed-out socket', Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' })],
    ['a connection failure (class 08)', sqlState('08006', 'connection failure')],
    ['an admin shutdown', sqlState('57P01', 'terminating connection due to administrator command')],
    [
      'a crash shutdown',
      sqlState('57P02', 'terminating connection because of crash of another server process'),
    ],
    ['a server starting up', sqlState('57P03', 'the database system is starting up')],
    ['too many connections', sqlState('53300', 'sorry, too many clients already')],
    ['an unexpected end', new Error('Connection terminated unexpectedly')],
    [
      'a client that lost its connection',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    ['a connect timeout', new Error('timeout exceeded when trying to connect')],
  ])('turns %s into unavailable, retry shortly', (_, err) => {
    const translated = translatePgError(err);
    expect(translated).toBeInstanceOf(StowageError);
    expect(translated).toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/retry shortly/),
    });
    expect((translated as Error).message).not.toContain(err.message); // no server text reaches agents
  });

  it('leaves other failures alone, and names a duplicate', () => {
    const syntax = sqlState('42601', 'syntax error');
    expect(translatePgError(syntax)).toBe(syntax);
    expect(translatePgError(sqlState('23505', 'duplicate key'))).toMatchObject({ code: 'already_exists' });
  });
});
