// archive, restore, export and import of projects (issue 4; being written)
import type { StowageBase } from './stowage.js';

export function createLifecycleService(base: StowageBase) {
  return { base };
}
