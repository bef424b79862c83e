// The background sweeper: a cleanup round every interval, on exactly one instance at a time. The
// instance that takes a session advisory lock on a dedicated connection sweeps; the others skip
// the round. A lost connection releases the lock with the session. Scheduled backups run the same
// way under a lock of their own (store/backups/).
import type { Logger } from '../../logger.js';
import { advisoryUnlock, tryAdvisoryLock } from '../db/queries/index.js';
import type { Sql } from '../db/sql.js';

const SWEEP_LOCK = 0x5707_c1ea; // "stowage" cleanup; the migrations use 0x5707a6e1

export interface SweeperOptions {
  intervalMinutes: number;
  logger: Logger;
  /** Runs after cleanup in the same round, under the same lock (e.g. auto-archiving). */
  extra?: (() => Promise<void>) | undefined;
  /** The advisory lock and the word for a round in the log; default the cleanup's. */
  lock?: { key: number; what: string } | undefined;
}

export interface Sweeper {
  /** No more rounds; resolves once a round in progress has finished. */
  stop(): Promise<void>;
}

export function startSweeper(sql: Sql, work: () => Promise<unknown>, options: SweeperOptions): Sweeper {
  const { logger, extra } = options;
  const { key, what } = options.lock ?? { key: SWEEP_LOCK, what: 'cleanup' };
  const intervalMs = options.intervalMinutes * 60_000;
  if (!(intervalMs > 0)) return { stop: () => Promise.resolve() };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  async function round(): Promise<void> {
    const client = await sql.connect();
    let broken: Error | undefined;
    try {
      if (!(await tryAdvisoryLock(client, key))) {
        logger.debug(`${what} round skipped: another instance is sweeping`);
        return;
      }
      try {
        const report = await work();
        logger.info({ report }, `${what} round`);
        if (extra) await extra();
      } finally {
        // If the unlock fails, the connection is discarded, which ends the session and its lock.
        await advisoryUnlock(client, key).catch((err: Error) => {
          broken = err;
        });
      }
    } finally {
      client.release(broken);
    }
  }

  // The first round comes within a minute, so instances restarted more often than the interval
  // (deploys) still sweep; later rounds every interval.
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch((err: unknown) => logger.error({ err }, `${what} round failed`))
        .finally(() => {
          running = undefined;
          schedule(intervalMs);
        });
    }, delayMs);
    timer.unref();
  };
  schedule(Math.min(intervalMs, 60_000));

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
