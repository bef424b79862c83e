// events: the change log, and the project version every change moves. A change's events are
// logged by one statement: the events table's statement trigger (migration 0006) sends one
// notification per statement, delivered at commit. What a change is, and when the version moves,
// is store/changes.ts's to say.
import type { Queryable } from '../sql.js';

/** One event of a change, numbered `n` within its statement (it is logged at base + n). */
export interface EventRow {
  n: number;
  principal: string;
  workspace: string | null;
  kind: string;
  path: string | null;
  detail: Record<string, unknown> | null;
}

/** Logs `events` on the project, each at `version` + its n. */
export async function insertEvents(
  db: Queryable,
  projectId: string,
  version: number,
  events: readonly EventRow[],
): Promise<void> {
  await db.query(logEvents('$2::bigint'), [projectId, version, ...eventColumns(events)]);
}

/** Bumps the project's version (setting `status` with it, when given) and returns the new one. */
export async function bumpVersion(db: Queryable, projectId: string, status?: string): Promise<number> {
  const [row] = await db.query<{ version: number }>(
    status === undefined
      ? `UPDATE projects SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version`
      : `UPDATE projects SET status = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING version`,
    status === undefined ? [projectId] : [projectId, status],
  );
  return row!.version;
}

/** Several changes to one project in one statement (group commit). A statement built on it
 *  begins `WITH ${CHANGE_BATCH}, …` and takes `changeBatchParams(…)` as its parameters $1–$8
 *  ($1 is the project's id); its own rows may carry change i's version (from 1) as `v.base + i`.
 *  `v` bumps the version once per change and gives `base`, the version before the batch;
 *  `logged` logs change i's events at `v.base + i`. */
export const CHANGE_BATCH = `v AS (
     UPDATE projects SET version = version + $2, updated_at = now() WHERE id = $1
     RETURNING version - $2 AS base
   ), logged AS (
     ${logEvents('v.base', 'v, ')}
   )`;

/** The parameters $1–$8 of a CHANGE_BATCH statement of `changes` changes: event n (change n,
 *  from 1) gets version base + n. */
export function changeBatchParams(
  projectId: string,
  changes: number,
  events: readonly EventRow[],
): unknown[] {
  return [projectId, changes, ...eventColumns(events)];
}

/** The events as six parallel arrays ($3–$8). */
function eventColumns(events: readonly EventRow[]) {
  return [
    events.map((e) => e.n),
    events.map((e) => e.principal),
    events.map((e) => e.workspace),
    events.map((e) => e.kind),
    events.map((e) => e.path),
    // As JSON text: pg would read an array of objects as a nested array.
    events.map((e) => (e.detail ? JSON.stringify(e.detail) : null)),
  ];
}

/** Logs the events in $3–$8 of project $1, event n at version `base` + n. */
function logEvents(base: string, from = '') {
  return `INSERT INTO events (project_id, version, principal, workspace, kind, path, detail)
     SELECT $1, ${base} + e.n, e.principal, e.workspace, e.kind, e.path, e.detail
     FROM ${from}unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
       AS e(n, principal, workspace, kind, path, detail)`;
}
