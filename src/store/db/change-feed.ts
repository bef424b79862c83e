// The change feed: what changed in any project, through any instance, as it commits. One
// connection per process LISTENs on `stowage_events` (migration 0006: a notification per
// statement that logs events, naming their id range); notifications are gathered for a short
// window and their events read in one query, so a burst of writes costs one read, not one each.
// A lost connection is re-opened with backoff, and listeners are told to resynchronise, since
// notifications sent meanwhile are gone.
import pg from 'pg';
import type { Logger } from '../../logger.js';
import type { Sql } from './sql.js';

export interface Change {
  project: string;
  /** The workspace of a draft change; null for changes to the committed tree. */
  workspace: string | null;
  kind: string;
  /** Null: the whole project (an import, an archive or a restore). */
  path: string | null;
  /** A draft write that brought a new path into its workspace's view. */
  added: boolean;
}

export interface ChangeListener {
  changes(changes: readonly Change[]): void;
  /** Notifications may have been missed (the connection was lost): assume anything changed. */
  resync(): void;
}

export interface ChangeFeed {
  /** Starts delivering changes to `listener`; returns the function that stops it. */
  listen(listener: ChangeListener): () => void;
  /** Settles once the feed is listening (or has failed to, and retries in the background). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL = 'stowage_events';
const GATHER_MS = 50;

/** The events of notified ranges ($1 project ids, $2 first and $3 last event ids), with their
 *  projects' names. A range scan of each range: OFFSET 0 keeps the lookup from being flattened
 *  into a join, which the planner ran as a scan of every event the project ever logged (23 ms
 *  at 23,000 events, for each delivery, and growing with the log). */
const CHANGES_STATEMENT = `
  SELECT p.name AS project, e.workspace, e.kind, e.path, coalesce((e.detail->>'added')::boolean, false) AS added
  FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS r(project_id, first, last)
  JOIN projects p ON p.id = r.project_id
  CROSS JOIN LATERAL (SELECT id, workspace, kind, path, detail FROM events
                      WHERE project_id = r.project_id AND id BETWEEN r.first AND r.last OFFSET 0) e
  ORDER BY e.id`;
// A restarted Postgres is back within seconds: subscribers should hear again soon after.
const RETRY_MS = { first: 500, max: 5_000 };

interface Range {
  projectId: string;
  first: number;
  last: number;
}

export function createChangeFeed(sql: Sql, logger: Logger): ChangeFeed {
  const listeners = new Set<ChangeListener>();
  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let pending: Range[] = [];
  let gather: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryMs = RETRY_MS.first;
  let closed = false;

  function onNotification(message: pg.Notification) {
    const [projectId, first, last] = (message.payload ?? '').split(' ');
    if (!projectId || !first || !last) return;
    pending.push({ projectId, first: Number(first), last: Number(last) });
    gather ??= setTimeout(() => void deliver(), GATHER_MS);
  }

  // Deliveries run one after another: a later batch's read must not overtake an earlier one's, or
  // a listener would hear changes out of commit order (a subscriber that had just heard a later
  // change would then hear an earlier one as if it were new).
  let delivering = Promise.resolve();
  function deliver() {
    gather = undefined;
    const ranges = pending;
    pending = [];
    if (!ranges.length || !listeners.size) return;
    delivering = delivering.then(() => read(ranges));
  }

  async function read(ranges: readonly Range[]) {
    try {
      const rows = await sql.query<Change>(CHANGES_STATEMENT, [
        ranges.map((r) => r.projectId),
        ranges.map((r) => r.first),
        ranges.map((r) => r.last),
      ]);
      if (rows.length) for (const listener of listeners) listener.changes(rows);
    } catch (err) {
      logger.warn({ err }, 'could not read changed events; telling subscribers to resynchronise');
      for (const listener of listeners) listener.resync();
    }
  }

  async function connect(): Promise<void> {
    const next = new pg.Client({ ...sql.pool.options, application_name: 'stowage-changes' });
    next.on('notification', onNotification);
    next.on('error', (err) => lost(next, err));
    next.on('end', () => lost(next, new Error('connection ended')));
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      await next.end().catch(() => undefined); // connected but not listening: not left open
      throw err;
    }
    client = next;
    retryMs = RETRY_MS.first;
  }

  function lost(which: pg.Client, err: Error) {
    if (client !== which || closed) return;
    client = undefined;
    logger.warn({ err: err.message }, 'change feed connection lost; reconnecting');
    scheduleRetry();
  }

  function scheduleRetry() {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connecting = connect().then(
        () => {
          for (const listener of listeners) listener.resync();
        },
        (err: unknown) => {
          logger.warn({ err: (err as Error).message, retryMs }, 'change feed cannot connect; retrying');
          retryMs = Math.min(retryMs * 2, RETRY_MS.max);
          scheduleRetry();
        },
      );
    }, retryMs);
    retry.unref();
  }

  // Connected from the start, not at the first listener: that is a session's first call, which
  // would otherwise wait behind a new backend's start and authentication (a first search_files
  // after a start paid several milliseconds for it).
  connecting = connect().catch((err: unknown) => {
    logger.warn({ err: (err as Error).message }, 'change feed cannot connect; retrying');
    scheduleRetry();
  });

  return {
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: async () => {
      await connecting;
    },
    async close() {
      closed = true;
      clearTimeout(gather);
      clearTimeout(retry);
      listeners.clear();
      await connecting?.catch(() => undefined);
      const last = client;
      client = undefined;
      await last?.end().catch(() => undefined);
    },
  };
}
