// Unified diffs of two versions of a text file (edit_file, list_changes {diff: true}), in time
// near-linear in the files whatever the change.
//
// jsdiff's Myers search costs (lines it spans) × (lines changed), and it strips a common prefix
// but not a common suffix: deleting 10,000 lines from the middle of 100,000 took 7 s. So the
// common prefix and suffix, whole lines, are cut off here first (compared as strings, natively,
// without splitting the files into lines); jsdiff diffs only the middle, with its edit length
// bounded, and the hunks at its ends get their context from the lines cut off. A change over
// that bound is shown as one hunk removing the old middle and adding the new: still a correct
// diff, only not a minimal one.
import { FILE_HEADERS_ONLY, formatPatch, structuredPatch, type StructuredPatchHunk } from 'diff';

/** Lines of context around each change, unless asked for others. */
const CONTEXT = 3;
/**
 * Lines added plus removed beyond which the middle is one hunk. Myers' work grows with the
 * square of it: on 20,000 lines with 1,000 of them rewritten, a bound of 2,000 took 180 ms,
 * 500 took 22 ms (the block then shown as one hunk).
 */
export const MAX_DIFF_EDIT_LENGTH = 500;
/** Strings are compared this many chars at a time while looking for the common prefix/suffix. */
const BLOCK = 4096;
const NO_NEWLINE = '\\ No newline at end of file';

/** A git-style unified diff (3 lines of context unless `context`); `/dev/null` names a missing side. */
export function unifiedDiff(
  oldName: string,
  newName: string,
  before: string,
  after: string,
  context = CONTEXT,
): string {
  const head = lineStartAtOrBefore(before, commonPrefix(before, after));
  const tail = commonTailLines(before, after, head);
  const oldMiddle = before.slice(head, tail);
  const newMiddle = after.slice(head, tail + after.length - before.length);
  const hunks =
    oldMiddle === newMiddle
      ? []
      : (structuredPatch('', '', oldMiddle, newMiddle, undefined, undefined, {
          context,
          maxEditLength: MAX_DIFF_EDIT_LENGTH,
        })?.hunks ?? [replaceAll(oldMiddle, newMiddle)]);
  if (hunks.length) {
    const skipped = countLines(before, head);
    for (const hunk of hunks) {
      hunk.oldStart += skipped;
      hunk.newStart += skipped;
    }
    // The middle starts and ends with a changed line, so its first and last hunks have no
    // context on the outer side: it comes from the lines cut off.
    const lead = linesOf(before.slice(linesBack(before, head, context), head));
    const first = hunks[0]!;
    first.lines.unshift(...hunkLines(' ', lead));
    first.oldStart -= lead.length;
    first.newStart -= lead.length;
    first.oldLines += lead.length;
    first.newLines += lead.length;
    const trail = linesOf(before.slice(tail, linesForward(before, tail, context)));
    const last = hunks.at(-1)!;
    last.lines.push(...hunkLines(' ', trail));
    last.oldLines += trail.length;
    last.newLines += trail.length;
  }
  return formatPatch(
    { oldFileName: oldName, newFileName: newName, oldHeader: undefined, newHeader: undefined, hunks },
    FILE_HEADERS_ONLY,
  );
}

/** Length of the common prefix of `a` and `b`. */
function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let n = 0;
  while (n + BLOCK <= max && a.slice(n, n + BLOCK) === b.slice(n, n + BLOCK)) n += BLOCK;
  while (n < max && a.charCodeAt(n) === b.charCodeAt(n)) n++;
  return n;
}

/**
 * Where the common suffix of whole lines starts in `a` (in `b` it starts as far from the end),
 * never before `floor`, a line start both texts share. A line starts after a '\n'; the last one
 * may lack one.
 */
function commonTailLines(a: string, b: string, floor: number): number {
  const max = Math.min(a.length, b.length) - floor;
  const same = (k: number) =>
    a.slice(a.length - k - BLOCK, a.length - k) === b.slice(b.length - k - BLOCK, b.length - k);
  let n = 0;
  while (n + BLOCK <= max && same(n)) n += BLOCK;
  while (n < max && a.charCodeAt(a.length - n - 1) === b.charCodeAt(b.length - n - 1)) n++;
  const start = a.length - n;
  const lineStart = (text: string, at: number) => at === floor || text.charCodeAt(at - 1) === 10;
  if (lineStart(a, start) && lineStart(b, b.length - n)) return start;
  // Past `start` the texts agree, so a line start in `a` is one in `b` too.
  const nl = a.indexOf('\n', start);
  return nl === -1 ? a.length : nl + 1;
}

function lineStartAtOrBefore(text: string, at: number): number {
  return at === 0 ? 0 : text.lastIndexOf('\n', at - 1) + 1;
}

/** The start of the line `count` lines before the one starting at `at` (or of the text). */
function linesBack(text: string, at: number, count: number): number {
  let from = at;
  for (let i = 0; i < count && from > 0; i++) from = lineStartAtOrBefore(text, from - 1);
  return from;
}

/** The end of `count` more lines from the line start `at` (or of the text). */
function linesForward(text: string, at: number, count: number): number {
  let to = at;
  for (let i = 0; i < count && to < text.length; i++) {
    const nl = text.indexOf('\n', to);
    to = nl === -1 ? text.length : nl + 1;
  }
  return to;
}

function countLines(text: string, end: number): number {
  let n = 0;
  for (let nl = text.indexOf('\n'); nl !== -1 && nl < end; nl = text.indexOf('\n', nl + 1)) n++;
  return n;
}

/** The lines of `text` with their terminators (the last may have none), as jsdiff splits them. */
function linesOf(text: string): string[] {
  const lines: string[] = [];
  for (let at = 0; at < text.length;) {
    const nl = text.indexOf('\n', at);
    const end = nl === -1 ? text.length : nl + 1;
    lines.push(text.slice(at, end));
    at = end;
  }
  return lines;
}

/** A hunk of lines as jsdiff writes them: prefixed, terminator dropped, a last line without
 *  one marked. */
function hunkLines(prefix: ' ' | '-' | '+', lines: readonly string[]): string[] {
  return lines.flatMap((line) =>
    line.endsWith('\n') ? [prefix + line.slice(0, -1)] : [prefix + line, NO_NEWLINE],
  );
}

/** The middle as one hunk: every old line removed, every new line added (lines 1-based in it). */
function replaceAll(oldMiddle: string, newMiddle: string): StructuredPatchHunk {
  const removed = linesOf(oldMiddle);
  const added = linesOf(newMiddle);
  return {
    oldStart: 1,
    oldLines: removed.length,
    newStart: 1,
    newLines: added.length,
    lines: [...hunkLines('-', removed), ...hunkLines('+', added)],
  };
}
