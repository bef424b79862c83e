// Who may see a project and use a workspace: pure rules over the caller's Access and what a row
// says of its owner, apart from ownership.ts's queries so that tool and resource modules (loaded
// before storage opens) can apply them without loading the query layer.
import type { Access } from '../access.js';
import type { ProjectRef } from './db/queries/projects.js';

/** Every job's id starts with this; a project may not, so a name tells which it is. */
export const JOB_PREFIX = 'job-';

/** Whether `access` may see the project at all: its patterns, or for a job, its ownership. A `*`
 *  admin sees every job, for cleanup and support. */
export function canSee(access: Access, project: ProjectRef): boolean {
  if (project.kind !== 'job') return access.allows(project.name);
  return access.unrestricted || access.global || ownsJob(access, project);
}

function ownsJob(access: Access, job: ProjectRef): boolean {
  if (job.created_by !== access.principal) return false;
  if (!job.owner_projects) return true;
  const mine = [...(access.patterns ?? [])].sort().join('\n');
  return [...job.owner_projects].sort().join('\n') === mine;
}

/** Workspaces `access` may use whoever owns them: its own default, any with admin scope or a
 *  token's --workspaces, all for one user. */
export const mayUseAny = (access: Access, workspace: string) =>
  access.unrestricted ||
  workspace === access.principal ||
  access.scopes.includes('admin') ||
  access.sharesWorkspace(workspace);

/** Whether `access` may use (and see listed) a workspace owned by `owner`. */
export const mayUseWorkspace = (access: Access, workspace: string, owner: string | null) =>
  mayUseAny(access, workspace) || (owner !== null && owner === access.principal);
