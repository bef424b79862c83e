// What a project, and all projects together, may hold: the rules and their refusals, written once.
// A project holds at most its own quota_bytes (asked for at creation or by update_project, never
// over the server's limit, nor under what the project holds) and the server's per-project limit
// (MAX_PROJECT_BYTES); all live projects' committed files and drafts together at most
// MAX_TOTAL_BYTES (0 or absent: none).
//
// Every path that grows what is stored checks here: draft writes before they are stored
// (workspace/writer.ts), a remote's tree as it is fetched (commits/remote-sync.ts), and import,
// restore and sync against the total inside their transaction, after the change, so that a
// refusal rolls it back. A job's zip is bounded by the per-project limit too (jobs/service.ts).
// An archive being imported is bounded as it is read (formats/tarball.ts, maxTotalBytes).
import { invalidInput, tooLarge } from '../errors.js';
import { storedBytes } from './db/queries/index.js';
import type { Queryable } from './db/sql.js';
import type { Project } from './projects.js';

export interface QuotaLimits {
  /** Per project (MAX_PROJECT_BYTES), unless the project has its own, smaller, quota_bytes. */
  projectBytes: number;
  /** Over all live projects' committed files and drafts; 0 or absent: none (MAX_TOTAL_BYTES). */
  totalBytes?: number | undefined;
}

/** A quota_bytes asked for (create_project, update_project): never over the server's limit. */
export function checkRequestedQuota(quotaBytes: number | undefined, limits: QuotaLimits): void {
  if (quotaBytes !== undefined && quotaBytes > limits.projectBytes) {
    throw invalidInput(
      `quota_bytes ${quotaBytes} is over the server's project limit of ${limits.projectBytes}: pass a smaller quota, or omit it to get the limit`,
    );
  }
}

/** A new quota_bytes for a project whose largest view (committed files, or a workspace's view
 *  over them) holds `held` bytes: never under it, since every write that grows the project would
 *  then be refused. */
export function checkQuotaHeld(name: string, quotaBytes: number, held: number): void {
  if (quotaBytes < held) {
    throw invalidInput(
      `quota_bytes ${quotaBytes} is under what project '${name}' holds (${held} bytes): pass at least ${held}, or delete files or discard changes first`,
    );
  }
}

/** A write that would bring a workspace's view of `project` to `total` bytes. */
export function checkWorkspaceBytes(
  project: Pick<Project, 'name' | 'quota_bytes'>,
  total: number,
  limits: QuotaLimits,
): void {
  if (project.quota_bytes !== null && total > project.quota_bytes) {
    throw tooLarge(
      `this write would bring project '${project.name}' to ${total} bytes, over its quota_bytes of ${project.quota_bytes}: delete files or discard changes first`,
    );
  }
  if (total > limits.projectBytes) {
    throw tooLarge(
      `this write would bring project '${project.name}' to ${total} bytes, over its limit of ${limits.projectBytes}: delete files or raise MAX_PROJECT_BYTES`,
    );
  }
}

/** A remote's tree of `total` bytes coming in as a project's committed tree. `quota`: the
 *  project's own quota_bytes (null: none), and what to do when the tree is over it. */
export function checkRemoteTree(
  total: number,
  quota: { bytes: number | null; fix: string },
  limits: QuotaLimits,
): void {
  if (total > limits.projectBytes) {
    throw tooLarge(
      `the remote tree holds ${total} bytes of files, over the project limit of ${limits.projectBytes}: raise MAX_PROJECT_BYTES`,
    );
  }
  if (quota.bytes !== null && total > quota.bytes) {
    throw tooLarge(
      `the remote tree holds ${total} bytes of files, over the project's quota_bytes of ${quota.bytes}: ${quota.fix}`,
    );
  }
}

/** Job `name`'s files, `total` bytes, about to be zipped. */
export function checkJobBytes(name: string, total: number, limits: QuotaLimits): void {
  if (total > limits.projectBytes) {
    throw tooLarge(
      `job '${name}' holds ${total} bytes, over the limit of ${limits.projectBytes}: delete files first`,
    );
  }
}

/** The limit a project's use is reported against (storage stats): its quota_bytes, else the
 *  server's. */
export const projectLimit = (project: Pick<Project, 'quota_bytes'>, limits: QuotaLimits): number =>
  project.quota_bytes ?? limits.projectBytes;

/** For a batch of writes in one transaction: refuses growth (over what was stored before the
 *  batch) that takes all live projects over `limit`. What is stored is read once, at the first
 *  check, and never when there is no limit. */
export function createTotalCheck(tx: Queryable, limit: number | undefined) {
  let before: number | undefined;
  return async (growth: number): Promise<void> => {
    if (!limit) return;
    before ??= await storedBytes(tx);
    checkTotal(before + growth, limit, 'this write');
  };
}

/** For changes that add committed files outside the draft writer (import, restore, a remote's
 *  tree): call it inside the change's transaction, after the change, when it grew what is
 *  stored. It throws, so the caller's rollback undoes the change, when all live projects now
 *  hold more than `limit` (MAX_TOTAL_BYTES; 0 or absent: none). `what` names the change. */
export async function refuseOverTotal(tx: Queryable, limit: number | undefined, what: string): Promise<void> {
  if (limit) checkTotal(await storedBytes(tx), limit, what);
}

function checkTotal(all: number, limit: number, what: string) {
  if (all > limit) {
    throw tooLarge(
      `${what} would bring all projects to ${all} bytes, over the total limit of ${limit}: free space (cleanup, delete_project) or raise MAX_TOTAL_BYTES`,
    );
  }
}
