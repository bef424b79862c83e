// Recording a change: the invariant every mutation of a project keeps, written once. The project's
// version goes up by one and each thing the change touched is logged as an event at that version,
// in the change's own transaction. The version is the project's etag (an archive is current while
// it is equal); the events are what the change feed (db/change-feed.ts) tells subscribers.
//
// Decisions:
// - A change's events are logged by one statement: the events table's statement trigger
//   (migration 0006) sends one notification per statement, delivered at commit. A batch of
//   changes (group commit, workspace/writer.ts) is bumped and logged inside the one statement
//   that also writes its drafts (`CHANGE_BATCH`): each round trip holds the project lock longer.
// - A change that leaves the project's files alone (its creation or deletion, a job's plan or
//   completion) logs its events `at` the version the project has, and does not bump it.
// - Bumping without an event (`bumpVersion`) is for a project whose events are removed in the
//   same transaction (cleanup expiring a job): nothing would be left to log.
import type { Queryable } from './db/sql.js';

export type EventDetail = Record<string, unknown> | null;

export interface Change {
  principal: string;
  kind: string;
  workspace?: string | null | undefined;
  /** One event per path (none when empty); absent: one event without a path. */
  paths?: readonly (string | null)[] | undefined;
  /** Every event's detail, or a function giving each path its own. */
  detail?: EventDetail | ((path: string | null) => EventDetail) | undefined;
}

/** How the version moves: bumped (the default, setting `status` with it when given), or left
 *  alone with the events logged `at` the version the project has. */
export type Versioning = { status?: string | undefined; at?: undefined } | { at: number; status?: undefined };

/** Records `change` on the project: bumps its version and logs the change's events at the new
 *  version, which it returns (with `at`: logs them at `at`, which it returns). */
export async function recordChange(
  tx: Queryable,
  projectId: string,
  change: Change & Versioning,
): Promise<number> {
  const version = change.at ?? (await bumpVersion(tx, projectId, change.status));
  await tx.query(logEvents('$2::bigint'), [projectId, version, ...eventColumns([change], 0)]);
  return version;
}

/** Bumps the project's version (setting `status` with it, when given) and returns the new one.
 *  A change logs events too: use recordChange; this alone is for a project whose events go. */
export async function bumpVersion(tx: Queryable, projectId: string, status?: string): Promise<number> {
  const [row] = await tx.query<{ version: number }>(
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

/** The parameters $1–$8 of a CHANGE_BATCH statement: change i (from 1) gets version base + i. */
export function changeBatchParams(projectId: string, changes: readonly Change[]): unknown[] {
  return [projectId, changes.length, ...eventColumns(changes, 1)];
}

/** The events of `changes` as six parallel arrays ($3–$8), change i numbered `first + i`. */
function eventColumns(changes: readonly Change[], first: number) {
  const n: number[] = [];
  const principals: string[] = [];
  const workspaces: (string | null)[] = [];
  const kinds: string[] = [];
  const paths: (string | null)[] = [];
  const details: (string | null)[] = [];
  changes.forEach((change, i) => {
    for (const path of change.paths ?? [null]) {
      const detail = typeof change.detail === 'function' ? change.detail(path) : change.detail;
      n.push(first + i);
      principals.push(change.principal);
      workspaces.push(change.workspace ?? null);
      kinds.push(change.kind);
      paths.push(path);
      // As JSON text: pg would read an array of objects as a nested array.
      details.push(detail ? JSON.stringify(detail) : null);
    }
  });
  return [n, principals, workspaces, kinds, paths, details];
}

/** Logs the events in $3–$8 of project $1, event n at version `base` + n. */
function logEvents(base: string, from = '') {
  return `INSERT INTO events (project_id, version, principal, workspace, kind, path, detail)
     SELECT $1, ${base} + e.n, e.principal, e.workspace, e.kind, e.path, e.detail
     FROM ${from}unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
       AS e(n, principal, workspace, kind, path, detail)`;
}
