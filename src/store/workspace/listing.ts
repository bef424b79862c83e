// Paged listings of a workspace view (list_files): by prefix and glob, deeper paths collapsed into
// directory entries below a depth; and how a glob scopes every read at scale (globScope).
import { decodeCursor, encodeCursor } from '../../formats/cursor.js';
import { compileGlob, globBase, normalizePrefix } from '../../paths.js';
import type { Actor, WorkspaceService } from './service.js';
import { shownState, type ShownState, type ViewEntry } from './view.js';

export interface ListEntry {
  path: string;
  type: 'file' | 'directory';
  size: number;
  state?: ShownState;
  etag?: string | null;
  /** For directories collapsed by `depth`: how many files lie below. */
  files?: number;
}

export interface ListInput {
  prefix?: string | undefined;
  glob?: string | undefined;
  depth?: number | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
}

/** Canonical prefix and optional matcher; the glob narrows the SQL range by its static base. */
export function globScope(prefix: string | undefined, glob: string | undefined) {
  const base = normalizePrefix(prefix ?? '');
  if (!glob) return { prefix: base, match: undefined };
  const globPrefix = globBase(glob);
  const narrower = globPrefix.startsWith(base) ? globPrefix : base.startsWith(globPrefix) ? base : undefined;
  if (narrower === undefined) return { prefix: base, match: () => false };
  return { prefix: narrower, match: compileGlob(glob) };
}

/** One page of the files under `input.prefix` matching `input.glob`, after `input.cursor`. */
export async function listFiles(
  workspace: WorkspaceService,
  projectName: string,
  actor: Actor,
  input: ListInput,
) {
  const limit = input.limit ?? 200;
  const after = input.cursor ? decodeCursor(input.cursor, 'list_files') : undefined;
  const { prefix, match } = globScope(input.prefix, input.glob);
  const base = normalizePrefix(input.prefix ?? '');
  if (!match && input.depth === undefined) {
    const { entries } = await workspace.list(projectName, actor, { prefix, after, limit: limit + 1 });
    return page(entries.map(fileEntry), limit);
  }
  const { entries } = await workspace.list(projectName, actor, { prefix });
  let items = entries.filter((e) => !match || match(e.path)).map(fileEntry);
  if (input.depth !== undefined) items = collapse(items, base, input.depth);
  if (after !== undefined) items = items.filter((e) => e.path > after);
  return page(items, limit);
}

const fileEntry = (e: ViewEntry): ListEntry => ({
  path: e.path,
  type: 'file',
  size: e.size,
  state: shownState(e),
  etag: e.etag,
});

/** One page of `items` (which may hold more than `limit`) and the cursor to the next. */
function page(items: ListEntry[], limit: number) {
  const entries = items.slice(0, limit);
  return { entries, next_cursor: items.length > limit ? encodeCursor(entries.at(-1)!.path) : undefined };
}

/** Entries deeper than `depth` segments below `base` become one directory entry each. */
function collapse(items: ListEntry[], base: string, depth: number): ListEntry[] {
  const out: ListEntry[] = [];
  const dirs = new Map<string, ListEntry>();
  for (const item of items) {
    const segments = item.path.slice(base.length).split('/');
    if (segments.length <= depth) {
      out.push(item);
      continue;
    }
    const dir = `${base}${segments.slice(0, depth).join('/')}/`;
    let entry = dirs.get(dir);
    if (!entry) {
      entry = { path: dir, type: 'directory', size: 0, files: 0 };
      dirs.set(dir, entry);
      out.push(entry);
    }
    if (item.state !== 'deleted') {
      entry.size += item.size;
      entry.files! += 1;
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
