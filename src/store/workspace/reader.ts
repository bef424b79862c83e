// Reading a workspace view at scale: paged listings with depth and globs, batch reads under one
// response budget, and bounded content search.
import { invalidInput, reportInternal, StowageError, tooLarge } from '../../errors.js';
import { compileQuery, type SearchQuery } from '../../formats/content-search.js';
import { TimeLimitExceeded, type CpuWork } from '../../workers/cpu-work.js';
import { asText, cutAtLine } from '../../formats/content.js';
import { decodeCursor, encodeCursor } from '../../formats/cursor.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { Logger } from '../../logger.js';
import { compileGlob, globBase, normalizePath, normalizePrefix } from '../paths.js';
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

export interface BatchFile {
  path: string;
  state?: ShownState;
  etag?: string | null;
  size?: number;
  encoding?: 'utf8';
  content?: string;
  /** Set when only part of the content fits the budget. */
  truncated?: { returned_chars: number; total_chars: number; next_offset: number };
  binary?: boolean;
  error?: { code: string; message: string };
}

export interface BatchReadResult {
  files: BatchFile[];
  omitted: string[];
  budget: { max_chars: number; used_chars: number };
  note: string | undefined;
}

const FETCH_CONCURRENCY = 16;
const MIN_PARTIAL_CHARS = 2_000;

// The budget counts the result as clients receive it, not its content alone: Claude Code and
// Codex pass on structuredContent (JSON: each newline and quote escaped), Gemini CLI the text
// (content as it is, under a header line naming it); a file costs the larger of the two, with
// its fields. The rest of the result (budget, note) is ENVELOPE_CHARS; each path in `omitted`
// costs its JSON, and is held back from the content while the file waits to be planned.
const ENVELOPE_CHARS = 600;
const FIELD_CHARS = 160;
/** What `text` costs as the content of the file at `path` (see above). */
const servedChars = (path: string, text: string) =>
  FIELD_CHARS + 2 * path.length + Math.max(JSON.stringify(text).length, text.length + 24);
/** What naming `path` costs (in `omitted`, or listed in the note). */
const namedChars = (path: string) => JSON.stringify(path).length + 1;

/** The longest prefix of `text`, cut after a line, whose served cost fits `room`. */
function fitServed(path: string, text: string, room: number): string {
  let part = text;
  for (let i = 0; i < 20; i++) {
    const cost = servedChars(path, part);
    if (cost <= room) return part;
    const shrink = Math.max(1, Math.floor(part.length * (1 - (cost - room) / cost)) - 1);
    const next = cutAtLine(part, Math.min(shrink, part.length - 1));
    if (!next.length) return '';
    part = next;
  }
  return '';
}
// search_files matches a batch of files at a time, in one worker round trip when it is large: up
// to 64 files or 1 MiB (or one larger file), so that many small files cost few round trips
// (400 files of 4 KiB: 7, not 25) and memory stays bounded.
const SEARCH_BATCH_FILES = 64;
const SEARCH_BATCH_BYTES = 1024 * 1024;

export function createReader(
  workspace: WorkspaceService,
  batchLimit: number,
  responseChars: number,
  cpu: CpuWork,
  /** Where a file's unexpected read error goes, with its stack (the answer holds its reference). */
  logger: Logger,
) {
  /** Canonical prefix and optional matcher; the glob narrows the SQL range by its static base. */
  function scope(prefix: string | undefined, glob: string | undefined) {
    const base = normalizePrefix(prefix ?? '');
    if (!glob) return { prefix: base, match: undefined };
    const globPrefix = globBase(glob);
    const narrower = globPrefix.startsWith(base)
      ? globPrefix
      : base.startsWith(globPrefix)
        ? base
        : undefined;
    if (narrower === undefined) return { prefix: base, match: () => false };
    return { prefix: narrower, match: compileGlob(glob) };
  }

  return {
    async list(projectName: string, actor: Actor, input: ListInput) {
      const limit = input.limit ?? 200;
      const after = input.cursor ? decodeCursor(input.cursor, 'list_files') : undefined;
      const { prefix, match } = scope(input.prefix, input.glob);
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
    },

    /** Up to `batchLimit` files by path and/or glob, within `maxChars` of content in all. */
    async batchRead(
      projectName: string,
      actor: Actor,
      input: { paths?: readonly string[] | undefined; glob?: string | undefined; maxChars: number },
    ): Promise<BatchReadResult> {
      const requested = input.paths ?? [];
      if (!requested.length && !input.glob) throw invalidInput('pass paths, a glob, or both');
      if (requested.length > batchLimit) {
        throw invalidInput(
          `${requested.length} paths exceeds the limit of ${batchLimit}: split into several calls`,
        );
      }
      const valid: string[] = [];
      // Rejected paths keep their place in the answer (a raw path that fails normalizePath can
      // never equal a canonical one, so both share one ordering).
      const rejected = new Map<string, BatchFile>();
      const requestedOrder: string[] = [];
      for (const raw of requested) {
        try {
          const path = normalizePath(raw);
          valid.push(path);
          requestedOrder.push(path);
        } catch (err) {
          rejected.set(raw, { path: raw, error: errorOf(err, logger, { project: projectName, path: raw }) });
          requestedOrder.push(raw);
        }
      }
      const { prefix, match } = input.glob
        ? scope(undefined, input.glob)
        : { prefix: undefined, match: undefined };
      const { entries } = await workspace.list(projectName, actor, {
        paths: valid,
        ...(prefix !== undefined ? { prefix, union: true } : {}),
        present: true,
        withContent: true,
      });
      const byPath = new Map(entries.map((e) => [e.path, e]));
      const order = [
        ...new Set([...requestedOrder, ...entries.filter((e) => match?.(e.path)).map((e) => e.path)]),
      ];
      const selected = order.slice(0, batchLimit);
      const omitted = order.slice(batchLimit);

      // Plan within the budget by size (chars never exceed bytes), then fetch only what is
      // planned. A planned file that turns out binary, or holds fewer chars than bytes, gives
      // its unused share back: the files left out for it are planned in another round.
      const slots = new Map<string, BatchFile>();
      let waiting: ViewEntry[] = [];
      for (const path of selected) {
        const entry = byPath.get(path);
        if (entry) waiting.push(entry);
        else {
          slots.set(
            path,
            rejected.get(path) ?? {
              path,
              error: { code: 'not_found', message: `'${path}' not found in this workspace` },
            },
          );
        }
      }
      let used = ENVELOPE_CHARS + omitted.reduce((n, p) => n + namedChars(p), 0);
      const waitingNames = () => waiting.reduce((n, e) => n + namedChars(e.path), 0);
      while (waiting.length) {
        let remaining = input.maxChars - used - waitingNames();
        const plan: { entry: ViewEntry; slot: BatchFile }[] = [];
        const left: ViewEntry[] = [];
        for (const entry of waiting) {
          if (FIELD_CHARS + entry.size <= remaining || remaining >= MIN_PARTIAL_CHARS) {
            const slot: BatchFile = {
              path: entry.path,
              state: shownState(entry),
              etag: entry.etag,
              size: entry.size,
            };
            plan.push({ entry, slot });
            slots.set(entry.path, slot);
            remaining -= Math.min(FIELD_CHARS + entry.size, remaining);
          } else {
            left.push(entry);
          }
        }
        const room = () => input.maxChars - used - waitingNames();
        waiting = left;
        if (!plan.length) break;
        const contents = await mapBounded(plan, FETCH_CONCURRENCY, async ({ entry, slot }) => {
          try {
            return await workspace.contentOf(entry);
          } catch (err) {
            slot.error = errorOf(err, logger, { project: projectName, path: entry.path });
            return undefined;
          }
        });
        plan.forEach(({ slot }, i) => {
          const bytes = contents[i];
          if (!bytes) return;
          const text = asText(bytes);
          if (text === undefined) {
            const cost = FIELD_CHARS + 2 * namedChars(slot.path); // its fields, and its name in the note
            if (cost > room()) {
              slots.delete(slot.path);
              omitted.push(slot.path);
              used += namedChars(slot.path);
              return;
            }
            slot.binary = true;
            used += cost;
            return;
          }
          // Room to name it in the note too, should it be cut.
          const part = fitServed(slot.path, text, room() - namedChars(slot.path));
          slot.encoding = 'utf8';
          slot.content = part;
          used += servedChars(slot.path, part);
          if (part.length < text.length) {
            used += namedChars(slot.path); // named again in the note
            const nextOffset = part.split('\n').length; // newlines returned + 1: the first line not complete
            slot.truncated = {
              returned_chars: part.length,
              total_chars: text.length,
              next_offset: nextOffset,
            };
          }
        });
      }
      omitted.push(...waiting.map((e) => e.path));
      used += waitingNames();
      const files = selected.flatMap((path) => slots.get(path) ?? []);
      const truncated = files.filter((f) => f.truncated).map((f) => f.path);
      const binary = files.filter((f) => f.binary).map((f) => f.path);
      const notes = [
        truncated.length &&
          `truncated to fit ${input.maxChars} chars: ${truncated.join(', ')} (continue with read_file offset = truncated.next_offset)`,
        omitted.length &&
          `${omitted.length} file(s) left out for the budget or the ${batchLimit}-file limit: batch_read them by paths in another call`,
        binary.length && `binary, not shown: ${binary.join(', ')} (read_file returns base64)`,
      ].filter(Boolean);
      return {
        files,
        omitted,
        budget: { max_chars: input.maxChars, used_chars: used },
        note: notes.join('; ') || undefined,
      };
    },

    /** Paths of present files starting with `prefix` (resource completions). */
    async completePaths(projectName: string, actor: Actor, prefix: string, limit: number): Promise<string[]> {
      const { entries } = await workspace.list(projectName, actor, { prefix, present: true, limit });
      return entries.map((e) => e.path);
    },

    /** The workspace's drafts; with `withDiff`, unified diffs of each change from its base
     *  (the committed version, unless the draft is in conflict), and for a conflict also the
     *  committed side's change from that base (`theirs_diff`), within the response budget. */
    async changes(projectName: string, actor: Actor, withDiff: boolean) {
      const { workspace: name, entries } = await workspace.list(projectName, actor, {
        changedOnly: true,
        withContent: true,
      });
      const changes = entries.map((e) => ({
        path: e.path,
        state: shownState(e) as Exclude<ShownState, 'committed'>,
        size: e.size,
        etag: e.etag,
        diff: undefined as string | undefined,
        theirs_diff: undefined as string | undefined,
      }));
      let budget = responseChars;
      const skipped: string[] = [];
      const costly: string[] = [];
      if (withDiff) {
        const time = cpu.budget();
        const text = async (hash: string | null, e: ViewEntry) =>
          hash === null ? '' : asText(await workspace.contentOf({ ...e, inline: null, blobHash: hash }));
        /** From `before` (null: absent) to `after` (a content, or null: absent). */
        const patch = async (
          path: string,
          before: string | null,
          after: string | undefined | null,
          e: ViewEntry,
        ) => {
          const old = await text(before, e);
          if (old === undefined || after === undefined) return `Binary file ${path} changed\n`;
          const names = {
            oldName: before === null ? '/dev/null' : `a/${path}`,
            newName: after === null ? '/dev/null' : `b/${path}`,
          };
          return cpu.unifiedDiff(names, old, after ?? '', time);
        };
        const pairs = entries.map((e, i) => ({ e, change: changes[i]! }));
        const patches = await mapBounded(pairs, FETCH_CONCURRENCY, async ({ e }) => {
          // A draft in conflict is diffed from its own base; the others' base is the committed file.
          const base = e.conflict ? e.baseHash : e.committedHash;
          const ours = e.state === 'deleted' ? null : asText(await workspace.contentOf(e));
          const theirs = e.conflict && e.committedHash !== null ? await text(e.committedHash, e) : null;
          return Promise.all([
            patch(e.path, base, ours, e),
            e.conflict ? patch(e.path, base, theirs, e) : undefined,
          ]);
        });
        patches.forEach(([ours, theirs], i) => {
          const change = changes[i]!;
          if (ours === undefined || (change.state === 'conflict' && theirs === undefined)) {
            costly.push(change.path);
            return;
          }
          const length = ours.length + (theirs?.length ?? 0);
          if (length > budget) {
            skipped.push(change.path);
            return;
          }
          budget -= length;
          change.diff = ours;
          change.theirs_diff = theirs;
        });
      }
      const notes = [
        skipped.length && `diffs left out for the response budget: ${skipped.join(', ')} (read_file them)`,
        costly.length &&
          `diffs left out for the CPU time limit of ${cpu.timeLimitMs} ms (CPU_TIME_LIMIT_MS): ${costly.join(', ')} (read_file them)`,
      ].filter(Boolean);
      const note = notes.join('; ') || undefined;
      const shown = changes.map(({ diff, theirs_diff, ...c }) => ({
        ...c,
        ...(diff ? { diff } : {}),
        ...(theirs_diff ? { theirs_diff } : {}),
      }));
      return { workspace: name, changes: shown, note };
    },

    async search(
      projectName: string,
      actor: Actor,
      input: SearchQuery & { glob?: string | undefined; maxResults: number },
    ) {
      const compiled = compileQuery(input);
      const { prefix, match } = scope(undefined, input.glob);
      const { entries } = await workspace.list(projectName, actor, {
        prefix,
        present: true,
        withContent: true,
      });
      const candidates = entries.filter((e) => !match || match(e.path));
      const matches: { path: string; line: number; text: string }[] = [];
      const time = cpu.budget();
      let searched = 0;
      let truncated = false;
      for (const chunk of searchBatches(candidates)) {
        if (truncated) break;
        const contents = await mapBounded(chunk, FETCH_CONCURRENCY, (e) => workspace.contentOf(e));
        let found;
        try {
          found = await cpu.searchTexts(
            compiled,
            contents.map(asText),
            input.maxResults - matches.length,
            time,
          );
        } catch (err) {
          if (!(err instanceof TimeLimitExceeded)) throw err;
          throw tooLarge(
            `search_files ran past the CPU time limit of ${cpu.timeLimitMs} ms (CPU_TIME_LIMIT_MS) with ${searched} of ` +
              `${candidates.length} files searched: narrow the files with a glob, or use a simpler pattern ` +
              `(a literal, with regex: false, costs least)`,
            { limit_ms: cpu.timeLimitMs, files_searched: searched, files_total: candidates.length },
          );
        }
        for (const hit of found.hits)
          matches.push({ path: chunk[hit.file]!.path, line: hit.line, text: hit.text });
        searched += found.searched;
        truncated = found.truncated;
      }
      return { matches, files_searched: searched, files_total: candidates.length, truncated };
    },
  };
}

export type Reader = ReturnType<typeof createReader>;

function* searchBatches(entries: readonly ViewEntry[]): Generator<ViewEntry[]> {
  let batch: ViewEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (batch.length === SEARCH_BATCH_FILES || (batch.length && bytes + entry.size > SEARCH_BATCH_BYTES)) {
      yield batch;
      [batch, bytes] = [[], 0];
    }
    batch.push(entry);
    bytes += entry.size;
  }
  if (batch.length) yield batch;
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

/** One file's error in a batch: a StowageError's code and message; anything else logged with its
 *  stack and told by reference, as a failed call is (reportInternal). */
const errorOf = (err: unknown, logger: Logger, context: Record<string, unknown>) =>
  err instanceof StowageError
    ? { code: err.code, message: err.message }
    : { code: 'internal', message: reportInternal(err, logger, context, 'batch_read of a file failed') };
