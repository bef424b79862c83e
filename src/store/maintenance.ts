// cleanup, the sweeper, deletion, quotas and storage stats (issue 4; being written)
import type { StowageBase } from './stowage.js';

export function createMaintenanceService(base: StowageBase) {
  return { base };
}
