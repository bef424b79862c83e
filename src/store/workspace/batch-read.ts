// batch_read: up to the batch limit of files by path and/or glob, planned by size within one
// response budget counted as clients receive the result; what is cut or left out is named, and
// a file's error stays inline with it.
import { invalidInput, reportInternal, StowageError } from '../../errors.js';
import { asText, cutAtLine } from '../../formats/content.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { Logger } from '../../logger.js';
import { normalizePath } from '../../paths.js';
import { globScope } from './listing.js';
import type { Actor, WorkspaceService } from './service.js';
import { shownState, type ShownState, type ViewEntry } from './view.js';

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

/** A file batch_read may return: what it shows of it, before its content is fetched. */
export type BatchEntry = Pick<ViewEntry, 'path' | 'size' | 'etag' | 'state' | 'conflict'>;

/** Where batch_read takes files from: the present ones at `paths` or under `prefix`. */
export interface BatchSource {
  entries(paths: readonly string[], prefix: string | undefined): Promise<BatchEntry[]>;
  content(entry: BatchEntry): Promise<Buffer>;
}

export interface BatchReadInput {
  paths?: readonly string[] | undefined;
  glob?: string | undefined;
  maxChars: number;
  /** Where the files come from; default: the workspace's view now (history: a point). */
  source?: BatchSource | undefined;
}

/** What batch_read reads with: the workspace, the file limit (MAX_BATCH_FILES), and where a
 *  file's unexpected read error goes, with its stack (the answer holds its reference). */
export interface BatchReadDeps {
  workspace: WorkspaceService;
  batchLimit: number;
  logger: Logger;
}

/** Contents fetched at once by one read (batch reads, diffs, search). */
export const FETCH_CONCURRENCY = 16;
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

/** Up to `batchLimit` files by path and/or glob, within `maxChars` of content in all. */
export async function batchRead(
  { workspace, batchLimit, logger }: BatchReadDeps,
  projectName: string,
  actor: Actor,
  input: BatchReadInput,
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
    ? globScope(undefined, input.glob)
    : { prefix: undefined, match: undefined };
  const source: BatchSource = input.source ?? {
    entries: async (paths, under) =>
      (
        await workspace.list(projectName, actor, {
          paths,
          ...(under !== undefined ? { prefix: under, union: true } : {}),
          present: true,
          withContent: true,
        })
      ).entries,
    content: (entry) => workspace.contentOf(entry as ViewEntry),
  };
  const entries = await source.entries(valid, prefix);
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
  let waiting: BatchEntry[] = [];
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
    const plan: { entry: BatchEntry; slot: BatchFile }[] = [];
    const left: BatchEntry[] = [];
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
        return await source.content(entry);
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
}

/** One file's error in a batch: a StowageError's code and message; anything else logged with its
 *  stack and told by reference, as a failed call is (reportInternal). */
const errorOf = (err: unknown, logger: Logger, context: Record<string, unknown>) =>
  err instanceof StowageError
    ? { code: err.code, message: err.message }
    : { code: 'internal', message: reportInternal(err, logger, context, 'batch_read of a file failed') };
