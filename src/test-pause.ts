// Test-only crash points (test/leftovers.test.ts). With STOWAGE_TEST_PAUSE=<point>:<marker file>,
// the process that reaches <point> creates the marker file and then never goes on, so the test
// can kill it right there (SIGKILL) and look at what it left behind. Unset, which it always is
// outside those tests, pauseAt does nothing. The one reader of process.env besides config.ts: a
// hook that reaches into the adapters without being threaded through every constructor.
import { writeFileSync } from 'node:fs';

export type PausePoint =
  /** A blob's temp file is written and flushed, not yet renamed into place. */
  | 'blob-temp'
  /** A blob is in place, its row not yet written. */
  | 'blob-stored'
  /** An artifact's temp file is written, not yet renamed into place. */
  | 'artifact-temp'
  /** An artifact's bytes are stored, its row not yet committed. */
  | 'artifact-written';

export function pauseAt(point: PausePoint): Promise<void> | undefined {
  const setting = process.env.STOWAGE_TEST_PAUSE;
  if (!setting?.startsWith(`${point}:`)) return undefined;
  writeFileSync(setting.slice(point.length + 1), point);
  return new Promise<void>(() => undefined);
}
