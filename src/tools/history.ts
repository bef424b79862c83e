// History tools: file_history and checkpoint. Reads as of a point are read_file's and
// batch_read's `at` (files-read.ts).
import { z } from 'zod';
import { defineTool, projectArg, READ, workspaceArg } from './define.js';

const fileHistory = defineTool({
  name: 'file_history',
  toolset: 'changes',
  title: 'File history',
  description:
    "Versions of one file, newest first, in your workspace and committed (continuing across moves); each id reads back with read_file's at.",
  input: {
    project: projectArg,
    path: z.string(),
    workspace: workspaceArg,
    cursor: z.string().optional(),
    limit: z.number().int().min(1).max(1000).optional().describe('Default 50'),
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
  description:
    "Name your workspace's whole view as it is now (no content copied), to read, diff or restore later by that name.",
  input: {
    project: projectArg,
    name: z.string().optional().describe('Default checkpoint-<version>-<workspace>'),
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

export default [fileHistory, checkpoint];
