// What a serving process runs beside its transport, and how it stops: the cleanup sweeper (and
// the idle-project archiver) and the backup schedule, then on SIGINT/SIGTERM (or `stop` asked
// for) the transport, the change feed, the sweepers and storage, in that order.
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Runtime } from '../runtime.js';
import type { ChangeFeed } from '../store/db/change-feed.js';
import type { Stowage } from '../store/stowage.js';

export interface Lifetime {
  config: Config;
  logger: Logger;
  stowage: Stowage;
  runtime: Runtime;
  changes: ChangeFeed | undefined;
  /** Stops the transport (and lets running requests finish). */
  stop: () => Promise<void>;
}

/** Starts the sweeper and returns the shutdown, which SIGINT and SIGTERM also run. */
export function runUntilStopped({ config, logger, stowage, runtime, changes, stop }: Lifetime) {
  const sweeper = stowage.maintenance.startSweeper({
    intervalMinutes: config.lifecycle.cleanupIntervalMinutes,
    logger,
    extra:
      config.lifecycle.autoArchiveDays > 0
        ? async () => {
            await stowage.lifecycle.archiveIdleProjects();
          }
        : undefined,
  });
  const backups = stowage.backups.startSchedule(logger);
  let stopping = false;
  async function shutdown(reason: string) {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    await stop().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
    await changes?.close();
    await sweeper.stop().catch((err: unknown) => logger.error({ err }, 'error while stopping the sweeper'));
    await backups.stop().catch((err: unknown) => logger.error({ err }, 'error while stopping the backups'));
    await runtime.close().catch((err: unknown) => logger.error({ err }, 'error while closing storage'));
    logger.flush();
    process.exit(0);
  }
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  return shutdown;
}
