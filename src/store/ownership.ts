// Who owns what, for servers shared by tenants. A job belongs to the principal that created it
// and that caller's project patterns; a workspace to the principal that first wrote to it (a
// principal's default workspace is always its own); a remote URL and branch to the projects it is
// attached to. One-user callers (stdio, tokenless loopback) own everything and cost no query.
import { type Access, normalizeRemoteUrl } from '../access.js';
import { forbidden } from '../errors.js';
import type { RemoteRef } from '../git/types.js';
import { selectProjectRef, selectRemoteHolders, selectWorkspaceOwnership } from './db/queries/index.js';
import type { Sql } from './db/sql.js';
import { JOB_PREFIX, projectNotFound } from './projects.js';
import { canSee, mayUseAny } from './visibility.js';

/** Refuses a project outside the caller's patterns, naming them. */
export function assertProjectAllowed(access: Access, project: string): void {
  if (access.allows(project)) return;
  throw forbidden(
    `project '${project}' is outside this token's projects (${access.patterns?.join(', ')}): use a project matching them, or a token whose --projects cover it`,
  );
}

/** Remote URLs compare without case, trailing slashes or `.git`: GitHub treats them as one. */
const remoteKey = (url: string) => {
  try {
    return normalizeRemoteUrl(url)
      .toLowerCase()
      .replace(/(\.git)?\/*$/, '');
  } catch {
    return url;
  }
};

export function createOwnership(sql: Sql) {
  return {
    /** Refuses a project the caller may not touch: outside its patterns (`forbidden`), or
     *  another's job (`not_found`, as a job that does not exist reads). */
    async assertProject(access: Access, name: string): Promise<void> {
      if (access.unrestricted) return;
      if (name.startsWith(JOB_PREFIX)) {
        const row = await selectProjectRef(sql, name);
        if (row?.kind === 'job') {
          if (canSee(access, row)) return;
          throw projectNotFound(name);
        }
        // No such job: say so whether or not the patterns cover the name, so that another
        // tenant's job and no job read alike.
        if (!row && !access.allows(name)) throw projectNotFound(name);
      }
      assertProjectAllowed(access, name);
    },

    /** Refuses a workspace of another principal. A write to a workspace nobody owns yet claims it
     *  (the drafts trigger), unless it is named after a known principal: that one is theirs. */
    async assertWorkspace(access: Access, project: string, workspace: string, writes: boolean) {
      if (mayUseAny(access, workspace)) return;
      const row = await selectWorkspaceOwnership(sql, project, workspace, writes);
      const owner = row?.owner ?? null;
      if (owner === access.principal) return;
      if (owner !== null || row?.principal) {
        throw forbidden(
          `workspace '${workspace}' belongs to another principal: use your own (omit workspace, or name a new one), or a token whose --workspaces cover it`,
        );
      }
    },

    /** Refuses a remote the caller may not attach: outside its remote patterns, or attached
     *  (same URL and branch) to a project it cannot see, which is not named. */
    async assertRemoteFree(access: Access, ref: RemoteRef): Promise<void> {
      if (access.unrestricted) return;
      if (!access.allowsRemote(ref.url)) {
        const patterns = access.remotePatterns?.length
          ? `outside this token's remotes (${access.remotePatterns.join(', ')})`
          : 'not allowed: this token may attach no remote';
        throw forbidden(
          `remote ${ref.url} is ${patterns}: use a token created with --remotes covering it (e.g. --remotes 'https://github.com/acme/*')`,
        );
      }
      const holders = await selectRemoteHolders(sql, ref.branch);
      const key = remoteKey(ref.url);
      if (holders.some((p) => remoteKey(p.url) === key && !canSee(access, p))) {
        throw forbidden(
          `remote ${ref.url} (branch ${ref.branch}) is attached to a project you cannot access: ask its owner for access, or use another remote or branch`,
        );
      }
    },
  };
}

export type Ownership = ReturnType<typeof createOwnership>;
