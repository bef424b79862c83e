// Change tools: list_changes (with optional diffs) and discard_changes.
import { z } from 'zod';
import { defineTool, DESTRUCTIVE, projectArg, READ, workspaceArg } from './define.js';

const changeSchema = z.object({
  path: z.string(),
  state: z.enum(['added', 'modified', 'deleted', 'conflict']),
  size: z.number(),
  etag: z.string().nullable(),
  diff: z.string().optional(),
  theirs_diff: z.string().optional().describe("A conflict's committed change from the same base"),
});

const listChanges = defineTool({
  name: 'list_changes',
  toolset: 'changes',
  title: 'List uncommitted changes',
  description:
    "Your workspace's uncommitted changes (added, modified, deleted, conflict); diff: true adds unified diffs.",
  input: { project: projectArg, workspace: workspaceArg, diff: z.boolean().optional() },
  output: { workspace: z.string(), changes: z.array(changeSchema), note: z.string().optional() },
  annotations: READ,
  async handle({ project, workspace, diff }, { stowage, principal }) {
    const result = await stowage.reader.changes(project, { principal, workspace }, diff ?? false);
    const { note, ...rest } = result;
    const conflicts = result.changes.filter((c) => c.state === 'conflict').map((c) => c.path);
    const advice = conflicts.length
      ? `; in conflict with the committed version: ${conflicts.join(', ')} (diff is your change, theirs_diff theirs, from the same base; write the resolved file, or discard_changes to take theirs)`
      : '';
    return {
      structured: { ...rest, ...(note ? { note } : {}) },
      summary: `${result.changes.length} uncommitted change(s) in workspace ${result.workspace}${advice}${note ? `; ${note}` : ''}`,
    };
  },
});

const discardChanges = defineTool({
  name: 'discard_changes',
  toolset: 'changes',
  title: 'Discard uncommitted changes',
  description: 'Drop uncommitted changes (all, or paths): your workspace shows the committed files again.',
  input: { project: projectArg, workspace: workspaceArg, paths: z.array(z.string()).max(1000).optional() },
  output: { discarded: z.array(z.object({ path: z.string(), state: z.string() })), version: z.number() },
  annotations: { ...DESTRUCTIVE, idempotentHint: true },
  async handle({ project, workspace, paths }, { stowage, principal }) {
    const { discarded, version } = await stowage.workspace.discard(project, { principal, workspace }, paths);
    return {
      structured: { discarded: discarded.map((e) => ({ path: e.path, state: e.state })), version },
      summary: `discarded ${discarded.length} change(s)`,
    };
  },
});

export default [listChanges, discardChanges];
