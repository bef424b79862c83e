// The blob store's checks for /readyz, by name: `blobs` (reachable), `blobs_writable` (a probe
// entry is written and removed: a full disk, a read-only mount or credentials that may only read
// fail it) and `blobs_free_space` (the local directory has at least READY_MIN_FREE_BYTES free,
// so the store is reported before it fills up; S3 has no such limit). A probe costs a write, so
// its outcome is kept for a few seconds: a load balancer asking every second costs one probe
// per interval, and a store that recovers is ready again within it.
import { StowageError } from '../../errors.js';
import type { BlobStore } from './blob-store.js';

export const PROBE_KEEP_MS = 5000;

export interface BlobReadinessOptions {
  /** 0: free space is not checked. */
  minFreeBytes: number;
  keepMs?: number | undefined;
}

export function blobReadinessChecks(
  store: BlobStore,
  { minFreeBytes, keepMs = PROBE_KEEP_MS }: BlobReadinessOptions,
): Record<string, () => Promise<void>> {
  const checks: Record<string, () => Promise<void>> = {
    blobs: () => store.ping(),
    blobs_writable: kept(() => store.probe(), keepMs),
  };
  if (minFreeBytes > 0) {
    checks.blobs_free_space = kept(async () => {
      const free = await store.freeBytes();
      if (free !== undefined && free < minFreeBytes) {
        throw new StowageError(
          'unavailable',
          `the blob directory has ${free} bytes free, under READY_MIN_FREE_BYTES (${minFreeBytes})`,
        );
      }
    }, keepMs);
  }
  return checks;
}

/** `check`, run at most once per `ms` (and never twice at once); callers in between share it. */
function kept(check: () => Promise<void>, ms: number): () => Promise<void> {
  let last: { at: number; outcome: Promise<void>; settled: boolean } | undefined;
  return () => {
    if (!last || (last.settled && Date.now() - last.at >= ms)) {
      const run = { at: Date.now(), outcome: check(), settled: false };
      const settle = () => {
        run.settled = true;
      };
      run.outcome.then(settle, settle);
      last = run;
    }
    return last.outcome;
  };
}
