// Recording a change: the invariant every mutation of a project keeps, written once. The project's
// version goes up by one and each thing the change touched is logged as an event at that version,
// in the change's own transaction. The version is the project's etag (an archive is current while
// it is equal); the events are what the change feed (db/change-feed.ts) tells subscribers.
//
// Decisions:
// - A change's events are logged by one statement: the events table's statement trigger
//   (migration 0006) sends one notification per statement, delivered at commit. A batch of
//   changes (group commit, workspace/writer.ts) is bumped and logged inside the one statement
//   that also writes its drafts (`CHANGE_BATCH`, db/queries/): each round trip holds the project
//   lock longer.
// - A change that leaves the project's files alone (its creation or deletion, a job's plan or
//   completion) logs its events `at` the version the project has, and does not bump it.
// - Bumping without an event (`bumpVersion`) is for a project whose events are removed in the
//   same transaction (cleanup expiring a job): nothing would be left to log.
import { bumpVersion, insertEvents, type EventRow } from './db/queries/index.js';
import type { Queryable } from './db/sql.js';

// A change logs events too: use recordChange; bumpVersion alone is for a project whose events go.
export { bumpVersion };

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
  await insertEvents(tx, projectId, version, eventsOf([change], 0));
  return version;
}

/** The events of `changes`, change i numbered `first + i`: a batch's (group commit) are logged
 *  by its own statement (db/queries/drafts.ts), change i at the version before the batch + i. */
export function eventsOf(changes: readonly Change[], first: number): EventRow[] {
  return changes.flatMap((change, i) =>
    (change.paths ?? [null]).map((path) => ({
      n: first + i,
      principal: change.principal,
      workspace: change.workspace ?? null,
      kind: change.kind,
      path,
      detail: (typeof change.detail === 'function' ? change.detail(path) : change.detail) ?? null,
    })),
  );
}
