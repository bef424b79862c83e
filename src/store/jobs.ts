// generation jobs: create, plan, zip, fail, expiry (issue 4; being written)
import type { StowageBase } from './stowage.js';

export function createJobService(base: StowageBase) {
  return { base };
}
