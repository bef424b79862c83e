// The change feed delivers changes in commit order, even when reading one batch of events takes
// longer than the next batch's notification: subscribers must never hear an earlier change after
// a later one (a stale change heard as new; the cause of a flaky subscriptions test).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Sql } from '../src/store/db/sql.js';
import { createChangeFeed, type Change } from '../src/store/db/change-feed.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

it('delivers batches in commit order when an earlier batch reads slowly', async () => {
  // The real database, with the feed's first read of events held back (as a busy pool would):
  // a fault injected in front of Postgres, not a stand-in for it.
  let reads = 0;
  const slowFirstRead: Sql = {
    ...db.sql,
    query: async (text: string, params?: unknown[]) => {
      if (/FROM events/.test(text) && reads++ === 0) await new Promise((r) => setTimeout(r, 400));
      return db.sql.query(text, params);
    },
  };
  const feed = createChangeFeed(slowFirstRead, pino({ level: 'silent' }));
  const heard: string[] = [];
  const stop = feed.listen({
    changes: (changes: readonly Change[]) => heard.push(...changes.map((c) => c.kind)),
    resync: () => heard.push('resync'),
  });
  await feed.ready();
  const [project] = await db.sql.query<{ id: string }>(
    `INSERT INTO projects (name, created_by) VALUES ('feed', 'test') RETURNING id`,
  );
  const log = (kind: string) =>
    db.sql.query(`INSERT INTO events (project_id, principal, kind) VALUES ($1, 'test', $2)`, [
      project!.id,
      kind,
    ]);
  await log('first');
  // Past the feed's gathering window, so the second change is a batch of its own.
  await new Promise((r) => setTimeout(r, 150));
  await log('second');
  await expect.poll(() => heard.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  expect(heard).toEqual(['first', 'second']);
  stop();
  await feed.close();
});

/** The feed's LISTEN connections open on this test's database. */
const listening = async () =>
  (
    await db.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'stowage-changes'`,
    )
  )[0]!.n;

it('is listening from its creation, before any subscriber, and closing it, even at once, leaves no connection', async () => {
  const feed = createChangeFeed(db.sql, pino({ level: 'silent' }));
  await feed.ready(); // no listener yet: a session's first call does not wait for this connection
  expect(await listening()).toBe(1);
  await feed.close();
  await expect.poll(listening).toBe(0);

  const brief = createChangeFeed(db.sql, pino({ level: 'silent' }));
  await brief.close(); // while it is still connecting
  await expect.poll(listening).toBe(0);
});
