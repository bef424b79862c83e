// Keeps a process attached to its home's embedded Postgres: when the presence session drops (a
// killed backend makes the postmaster reset every connection; a killed postmaster takes them all)
// or the postmaster it joined is no longer running, it rejoins the server recorded in the data
// dir, or starts one on the same port (embedded-presence.ts's joinOrStart, which every process on
// the home runs alike, so they converge on one server), and tells its listeners if the port moved.
//
// Decisions:
// - The presence session's 'error'/'end' notices a loss at once; a check of postmaster.pid every
//   few seconds catches the rest (a postmaster gone while its backend lingers). No SQL polling.
// - Rejoining retries with backoff until it succeeds or the process releases the server: a
//   server that cannot start now (disk full, port trouble) may start a few seconds later, and
//   meanwhile every query answers `unavailable` (sql.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { EmbeddedPostgres, EmbeddedPostgresLogger } from './embedded-postgres.js';

/** A joined server: its port and this process's presence session on it. */
export interface Session {
  port: number;
  presence: pg.Client;
}

export interface SupervisorOptions {
  session: Session;
  url(port: number): string;
  /** Joins the server recorded in the data dir, or starts one, preferring `port`. */
  rejoin(port: number, signal: AbortSignal): Promise<Session>;
  /** Whether the postmaster this process joined on `port` still runs. */
  running(port: number): Promise<boolean>;
  /** Leaves the server, stopping it iff no other stowage process uses it; with no session (the
   *  server is gone and not back yet), only gives up membership. */
  leave(presence: pg.Client | undefined): Promise<void>;
  close(presence: pg.Client): Promise<void>;
  logger: EmbeddedPostgresLogger;
}

const CHECK_EVERY_MS = 2_000;
const BACKOFF_MS = { first: 100, max: 2_000 };

export function supervise(options: SupervisorOptions): EmbeddedPostgres {
  const { logger } = options;
  const moved = new Set<(url: string) => void>();
  const stopping = new AbortController();
  let session: Session | undefined;
  let port = options.session.port;
  let recovering: Promise<void> | undefined;
  let released: Promise<void> | undefined;

  function watch(next: Session) {
    session = next;
    next.presence.removeAllListeners('error');
    next.presence.on('error', (err) => lost(next, err));
    next.presence.on('end', () => lost(next, new Error('the session ended')));
  }

  function lost(which: Session, err: Error) {
    if (session !== which || released) return;
    session = undefined;
    logger.warn(
      { err: err.message, port },
      'lost the session with the embedded Postgres; rejoining it, or restarting it if it is gone',
    );
    void options.close(which.presence);
    recovering = recover();
  }

  async function recover() {
    const began = performance.now();
    let backoff = BACKOFF_MS.first;
    while (!stopping.signal.aborted) {
      try {
        const next = await options.rejoin(port, stopping.signal);
        watch(next); // even when released meanwhile: release() then leaves with it
        logger.info(
          { port: next.port, ms: Math.round(performance.now() - began) },
          'rejoined the embedded Postgres',
        );
        if (next.port !== port) {
          port = next.port;
          for (const listener of moved) listener(options.url(port));
        }
        return;
      } catch (err) {
        logger.warn({ err, retryMs: backoff }, 'the embedded Postgres is not back yet; retrying');
        await sleep(backoff, undefined, { signal: stopping.signal }).catch(() => undefined);
        backoff = Math.min(backoff * 2, BACKOFF_MS.max);
      }
    }
  }

  const check = setInterval(() => {
    const current = session;
    if (!current) return;
    void options.running(current.port).then(
      (running) => {
        if (!running) lost(current, new Error(`its postmaster on port ${current.port} is gone`));
      },
      () => undefined,
    );
  }, CHECK_EVERY_MS);
  check.unref();

  watch(options.session);
  return {
    get url() {
      return options.url(port);
    },
    get port() {
      return port;
    },
    onMoved(listener) {
      moved.add(listener);
    },
    release: () =>
      (released ??= (async () => {
        clearInterval(check);
        stopping.abort();
        await recovering;
        const last = session;
        session = undefined;
        await options.leave(last?.presence);
      })()),
  };
}
