// File writing tools: write_file, write_files, edit_file, delete_file, move_file. Every write
// lands in a workspace as a draft.
import { z } from 'zod';
import { invalidInput } from '../errors.js';
import { assertText, decodeContent } from '../formats/content.js';
import { normalizePath } from '../paths.js';
import { batchError, defineTool, DESTRUCTIVE, projectArg, WRITE, workspaceArg } from './define.js';
import type { ToolLimits } from './tool-list.js';

const encodingArg = z.enum(['utf8', 'base64']).optional();
const ifMatchArg = z.string().optional();
// Likely secrets in what was written (store/secrets.ts): the write stands; a push, zip or export
// of it is refused until fixed or allowed.
const warningsSchema = z.array(z.object({ path: z.string(), line: z.number(), rule: z.string() })).optional();
const withWarnings = (warnings: { path: string; line: number; rule: string }[]) =>
  warnings.length ? { warnings } : {};
const warned = (warnings: { path: string; line: number; rule: string }[]) =>
  warnings.length
    ? `; likely secret(s) at ${warnings.map((w) => `${w.path}:${w.line} (${w.rule})`).join(', ')}: move them out of the file (a push, zip_job or export refuses them)`
    : '';

const writtenSchema = {
  path: z.string(),
  etag: z.string(),
  size: z.number(),
  state: z.enum(['added', 'modified', 'committed']),
  changed: z.boolean(),
};

const writeFile = defineTool({
  name: 'write_file',
  toolset: 'files',
  title: 'Write file',
  description: 'Create or replace a file in your workspace; binary content as base64.',
  input: {
    project: projectArg,
    path: z.string(),
    content: z.string(),
    encoding: encodingArg,
    if_match: ifMatchArg,
    workspace: workspaceArg,
  },
  output: { ...writtenSchema, warnings: warningsSchema },
  annotations: WRITE,
  async handle({ project, path, content, encoding, if_match, workspace }, { stowage, principal }) {
    const bytes = decodeContent(content, encoding ?? 'utf8', path);
    const [result] = await stowage.workspace.write(project, { principal, workspace }, [
      { path, content: bytes, ifMatch: if_match },
    ]);
    const r = result!;
    const warnings = await stowage.secrets.check(project, [{ path: r.path, content: bytes }]);
    return {
      structured: { ...r, ...withWarnings(warnings) },
      summary:
        (r.changed
          ? `wrote ${r.path} (${r.size} bytes, ${r.state}, etag ${r.etag})`
          : `${r.path} unchanged (etag ${r.etag})`) + warned(warnings),
    };
  },
});

const writeFiles = defineTool({
  name: 'write_files',
  toolset: 'files',
  title: 'Write many files',
  description: (l: ToolLimits) => `Create or replace up to ${l.batchFiles} files in one all-or-nothing call.`,
  input: (l: ToolLimits) => ({
    project: projectArg,
    files: z
      .array(
        z.strictObject({
          path: z.string(),
          content: z.string(),
          encoding: encodingArg,
          if_match: ifMatchArg,
        }),
      )
      .min(1)
      .max(l.batchFiles, batchError(l, 'files')),
    workspace: workspaceArg,
  }),
  output: { files: z.array(z.object(writtenSchema)), warnings: warningsSchema },
  annotations: WRITE,
  async handle({ project, files, workspace }, { stowage, principal }) {
    const writes = files.map((f) => ({
      path: f.path,
      content: decodeContent(f.content, f.encoding ?? 'utf8', f.path),
      ifMatch: f.if_match,
    }));
    const results = await stowage.workspace.write(project, { principal, workspace }, writes);
    const warnings = await stowage.secrets.check(
      project,
      results.map((r, i) => ({ path: r.path, content: writes[i]!.content })),
    );
    const changed = results.filter((r) => r.changed).length;
    return {
      structured: { files: results, ...withWarnings(warnings) },
      summary: `wrote ${changed} file(s), ${results.length - changed} unchanged${warned(warnings)}`,
    };
  },
});

const editFile = defineTool({
  name: 'edit_file',
  toolset: 'files',
  title: 'Edit file',
  description:
    'Replace text in a file: each old_text (up to 100 edits) must match once, exactly or ignoring whitespace. Returns a diff; dry_run previews.',
  input: {
    project: projectArg,
    path: z.string(),
    edits: z
      .array(z.strictObject({ old_text: z.string(), new_text: z.string() }))
      .min(1)
      .max(100),
    dry_run: z.boolean().optional(),
    if_match: ifMatchArg,
    workspace: workspaceArg,
  },
  output: {
    path: z.string(),
    diff: z.string(),
    etag: z.string(),
    written: z.boolean(),
    warnings: warningsSchema,
  },
  annotations: { ...WRITE, idempotentHint: false },
  async handle({ project, path, edits, dry_run, if_match, workspace }, { stowage, principal }) {
    edits.forEach((e, i) => assertText(e.new_text, path, `new_text of edit ${i + 1}`));
    const { content, ...result } = await stowage.workspace.edit(
      project,
      { principal, workspace },
      path,
      edits.map((e) => ({ oldText: e.old_text, newText: e.new_text })),
      { dryRun: dry_run ?? false, ifMatch: if_match },
    );
    const warnings = content ? await stowage.secrets.check(project, [{ path: result.path, content }]) : [];
    return {
      structured: { ...result, ...withWarnings(warnings) },
      summary:
        (result.written
          ? `edited ${result.path} (etag ${result.etag})`
          : `dry run: ${result.path} not written`) + warned(warnings),
    };
  },
});

const deleteFile = defineTool({
  name: 'delete_file',
  toolset: 'files',
  title: 'Delete files',
  description: (l) =>
    `Delete a file (path) or up to ${l.batchFiles} (paths) in your workspace; all must exist or nothing is deleted.`,
  input: (l: ToolLimits) => ({
    project: projectArg,
    path: z.string().optional(),
    paths: z.array(z.string()).max(l.batchFiles, batchError(l, 'paths')).optional(),
    if_match: ifMatchArg.describe('Of path, not paths'),
    workspace: workspaceArg,
  }),
  output: { deleted: z.array(z.string()), version: z.number() },
  annotations: DESTRUCTIVE,
  async handle({ project, path, paths, if_match, workspace }, { stowage, principal }) {
    const all = [...(path !== undefined ? [path] : []), ...(paths ?? [])];
    if (!all.length) throw invalidInput('pass path or paths');
    if (if_match !== undefined && path === undefined) {
      throw invalidInput('if_match applies to path: pass the single file as path');
    }
    const guard =
      path !== undefined && if_match !== undefined ? new Map([[normalizePath(path), if_match]]) : undefined;
    const result = await stowage.workspace.delete(project, { principal, workspace }, all, guard);
    return {
      structured: result,
      summary: `deleted ${result.deleted.length} file(s) in the workspace (commit to make it permanent)`,
    };
  },
});

const moveFile = defineTool({
  name: 'move_file',
  toolset: 'files',
  title: 'Move file',
  description: 'Rename or move a file in your workspace; the destination must not exist.',
  input: {
    project: projectArg,
    from: z.string(),
    to: z.string(),
    if_match: ifMatchArg,
    workspace: workspaceArg,
  },
  output: { from: z.string(), to: z.string(), etag: z.string(), size: z.number(), version: z.number() },
  annotations: { ...WRITE, idempotentHint: false },
  async handle({ project, from, to, if_match, workspace }, { stowage, principal }) {
    const result = await stowage.workspace.move(project, { principal, workspace }, from, to, if_match);
    return { structured: result, summary: `moved ${result.from} to ${result.to}` };
  },
});

export default [writeFile, writeFiles, editFile, deleteFile, moveFile];
