// History tools: file_history, diff, restore and checkpoint. Reads as of a point are read_file's
// and batch_read's `at` (files-read.ts). Points are written as store/history/points.ts reads them.
import { z } from 'zod';
import { batchError, defineTool, mayReadOf, projectArg, READ, workspaceArg } from './define.js';
import type { ToolLimits } from './tool-list.js';

const point = z.string().describe('See file_history');

const fileHistory = defineTool({
  name: 'file_history',
  toolset: 'changes',
  title: 'File history',
  description:
    "A file's versions, newest first, yours and committed, across moves. Points in time: version id, SHA, Task #<id>, checkpoint, committed, workspace:<name>, ISO time.",
  input: {
    project: projectArg,
    path: z.string(),
    workspace: workspaceArg,
    cursor: z.string().optional(),
    limit: z.number().int().min(1).max(1000).optional(),
  },
  output: {
    versions: z.array(
      z.object({
        id: z.string(),
        path: z.string(),
        workspace: z.string().nullable().describe('null: committed'),
        op: z.enum(['upsert', 'delete', 'clean']),
        etag: z.string().nullable(),
        size: z.number(),
        by: z.string().nullable(),
        at: z.string(),
        how: z.string().nullable(),
        commit: z.object({ sha: z.string().nullable(), task: z.string() }).optional(),
      }),
    ),
    next_cursor: z.string().optional(),
  },
  annotations: READ,
  async handle({ project, path, workspace, cursor, limit }, { stowage, principal }) {
    const { versions, next_cursor } = await stowage.history.fileHistory(
      project,
      { principal, workspace },
      path,
      { cursor, limit: limit ?? 50 },
    );
    return {
      structured: { versions, ...(next_cursor ? { next_cursor } : {}) },
      summary: `${versions.length} version(s) of ${path}${next_cursor ? '; more with next_cursor' : ''}`,
    };
  },
});

const checkpoint = defineTool({
  name: 'checkpoint',
  toolset: 'changes',
  title: 'Checkpoint',
  description: "Name your workspace's view now, to read, diff or restore by name later.",
  input: {
    project: projectArg,
    name: z.string().optional(),
    workspace: workspaceArg,
  },
  output: {
    name: z.string(),
    workspace: z.string(),
    version: z.number(),
    created_at: z.string(),
  },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  async handle({ project, name, workspace }, { stowage, principal }) {
    const taken = await stowage.history.checkpoint(project, { principal, workspace }, name);
    return {
      structured: {
        name: taken.name,
        workspace: taken.workspace,
        version: taken.version,
        created_at: taken.created_at.toISOString(),
      },
      summary: `checkpoint '${taken.name}' of workspace ${taken.workspace} at version ${taken.version}`,
    };
  },
});

const diff = defineTool({
  name: 'diff',
  toolset: 'changes',
  title: 'Diff',
  description: (l) =>
    `Diff two points (to: default your workspace now); text diffs within max_chars (default ${l.responseChars}).`,
  input: (l: ToolLimits) => ({
    project: projectArg,
    from: point,
    to: point.optional(),
    paths: z.array(z.string()).max(l.batchFiles, batchError(l, 'paths')).optional(),
    workspace: workspaceArg,
    context: z.number().int().min(0).max(100).optional(),
    max_chars: z.number().int().min(1000).max(1_000_000).optional(),
  }),
  output: {
    files: z.array(
      z.object({
        path: z.string(),
        status: z.enum(['added', 'modified', 'deleted', 'renamed']),
        from_path: z.string().optional(),
        binary: z.boolean().optional(),
        diff: z.string().optional(),
      }),
    ),
    omitted: z.array(z.string()),
    budget: z.object({ max_chars: z.number(), used_chars: z.number() }),
    note: z.string().optional(),
  },
  annotations: READ,
  async handle(args, { stowage, principal, access }) {
    const { project, workspace, max_chars, ...rest } = args;
    const result = await stowage.history.diff(
      project,
      { principal, workspace },
      {
        ...rest,
        maxChars: max_chars ?? stowage.limits.responseChars,
        mayRead: mayReadOf(stowage, access, project),
      },
    );
    const { note, ...structured } = result;
    return {
      structured: { ...structured, ...(note ? { note } : {}) },
      summary: `${result.files.length} file(s) changed from ${args.from} to ${args.to ?? 'now'}${note ? `; ${note}` : ''}`,
    };
  },
});

/** Restored paths listed by name: a whole project's would not fit a response. */
const LISTED = 200;

const restore = defineTool({
  name: 'restore',
  toolset: 'changes',
  title: 'Restore',
  description:
    'Restore paths (or all) in your workspace to a point, as uncommitted changes; restore again to undo.',
  input: {
    project: projectArg,
    to: point,
    paths: z.array(z.string()).optional(),
    workspace: workspaceArg,
    dry_run: z.boolean().optional(),
  },
  output: {
    restored: z.array(z.object({ path: z.string(), action: z.enum(['write', 'delete']) })),
    more: z.number().optional().describe('Restored paths not listed'),
    unchanged: z.number(),
    dry_run: z.boolean(),
  },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handle({ project, to, paths, workspace, dry_run }, { stowage, principal, access }) {
    const { restored, unchanged } = await stowage.history.restore(project, { principal, workspace }, to, {
      paths,
      dryRun: dry_run ?? false,
      mayRead: mayReadOf(stowage, access, project),
    });
    const verb = dry_run ? 'would restore' : 'restored';
    return {
      structured: {
        restored: restored.slice(0, LISTED),
        ...(restored.length > LISTED ? { more: restored.length - LISTED } : {}),
        unchanged,
        dry_run: dry_run ?? false,
      },
      summary: `${verb} ${restored.length} path(s) to '${to}'; ${unchanged} already as they were`,
    };
  },
});

export default [fileHistory, diff, restore, checkpoint];
