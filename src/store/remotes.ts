// Remotes: what the tools do with a project's git remote and the host behind it, one call each.
// A project created (with or without a remote: its quota_bytes checked against the server's
// limit; with one, the URL checked, the remote free for this caller, the host repository made
// when asked, the branch imported unless not wanted), a project updated (the same checks of what
// it changes; a remote attached imports nothing until sync_project), a project synced from its
// remote (commits/remote-sync.ts), and a pull request opened on the host (GitHub).
import type { Access } from '../access.js';
import type { CallContext } from '../call-context.js';
import { invalidInput, StowageError } from '../errors.js';
import type { GitHost, RemoteRef } from '../git/types.js';
import { recordChange } from './changes.js';
import type { RemoteSync } from './commits/remote-sync.js';
import { insertCommittedFiles } from './commits/tree-transfer.js';
import type { HistoryService } from './history/index.js';
import type { Ownership } from './ownership.js';
import type { FactsService } from './project-facts.js';
import {
  getProject,
  type CreateProjectInput,
  type Project,
  type ProjectChanges,
  type ProjectService,
} from './projects.js';
import { checkRequestedQuota, checkWorkspaceBytes, refuseOverTotal, type QuotaLimits } from './quota.js';
import type { Actor } from './workspace/service.js';

export interface RemoteDeps {
  projects: Pick<ProjectService, 'create' | 'get' | 'update'>;
  sync: RemoteSync;
  ownership: Pick<Ownership, 'assertRemoteFree' | 'assertProject' | 'assertWorkspace'>;
  /** The tree a project made from another starts with (create_project {from}). */
  history: Pick<HistoryService, 'treeAt'>;
  /** What each file of that tree counts as in the new project's facts. */
  facts: Pick<FactsService, 'describe'>;
  /** GitHub (repository creation, pull requests) when a token is configured. */
  host: GitHost | undefined;
  limits: QuotaLimits;
}

export interface NewProject extends Omit<CreateProjectInput, 'kind' | 'remote'> {
  /** `branch` defaults to main; `create` makes a missing repository on the host. */
  remote?: { url: string; branch?: string | undefined; create?: boolean | undefined } | undefined;
  /** With a remote: import its branch (default true). */
  import?: boolean | undefined;
  /** '<project>[@<point>]': start with that project's tree (at a point; default committed). */
  from?: string | undefined;
}

export interface CreatedProject {
  project: Project;
  /** The remote's tree, brought in; absent without a remote or with import: false. */
  imported?: Awaited<ReturnType<RemoteSync['createWithImport']>>['import'] | undefined;
  /** Whether remote.create made the repository (false: it existed); absent when not asked. */
  repositoryCreated?: boolean | undefined;
}

export interface ProjectUpdate extends Omit<ProjectChanges, 'remote'> {
  /** `branch` defaults to the attached remote's, else main; null detaches. */
  remote?: { url: string; branch?: string | undefined } | null | undefined;
}

export interface PullRequestInput {
  head: string;
  /** Default: the project's branch. */
  base?: string | undefined;
  title: string;
  body?: string | undefined;
}

export function createRemoteService(deps: RemoteDeps) {
  const { projects, sync, ownership, host } = deps;

  /** A project whose committed tree is `from`'s ('<project>[@<point>]'), content shared. */
  async function createFrom(
    input: Omit<NewProject, 'remote' | 'import' | 'from'>,
    from: string,
    { principal, access }: { principal: string; access: Access },
  ): Promise<Project> {
    const at = from.indexOf('@');
    const source = at < 0 ? from : from.slice(0, at);
    const point = at < 0 ? 'committed' : from.slice(at + 1);
    await ownership.assertProject(access, source);
    const mayRead = (workspace: string) => ownership.assertWorkspace(access, source, workspace, false);
    const tree = await deps.facts.describe(await deps.history.treeAt(source, { principal }, point, mayRead));
    const bytes = tree.reduce((n, f) => n + f.size, 0);
    checkWorkspaceBytes({ name: input.name, quota_bytes: input.quota_bytes ?? null }, bytes, deps.limits);
    return projects.create(input, principal, async (tx, row) => {
      const version = await recordChange(tx, row.id, {
        principal,
        kind: 'import',
        paths: tree.map((f) => f.path),
        detail: { from },
      });
      await insertCommittedFiles(
        tx,
        row.id,
        version,
        tree.map((f) => ({ ...f, local: true })),
      );
      if (bytes > 0)
        await refuseOverTotal(tx, deps.limits.totalBytes, `creating '${input.name}' from '${from}'`);
      return getProject(tx, input.name);
    });
  }

  return {
    async createProject(
      { remote, import: doImport, from, ...input }: NewProject,
      caller: { principal: string; access: Access },
      call: CallContext,
    ): Promise<CreatedProject> {
      checkRequestedQuota(input.quota_bytes, deps.limits);
      if (from !== undefined) {
        if (remote) {
          throw invalidInput(
            'pass from or remote, not both: a project made from another starts with its tree; attach a remote afterwards with update_project',
          );
        }
        return { project: await createFrom(input, from, caller) };
      }
      if (!remote) return { project: await projects.create(input, caller.principal) };
      const ref = { url: remote.url, branch: remote.branch ?? 'main' };
      await sync.checkRemote(ref);
      await ownership.assertRemoteFree(caller.access, ref);
      let repositoryCreated: boolean | undefined;
      if (remote.create) {
        if (!host) {
          throw new StowageError(
            'unavailable',
            'creating a repository needs GitHub access: set GITHUB_TOKEN',
          );
        }
        repositoryCreated = await host.ensureRepository(ref.url, {
          private: true,
          description: input.description,
        });
      }
      if (doImport === false) {
        return {
          project: await projects.create({ ...input, remote: ref }, caller.principal),
          repositoryCreated,
        };
      }
      const created = await sync.createWithImport({ ...input, remote: ref }, caller.principal, call);
      return { project: created.project, imported: created.import, repositoryCreated };
    },

    /** Changes what createProject set, checked as it checks it (projects.ts: update). */
    async updateProject(
      name: string,
      { remote, ...changes }: ProjectUpdate,
      caller: { principal: string; access: Access },
    ): Promise<Project> {
      if (changes.quota_bytes != null) checkRequestedQuota(changes.quota_bytes, deps.limits);
      let ref: RemoteRef | null | undefined = remote === null ? null : undefined;
      if (remote) {
        const branch = remote.branch ?? (await projects.get(name)).remote?.branch ?? 'main';
        ref = { url: remote.url, branch };
        await sync.checkRemote(ref);
        await ownership.assertRemoteFree(caller.access, ref);
      }
      return projects.update(name, { ...changes, remote: ref }, caller.principal);
    },

    /** Brings the committed tree up to the remote branch (remote-sync.ts). */
    sync: (projectName: string, actor: Actor, call: CallContext) => sync.sync(projectName, actor, call),

    async openPullRequest(projectName: string, pr: PullRequestInput) {
      const project = await projects.get(projectName);
      if (!project.remote) {
        throw invalidInput(`project '${projectName}' has no remote: create it with remote {url, branch}`);
      }
      if (!host) {
        throw new StowageError(
          'unavailable',
          'pull requests need GitHub access: set GITHUB_TOKEN (and GITHUB_API_URL for Enterprise)',
        );
      }
      return host.openPullRequest(project.remote.url, {
        head: pr.head,
        base: pr.base ?? project.remote.branch,
        title: pr.title,
        body: pr.body,
      });
    },
  };
}

export type RemoteService = ReturnType<typeof createRemoteService>;
