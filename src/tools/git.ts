// Commit and remote tools: commit_task, sync_project, project_history, open_pull_request.
import { z } from 'zod';
import { invalidInput, StowageError } from '../errors.js';
import { defineTool, projectArg, READ, workspaceArg } from './define.js';

const fileStates = z.array(z.object({ path: z.string(), state: z.string() }));

const commitTask = defineTool({
  name: 'commit_task',
  toolset: 'changes',
  title: 'Commit a task',
  description:
    "Commit your workspace's changes (all, or paths) as 'Task #<id>: <title>', pushed first if there is a remote. If the remote changed the same files, it goes to branch and your changes stay.",
  input: {
    project: projectArg,
    task: z.object({ id: z.union([z.string(), z.number()]).transform(String), title: z.string() }),
    message: z.string().max(20_000).optional().describe('Commit body'),
    paths: z.array(z.string()).max(10_000).optional(),
    workspace: workspaceArg,
    push: z.boolean().optional().describe('Default true when the project has a remote'),
    branch: z
      .string()
      .optional()
      .describe('Branch if the remote changed the same files (default stowage/task-<id>)'),
  },
  output: {
    commit: z.number(),
    status: z.enum(['local', 'pushed', 'diverged']),
    sha: z.string().optional(),
    branch: z.string().optional(),
    rebased: z.boolean().optional(),
    conflicts: z.array(z.string()).optional(),
    files: fileStates,
    version: z.number(),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  async handle(
    { project, task, message, paths, workspace, push, branch },
    { stowage, principal, signal, progress },
  ) {
    const result = await stowage.commits.commitTask(
      project,
      { principal, workspace },
      { task, message, paths, push, branch },
      { signal, progress },
    );
    const n = result.files.length;
    const summary =
      result.status === 'diverged'
        ? `the remote changed ${result.conflicts.join(', ')} too: commit pushed to ${result.branch}; your ${n} change(s) stay uncommitted (sync_project, then commit again, or open_pull_request)`
        : result.status === 'pushed'
          ? `committed ${n} file(s) and pushed ${result.sha.slice(0, 12)} to ${result.branch}${result.rebased ? ' (rebuilt on the moved remote; sync_project to see its other changes)' : ''}`
          : `committed ${n} file(s) locally (version ${result.version})`;
    return { structured: result, summary };
  },
});

const syncProject = defineTool({
  name: 'sync_project',
  toolset: 'changes',
  title: 'Sync from remote',
  description:
    "Bring the committed tree up to the remote branch's head. Drafts are never touched; remote changes to files you have drafts of are reported.",
  input: { project: projectArg },
  output: {
    head: z.string(),
    version: z.number(),
    updated: z.array(z.string()),
    removed: z.array(z.string()),
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
    kept_local: z.array(z.string()),
    conflicts: z.array(z.object({ path: z.string(), workspaces: z.array(z.string()) })),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async handle({ project }, { stowage, principal, signal, progress }) {
    const r = await stowage.remotes.sync(project, { principal }, { signal, progress });
    const conflicts = r.conflicts.length
      ? `; ${r.conflicts.length} of them have drafts: review with list_changes`
      : '';
    return {
      structured: r,
      summary: `at ${r.head.slice(0, 12)}: ${r.updated.length} updated, ${r.removed.length} removed, ${r.skipped.length} skipped${conflicts}`,
    };
  },
});

const projectHistory = defineTool({
  name: 'project_history',
  toolset: 'changes',
  title: 'Project history',
  description: 'Commits of a project, newest first, optionally for one task; paginated.',
  input: {
    project: projectArg,
    task_id: z.union([z.string(), z.number()]).transform(String).optional(),
    cursor: z.string().optional(),
    limit: z.number().int().min(1).max(200).optional().describe('Default 50'),
  },
  output: {
    commits: z.array(
      z.object({
        id: z.number(),
        task_id: z.string(),
        task_title: z.string(),
        message: z.string(),
        author: z.string(),
        workspace: z.string(),
        files: fileStates,
        status: z.enum(['local', 'pushed', 'diverged']),
        git_sha: z.string().nullable(),
        branch: z.string().nullable(),
        version: z.number().nullable(),
        created_at: z.string(),
      }),
    ),
    next_cursor: z.string().optional(),
  },
  annotations: READ,
  async handle({ project, task_id, cursor, limit }, { stowage }) {
    const { commits, next_cursor } = await stowage.commits.history(project, {
      taskId: task_id,
      cursor,
      limit,
    });
    return {
      structured: { commits, ...(next_cursor ? { next_cursor } : {}) },
      summary: `${commits.length} commit(s)${next_cursor ? '; more with next_cursor' : ''}`,
    };
  },
});

const openPullRequest = defineTool({
  name: 'open_pull_request',
  toolset: 'changes',
  title: 'Open pull request',
  description:
    "Open a GitHub pull request from head (e.g. a stowage/task-<id> branch) into base (default: the project's branch).",
  input: {
    project: projectArg,
    head: z.string(),
    base: z.string().optional(),
    title: z.string().min(1).max(256),
    body: z.string().max(65_000).optional(),
  },
  output: { number: z.number(), url: z.string(), head: z.string(), base: z.string() },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  async handle({ project: name, head, base, title, body }, { stowage }) {
    const project = await stowage.projects.get(name);
    if (!project.remote)
      throw invalidInput(`project '${name}' has no remote: create it with remote {url, branch}`);
    if (!stowage.gitHost) {
      throw new StowageError(
        'unavailable',
        'pull requests need GitHub access: set GITHUB_TOKEN (and GITHUB_API_URL for Enterprise)',
      );
    }
    const pr = await stowage.gitHost.openPullRequest(project.remote.url, {
      head,
      base: base ?? project.remote.branch,
      title,
      body,
    });
    return { structured: pr, summary: `opened pull request #${pr.number}: ${pr.url}` };
  },
});

export default [commitTask, syncProject, projectHistory, openPullRequest];
