// File reading tools: list_files, read_file, batch_read, search_files.
import { z } from 'zod';
import { asText, lineWindow } from '../formats/content.js';
import { fileUri } from '../resource-uris.js';
import { shownState } from '../store/workspace/view.js';
import { invalidInput } from '../errors.js';
import {
  atArg,
  batchError,
  defineTool,
  mayReadOf,
  projectArg,
  READ,
  stateSchema,
  workspaceArg,
} from './define.js';
import type { ToolLimits } from './tool-list.js';

/** A file's state as shown: a draft the committed tree moved under and that overlaps it is `conflict`. */
const shownStateSchema = z.enum([...stateSchema.options, 'conflict']);

const listFiles = defineTool({
  name: 'list_files',
  toolset: 'files',
  title: 'List files',
  description:
    'List files as your workspace sees them; depth folds deeper paths into directories; up to 1000 a page (default 200).',
  input: {
    project: projectArg,
    prefix: z.string().optional().describe("e.g. 'src/'"),
    glob: z.string().optional().describe("e.g. 'src/**/*.ts'"),
    depth: z.number().int().min(1).max(64).optional().describe('Levels below prefix to show'),
    workspace: workspaceArg,
    cursor: z.string().optional(),
    limit: z.number().int().min(1).max(1000).optional(),
  },
  output: {
    entries: z.array(
      z.object({
        path: z.string(),
        type: z.enum(['file', 'directory']),
        size: z.number(),
        state: shownStateSchema.optional(),
        etag: z.string().nullable().optional(),
        files: z.number().optional(),
      }),
    ),
    next_cursor: z.string().optional(),
  },
  annotations: READ,
  async handle({ project, workspace, ...input }, { stowage, principal }) {
    const { entries, next_cursor } = await stowage.reader.list(project, { principal, workspace }, input);
    return {
      structured: { entries, ...(next_cursor ? { next_cursor } : {}) },
      summary: `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}${next_cursor ? '; more with next_cursor' : ''}`,
    };
  },
});

/** What read_file's fields other than the content cost in its result (path, etag, lines, summary). */
const READ_FIELDS_CHARS = 400;

const CONFLICT_NOTE =
  "; this is your version, in conflict with the committed one: side 'theirs' reads theirs, and writing the file resolves it";

const readFile = defineTool({
  name: 'read_file',
  toolset: 'files',
  title: 'Read file',
  description:
    "Read one file (base64 if binary); offset/limit pick lines; side reads a conflict's base or theirs; too large: a resource link.",
  input: {
    project: projectArg,
    path: z.string(),
    workspace: workspaceArg,
    offset: z.number().int().min(1).optional().describe('First line, 1-based'),
    limit: z.number().int().min(1).optional(),
    side: z
      .enum(['base', 'theirs'])
      .optional()
      .describe('theirs: committed; base: what your change started from'),
    at: atArg,
  },
  output: {
    path: z.string(),
    etag: z.string(),
    size: z.number(),
    state: shownStateSchema,
    encoding: z.enum(['utf8', 'base64']),
    content: z.string().optional(),
    offset: z.number().optional(),
    lines: z.number().optional(),
    total_lines: z.number().optional(),
    next_offset: z.number().optional(),
    resource: z.string().optional().describe('URI to read the whole file when content is left out'),
    note: z.string().optional(),
  },
  annotations: READ,
  async handle({ project, path, workspace, offset, limit, side, at }, { stowage, principal, access }) {
    if (at !== undefined && side !== undefined) {
      throw invalidInput('pass side or at, not both: side reads a conflict, at a point in time');
    }
    const actor = { principal, workspace };
    const { entry, content } =
      at === undefined
        ? await stowage.workspace.read(project, actor, path, side)
        : await stowage.history.read(project, actor, path, at, mayReadOf(stowage, access, project));
    const budget = stowage.limits.responseChars;
    const base = { path: entry.path, etag: entry.etag!, size: entry.size, state: shownState(entry) };
    const uri = fileUri(project, entry.path);
    const text = asText(content);
    const link = (note: string, encoding: 'utf8' | 'base64') => ({
      structured: { ...base, encoding, resource: uri, note },
      summary: `${entry.path}: ${entry.size} bytes, too large for one response; see the resource link`,
      links: [{ type: 'resource_link' as const, uri, name: entry.path, size: entry.size }],
    });
    if (text === undefined) {
      const b64 = content.toString('base64');
      if (b64.length + READ_FIELDS_CHARS > budget)
        return link(`binary file over ${budget} chars as base64: read the resource`, 'base64');
      return {
        structured: { ...base, encoding: 'base64' as const, content: b64 },
        summary: `${entry.path}: ${entry.size} bytes (binary, base64)`,
      };
    }
    const window = lineWindow(text, offset, limit);
    // As clients receive it: escaped in structuredContent's JSON, as it is in the text.
    if (Math.max(JSON.stringify(window.text).length, window.text.length) + READ_FIELDS_CHARS > budget) {
      return link(
        `${window.lines} lines (${window.text.length} chars) exceed the ${budget}-char response budget: pass offset/limit for a smaller window, or read the resource`,
        'utf8',
      );
    }
    return {
      structured: {
        ...base,
        encoding: 'utf8' as const,
        content: window.text,
        offset: window.offset,
        lines: window.lines,
        total_lines: window.totalLines,
        ...(window.nextOffset ? { next_offset: window.nextOffset } : {}),
      },
      summary: `${entry.path}${side ? ` (${side})` : ''}: lines ${window.offset}-${window.offset + window.lines - 1} of ${window.totalLines} (${base.state}, etag ${entry.etag})${base.state === 'conflict' && !side ? CONFLICT_NOTE : ''}`,
    };
  },
});

const batchRead = defineTool({
  name: 'batch_read',
  toolset: 'files',
  title: 'Read many files',
  description: (l) =>
    `Read up to ${l.batchFiles} files (paths and/or glob) within max_chars (default ${l.responseChars}), saying what was cut and how to get it.`,
  input: (l: ToolLimits) => ({
    project: projectArg,
    paths: z.array(z.string()).max(l.batchFiles, batchError(l, 'paths')).optional(),
    glob: z.string().optional().describe("e.g. 'src/**/*.ts'"),
    workspace: workspaceArg,
    max_chars: z.number().int().min(1000).max(1_000_000).optional(),
    at: atArg,
  }),
  output: {
    files: z.array(
      z.object({
        path: z.string(),
        state: shownStateSchema.optional(),
        etag: z.string().nullable().optional(),
        size: z.number().optional(),
        encoding: z.literal('utf8').optional(),
        content: z.string().optional(),
        truncated: z
          .object({ returned_chars: z.number(), total_chars: z.number(), next_offset: z.number() })
          .optional(),
        binary: z.boolean().optional(),
        error: z.object({ code: z.string(), message: z.string() }).optional(),
      }),
    ),
    omitted: z.array(z.string()),
    budget: z.object({ max_chars: z.number(), used_chars: z.number() }),
    note: z.string().optional(),
  },
  annotations: READ,
  async handle({ project, paths, glob, workspace, max_chars, at }, { stowage, principal, access }) {
    const actor = { principal, workspace };
    const source =
      at === undefined
        ? undefined
        : await stowage.history.sourceAt(project, actor, at, mayReadOf(stowage, access, project));
    const result = await stowage.reader.batchRead(project, actor, {
      paths,
      glob,
      maxChars: max_chars ?? stowage.limits.responseChars,
      source,
    });
    const read = result.files.filter((f) => f.content !== undefined).length;
    const { note, ...rest } = result;
    return {
      structured: { ...rest, ...(note ? { note } : {}) },
      summary: `read ${read} of ${result.files.length + result.omitted.length} file(s), ${result.budget.used_chars} chars${note ? `; ${note}` : ''}`,
    };
  },
});

const searchFiles = defineTool({
  name: 'search_files',
  toolset: 'files',
  title: 'Search file contents',
  description:
    'Find lines matching a literal or RE2 regex (no lookaround/backreferences), optionally in glob; up to 1000 results (default 100).',
  input: {
    project: projectArg,
    pattern: z.string().min(1).max(1000),
    regex: z.boolean().optional(),
    glob: z.string().optional(),
    case_sensitive: z.boolean().optional(),
    max_results: z.number().int().min(1).max(1000).optional(),
    workspace: workspaceArg,
  },
  output: {
    matches: z.array(z.object({ path: z.string(), line: z.number(), text: z.string() })),
    files_searched: z.number(),
    files_total: z.number(),
    truncated: z.boolean(),
  },
  annotations: READ,
  async handle(
    { project, pattern, regex, glob, case_sensitive, max_results, workspace },
    { stowage, principal },
  ) {
    const result = await stowage.reader.search(
      project,
      { principal, workspace },
      {
        pattern,
        regex: regex ?? false,
        glob,
        caseSensitive: case_sensitive ?? false,
        maxResults: max_results ?? 100,
      },
    );
    const files = new Set(result.matches.map((m) => m.path)).size;
    return {
      structured: result,
      summary: `${result.matches.length} match(es) in ${files} file(s)${result.truncated ? ' (stopped at max_results; narrow with glob)' : ''}`,
    };
  },
});

export default [listFiles, readFile, batchRead, searchFiles];
