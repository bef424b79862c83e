// Commit and remote tools: commit_task, sync_project, project_history, open_pull_request.
import { z } from 'zod';
import type { Stowage } from '../store/stowage.js';
import { defineTool, projectArg, READ, workspaceArg } from './define.js';

/** A task id is a string; a number (issue 42) is taken as its digits, though only string is listed. */
const taskIdArg = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string());

const fileStates = z.array(z.object({ path: z.string(), state: z.string() }));
const draftPaths = z.array(z.object({ path: z.string(), workspaces: z.array(z.string()) }));

const commitTask = defineTool({
  name: 'commit_task',
  toolset: 'changes',
  title: 'Commit a task',
  description:
    "Commit your changes (all, or paths) as 'Task #<id>: <title>' and push them, merged with the remote's edits; a same-line clash goes to branch, drafts kept.",
  input: {
    project: projectArg,
    task: z.strictObject({ id: taskIdArg, title: z.string() }),
    message: z.string().max(20_000).optional(),
    paths: z.array(z.string()).max(10_000).optional(),
    workspace: workspaceArg,
    push: z.boolean().optional(),
    branch: z.string().optional().describe('For a same-line clash (default stowage/task-<id>)'),
    allow_secrets: z.boolean().optional(),
  },
  output: {
    commit: z.number(),
    status: z.enum(['local', 'pushed', 'diverged']),
    sha: z.string().optional(),
    branch: z.string().optional(),
    rebased: z.boolean().optional(),
    conflicts: z.array(z.string()).optional(),
    recovered: z.boolean().optional(),
    files: fileStates,
    version: z.number(),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  async handle(
    { project, task, message, paths, workspace, push, branch, allow_secrets },
    { stowage, principal, signal, progress },
  ) {
    const result = await stowage.commits.commitTask(
      project,
      { principal, workspace },
      { task, message, paths, push, branch, allowSecrets: allow_secrets },
      { signal, progress },
    );
    return { structured: result, summary: commitSummary(result) };
  },
});

function commitSummary(result: Awaited<ReturnType<Stowage['commits']['commitTask']>>): string {
  const n = result.files.length;
  if (result.status === 'local') return `committed ${n} file(s) locally (version ${result.version})`;
  if (result.status === 'diverged') {
    const paths = result.conflicts.join(', ');
    return (
      `the remote changed the same lines of ${paths}: nothing was pushed to the project's branch, which keeps ` +
      `their version. Your commit (conflict markers where the lines overlap) is on ${result.branch}, and your ` +
      `${n} change(s) stay uncommitted. To finish: sync_project (marks ${paths} conflict), read_file with ` +
      `side: 'theirs' to see their version, write the resolved file, then commit_task again`
    );
  }
  const sha = result.sha.slice(0, 12);
  if ('recovered' in result) {
    return `an earlier commit_task of this workspace had pushed ${sha} to ${result.branch} before it was interrupted: applied it (${n} file(s)); nothing was pushed again`;
  }
  const merged = result.rebased
    ? ' (merged with the moved remote; sync_project brings in its other changes)'
    : '';
  return `committed ${n} file(s) and pushed ${sha} to ${result.branch}${merged}`;
}

const syncProject = defineTool({
  name: 'sync_project',
  toolset: 'changes',
  title: 'Sync from remote',
  description:
    'Update the committed tree to the remote branch, merging into your drafts; overlapping edits become conflict.',
  input: { project: projectArg },
  output: {
    head: z.string(),
    version: z.number(),
    updated: z.array(z.string()),
    removed: z.array(z.string()),
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
    kept_local: z.array(z.string()),
    merged: draftPaths,
    conflicts: draftPaths,
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async handle({ project }, { stowage, principal, signal, progress }) {
    const r = await stowage.remotes.sync(project, { principal }, { signal, progress });
    const names = (drafts: { path: string }[]) => drafts.map((d) => d.path).join(', ');
    const merged = r.merged.length ? `; drafts of ${names(r.merged)} merged with the remote's changes` : '';
    const conflicts = r.conflicts.length
      ? `; ${names(r.conflicts)} conflict (the same lines changed): read_file with side 'theirs' shows the ` +
        `remote's version, list_changes with diff: true both changes; write the resolved file, or ` +
        `discard_changes to take theirs, before commit_task`
      : '';
    return {
      structured: r,
      summary: `at ${r.head.slice(0, 12)}: ${r.updated.length} updated, ${r.removed.length} removed, ${r.skipped.length} skipped${merged}${conflicts}`,
    };
  },
});

const projectHistory = defineTool({
  name: 'project_history',
  toolset: 'changes',
  title: 'Project history',
  description:
    "Commits, newest first (one task's with task_id), paginated; checkpoints/remote_commits: true add those.",
  input: {
    project: projectArg,
    task_id: taskIdArg.optional(),
    cursor: z.string().optional(),
    limit: z.number().int().min(1).max(200).optional(),
    checkpoints: z.boolean().optional(),
    remote_commits: z.boolean().optional(),
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
    checkpoints: z
      .array(
        z.object({
          name: z.string(),
          workspace: z.string(),
          version: z.number(),
          created_by: z.string(),
          created_at: z.string(),
        }),
      )
      .optional(),
    remote_commits: z
      .array(
        z.object({
          sha: z.string(),
          author: z.string(),
          date: z.string(),
          subject: z.string(),
          stowage: z.boolean(),
        }),
      )
      .optional(),
  },
  annotations: READ,
  async handle({ project, task_id, cursor, limit, checkpoints, remote_commits }, { stowage, signal }) {
    const { commits, next_cursor } = await stowage.commits.history(project, {
      taskId: task_id,
      cursor,
      limit,
    });
    const points = checkpoints
      ? (await stowage.history.checkpoints(project, 1000)).map((c) => ({
          ...c,
          created_at: c.created_at.toISOString(),
        }))
      : undefined;
    const remote = remote_commits
      ? await stowage.commits.remoteLog(project, limit ?? 50, { signal })
      : undefined;
    return {
      structured: {
        commits,
        ...(next_cursor ? { next_cursor } : {}),
        ...(points ? { checkpoints: points } : {}),
        ...(remote ? { remote_commits: remote } : {}),
      },
      summary: `${commits.length} commit(s)${next_cursor ? '; more with next_cursor' : ''}${points ? `, ${points.length} checkpoint(s)` : ''}${remote ? `, ${remote.length} on the remote` : ''}`,
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
  async handle({ project, head, base, title, body }, { stowage }) {
    const pr = await stowage.remotes.openPullRequest(project, { head, base, title, body });
    return { structured: pr, summary: `opened pull request #${pr.number}: ${pr.url}` };
  },
});

export default [commitTask, syncProject, projectHistory, openPullRequest];
