// Starting and stopping a postmaster of the embedded Postgres with pg_ctl, as the postgres user
// when we are root, and clearing the lock file of one that died. No SQL here; who may start or
// stop it, and when, is embedded-presence.ts's to decide.
import { execFile } from 'node:child_process';
import { chown, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StowageError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  exiting,
  identify,
  processesIn,
  readPostmasterLock,
  type PostmasterLock,
  type RunAs,
} from './postmaster.js';

/** A cluster's data dir, and what it takes to run pg_ctl on it. */
export interface ClusterDir {
  dataDir: string;
  logFile: string;
  bin: { pg_ctl: string };
  /** Set when we are root: postgres refuses to run as root, so it runs as the postgres user. */
  runAs: RunAs | undefined;
  logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
}

const DEADLINE_MS = 60_000; // for a start, and for a stop

/**
 * pg_ctl stop -w waits for postmaster.pid to vanish, so a server another process starts right
 * after ours stops would keep it waiting; we wait for our postmaster's pid to exit instead.
 */
export async function stopServer(ctx: ClusterDir): Promise<void> {
  const lock = await readPostmasterLock(ctx.dataDir);
  const stopped = await pgCtl(ctx, ['stop', '-D', ctx.dataDir, '-m', 'fast', '-W', '-s']);
  if (!stopped.ok) {
    throw new StowageError('unavailable', `could not stop the embedded Postgres: ${stopped.output}`);
  }
  const until = Date.now() + DEADLINE_MS;
  // Until the process itself is gone: its lock file goes a moment before it does.
  while (lock && ((await identify(lock.pid, ctx.dataDir)) === 'ours' || (await exiting(lock.pid)))) {
    if (Date.now() > until) {
      throw new StowageError('unavailable', `embedded Postgres pid ${lock.pid} did not stop`);
    }
    await sleep(5);
  }
  ctx.logger.info({ pid: lock?.pid }, 'stopped embedded Postgres');
}

/**
 * pg_ctl start without -w (which polls only every 100 ms; postgres is ready in ~40), then our own
 * polling of postmaster.pid. The port tells our postmaster from one a racer started meanwhile.
 */
export async function startServer(
  ctx: ClusterDir,
  port: number,
): Promise<'ready' | 'raced' | { failure: string }> {
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

async function logTail(ctx: ClusterDir): Promise<string> {
  const text = await readFile(ctx.logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-3).join(' | ') || 'postgres exited';
}

function pgCtl(ctx: ClusterDir, args: string[]): Promise<{ ok: boolean; output: string }> {
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
export async function clearStaleLock(ctx: ClusterDir, lock: PostmasterLock): Promise<void> {
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
