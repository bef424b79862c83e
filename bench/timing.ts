// What the bench files share to time a step and print it: medians, milliseconds, ratios.
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const ms = (t: number) => `${t.toFixed(1)} ms`;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const time = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
export const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}×`;

/** A tool call on the bench's in-memory client; throws on a tool error. */
export type Call = (name: string, args: Record<string, unknown>) => Promise<Record<string, any>>;

/** Waits until every committed file of `project` has its search text (the blob writer records
 *  them in the background, after the call that stored the content answered); returns how long
 *  that took. A measurement taken meanwhile would share the machine with that work. */
export async function searchIndexed(
  db: { query<R>(text: string, params: unknown[]): Promise<R[]> },
  project: string,
): Promise<number> {
  const started = performance.now();
  const missing = async () =>
    (
      await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM files f JOIN projects p ON p.id = f.project_id
         WHERE p.name = $1 AND p.deleted_at IS NULL AND f.size <= 1048576
           AND NOT EXISTS (SELECT 1 FROM search_texts s WHERE s.hash = f.blob_hash)`,
        [project],
      )
    )[0]!.n;
  while ((await missing()) > 0 && performance.now() - started < 60_000) await sleep(10);
  return performance.now() - started;
}
