// Being on the shared server: joining the one postmaster.pid names or starting one, a presence
// session per process (its application_name) that others count, and leaving, which stops the
// server when no other stowage process is left on it.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StowageError } from '../../errors.js';
import { CREDENTIALS_FILE, type Credentials, type EmbeddedCluster } from './embedded-cluster.js';
import type { Membership } from './embedded-members.js';
import type { Session } from './embedded-supervisor.js';
import { clearStaleLock, startServer, stopServer } from './pg-ctl.js';
import { freePort, hasCode, identify, isPortFree, readPostmasterLock, terminate } from './postmaster.js';

export const DATABASE = 'stowage';
const PRESENCE_PREFIX = 'stowage-presence:';
const LIFECYCLE_LOCK = 0x5707_9e5e; // joiners take it shared, the last one out exclusive
const DEADLINE_MS = 60_000; // for a start, and for a stop
const ADOPT_WITHIN_MS = 5_000; // a "ready" server that refuses us this long is killed
const MAX_START_FAILURES = 5;

interface Presence {
  client: pg.Client;
  others: number;
}

interface JoinOptions {
  /** Start a server on this port if it is free (the one a dead postmaster had, which other
   *  processes on the home look for too); otherwise on any free port. */
  preferredPort?: number | undefined;
  /** Stops trying (the process is releasing the server). */
  signal?: AbortSignal | undefined;
  /** Coming back after a lost session: finding no other session there is no news. */
  rejoining?: boolean | undefined;
}

/**
 * Connects to the server recorded in postmaster.pid, or starts one. Every branch that cannot
 * finish (a start lost to a racer, a server shutting down, a stale lock) loops back and re-reads.
 */
export async function joinOrStart(
  ctx: EmbeddedCluster,
  credentials: Credentials,
  options: JoinOptions = {},
): Promise<Session> {
  const deadline = Date.now() + DEADLINE_MS;
  const refusedSince = new Map<number, number>();
  let preferredPort = options.preferredPort;
  let startFailures = 0;
  let lastFailure = 'timed out';
  while (Date.now() < deadline && startFailures < MAX_START_FAILURES && !options.signal?.aborted) {
    const lock = await readPostmasterLock(ctx.dataDir);
    if (!lock) {
      const began = performance.now();
      const port = preferredPort && (await isPortFree(preferredPort)) ? preferredPort : await freePort();
      preferredPort = undefined; // once: if it fails there, the next attempt takes any port
      const started = await startServer(ctx, port);
      if (started === 'ready') {
        const presence = await joinServer(ctx, credentials, port);
        if (presence && presence !== 'recovering') {
          ctx.logger.info({ port, ms: Math.round(performance.now() - began) }, 'started embedded Postgres');
          return { port, presence: presence.client };
        }
      } else if (started !== 'raced') {
        startFailures += 1;
        lastFailure = started.failure;
        ctx.logger.debug({ port, failure: started.failure }, 'embedded Postgres did not start; retrying');
      }
      continue;
    }
    const holder = await identify(lock.pid, ctx.dataDir);
    if (holder !== 'ours') {
      await clearStaleLock(ctx, lock);
      continue;
    }
    const attemptedAt = Date.now();
    const presence = await joinServer(ctx, credentials, lock.port);
    if (presence && presence !== 'recovering') {
      // No other session may just mean its starter has not connected yet: look again shortly.
      if (presence.others === 0 && !options.rejoining) await sleep(250);
      if (
        presence.others === 0 &&
        !options.rejoining &&
        (await countOtherPresences(presence.client).catch(() => 0)) === 0
      ) {
        ctx.logger.warn(
          { pid: lock.pid, port: lock.port },
          `adopting embedded Postgres pid ${lock.pid}, which no stowage process was using ` +
            '(its last user exited without releasing it, e.g. was killed)',
        );
      }
      return { port: lock.port, presence: presence.client };
    }
    // Starting up or shutting down: wait. Claiming to be ready yet refusing us: it is wedged,
    // unless it says it is recovering (after a crash of one of its backends it resets every
    // connection and replays its WAL, its postmaster.pid saying "ready" all along).
    if (presence === 'recovering') refusedSince.delete(lock.pid);
    else if (lock.status === 'ready') {
      const since = refusedSince.get(lock.pid) ?? attemptedAt;
      refusedSince.set(lock.pid, since);
      if (Date.now() - since > ADOPT_WITHIN_MS) {
        ctx.logger.warn(
          { pid: lock.pid },
          `embedded Postgres pid ${lock.pid} does not accept connections; killing it`,
        );
        await terminate(lock.pid, ctx.dataDir);
        continue;
      }
    }
    await sleep(20);
  }
  if (options.signal?.aborted) throw new StowageError('unavailable', 'stopped joining the embedded Postgres');
  throw new StowageError(
    'unavailable',
    `could not start the embedded Postgres in ${ctx.dataDir}: ${lastFailure} (see ${ctx.logFile})`,
  );
}

/**
 * Opens this process's presence session. The shared lifecycle lock waits out a releasing process
 * that is deciding whether to stop the server; if it does stop it, this fails and we start again.
 */
async function joinServer(
  ctx: EmbeddedCluster,
  credentials: Credentials,
  port: number,
): Promise<Presence | 'recovering' | undefined> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: credentials.user,
    password: credentials.password,
    database: 'postgres',
    application_name: `${PRESENCE_PREFIX}${process.pid}`,
    connectionTimeoutMillis: 2_000,
    keepAlive: true,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT pg_advisory_xact_lock_shared($1)', [LIFECYCLE_LOCK]);
    const others = await countOtherPresences(client);
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${DATABASE}`).catch((err: unknown) => {
        if (!hasCode(err, '42P04', '23505')) throw err; // a racer created it first
      });
    }
    return { client, others };
  } catch (err) {
    await closeQuietly(client);
    if (hasCode(err, '28P01', '28000')) {
      throw new StowageError(
        'unavailable',
        `the embedded Postgres on port ${port} rejected the credentials in ${join(ctx.dataDir, CREDENTIALS_FILE)}`,
      );
    }
    return hasCode(err, '57P03') ? 'recovering' : undefined; // 57P03: starting, recovering, stopping
  }
}

/**
 * Holding the lifecycle lock exclusively, nobody can join between the count and the stop. Others
 * are the live member processes (embedded-members.ts), and presence sessions for the processes
 * /proc cannot show. We drop our presence name and our member file before letting go of the
 * lock: a closed session can outlive its lock for a moment in pg_stat_activity, and the next one
 * out must not count us.
 */
export async function leave(
  ctx: EmbeddedCluster,
  presence: pg.Client | undefined,
  members: Membership,
): Promise<void> {
  if (!presence) {
    ctx.logger.warn('released while the embedded Postgres was gone; not stopping anything');
    await members.leave();
    return;
  }
  let others: number;
  try {
    await presence.query('SELECT pg_advisory_lock($1)', [LIFECYCLE_LOCK]);
    await presence.query(`SET application_name = 'stowage-leaving:${process.pid}'`);
    others = (await countOtherPresences(presence)) + (await members.othersAlive());
  } catch (err) {
    ctx.logger.warn({ err }, 'embedded Postgres was already gone at release');
    await members.leave();
    await closeQuietly(presence);
    return;
  }
  try {
    if (others > 0) {
      ctx.logger.debug({ others }, 'leaving embedded Postgres running for other stowage processes');
      return;
    }
    await stopServer(ctx);
  } finally {
    await members.leave();
    await closeQuietly(presence); // also drops the lock when the server stays up
  }
}

async function countOtherPresences(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()`,
    [PRESENCE_PREFIX],
  );
  return rows[0]?.n ?? 0;
}

export async function closeQuietly(client: pg.Client): Promise<void> {
  await Promise.race([client.end().catch(() => undefined), sleep(1_000, undefined, { ref: false })]);
}
