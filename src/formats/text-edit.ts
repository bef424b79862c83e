// edit_file's matching engine (pure): apply search/replace edits in order, exactly where possible
// and whitespace-tolerantly otherwise, and describe the change as a unified diff. Finding old_text
// (and the closest line when it is nowhere) is text-match.ts's; line endings, blank lines and
// indentation are text-lines.ts's.
//
// Matching, per edit:
// 1. Exact: old_text (its line endings converted to the file's) occurs once → replaced verbatim.
// 2. Whitespace-tolerant: whole lines compared with leading/trailing whitespace trimmed and inner
//    runs collapsed; blank lines around old_text are not needed to match. new_text is re-indented
//    so its first line sits where the matched block's first line does (see reindent).
// Several matches are an error listing their lines; no match is an error pointing at the
// closest line. The file keeps its line-ending style and whether it ends with a newline.
import { invalidInput, tooLarge } from '../errors.js';
import { closestHint, lineNumbers, occurrences, scanLines, squashedIds } from './text-match.js';
import {
  countBlank,
  detectEol,
  joinLines,
  keepFinalNewline,
  reindent,
  splitLines,
  toLf,
  trimBlankLines,
  withEol,
} from './text-lines.js';
import { unifiedDiff } from './unified-diff.js';

export interface TextEdit {
  oldText: string;
  newText: string;
}

export interface EditMatch {
  /** 'whitespace' when the edit only matched with whitespace differences ignored. */
  kind: 'exact' | 'whitespace';
  /** 1-based line, in the text this edit applied to, where the replaced text starts. */
  line: number;
}

export interface EditResult {
  content: string;
  /** Unified diff with a/<path> and b/<path> headers and 3 lines of context ('' if unchanged). */
  diff: string;
  matches: EditMatch[];
}

const LISTED_LINES = 10;
/** Matches looked for: one more than are listed, so an error can say "more than 10". */
const MATCHES_SOUGHT = LISTED_LINES + 1;

/**
 * Refuses edits that could never apply, before any matching: none at all, an empty or oversized
 * old_text (over `maxOldTextChars`, MAX_OLD_TEXT_CHARS), or one that changes nothing.
 */
export function checkEdits(edits: readonly TextEdit[], maxOldTextChars = Infinity): void {
  if (edits.length === 0) {
    throw invalidInput('no edits given: pass at least one {old_text, new_text} pair');
  }
  for (const [i, { oldText, newText }] of edits.entries()) {
    const label = `edit ${i + 1} of ${edits.length}`;
    if (oldText === '') {
      throw invalidInput(
        `${label}: old_text is empty: give the exact text to replace (or use write_file to replace the whole file)`,
        { edit: i + 1 },
      );
    }
    if (oldText.length > maxOldTextChars) {
      throw tooLarge(
        `${label}: old_text is ${oldText.length} chars, over the limit of ${maxOldTextChars} (MAX_OLD_TEXT_CHARS): ` +
          `split it into several smaller edits, or replace the whole file with write_file`,
        { edit: i + 1, limit: maxOldTextChars },
      );
    }
    if (toLf(oldText) === toLf(newText)) {
      throw invalidInput(
        `${label}: old_text and new_text are identical, so the edit would change nothing: remove it or change new_text`,
        { edit: i + 1 },
      );
    }
  }
}

export function applyEdits(original: string, edits: readonly TextEdit[], path: string): EditResult {
  checkEdits(edits);
  const eol = detectEol(original);
  let content = original;
  const matches: EditMatch[] = [];
  for (const [i, edit] of edits.entries()) {
    const label = `edit ${i + 1} of ${edits.length}`;
    const { oldText, newText } = edit;
    const applied = applyOne(content, withEol(oldText, eol), withEol(newText, eol), eol);
    if (applied.kind === 'applied') {
      content = applied.content;
      matches.push(applied.match);
      continue;
    }
    if (applied.kind === 'ambiguous') {
      const how = applied.tolerant ? ' when whitespace is ignored' : '';
      const count = applied.lines.length > LISTED_LINES ? `more than ${LISTED_LINES}` : applied.lines.length;
      throw invalidInput(
        `${label}: old_text matches ${count} places in ${path}${how} ` +
          `(lines ${listLines(applied.lines)}): include more surrounding lines in old_text so it matches exactly one place`,
        { edit: i + 1, lines: applied.lines.slice(0, LISTED_LINES) },
      );
    }
    const earlier =
      i > 0 && applyOne(original, withEol(oldText, eol), withEol(newText, eol), eol).kind !== 'missing'
        ? ' It does occur in the file as it was before this call: an earlier edit in this call changed that ' +
          'text (edits apply in order, each to the result of the previous one).'
        : '';
    throw invalidInput(
      `${label}: old_text was not found in ${path}, even ignoring whitespace. ${closestHint(content, oldText)}${earlier} ` +
        `Use read_file to get the current text and copy old_text from it exactly.`,
      { edit: i + 1 },
    );
  }
  content = keepFinalNewline(original, content, eol);
  const diff = content === original ? '' : unifiedDiff(`a/${path}`, `b/${path}`, original, content);
  return { content, diff, matches };
}

type Applied =
  | { kind: 'applied'; content: string; match: EditMatch }
  | { kind: 'ambiguous'; tolerant: boolean; lines: number[] }
  | { kind: 'missing' };

function applyOne(content: string, oldText: string, newText: string, eol: string): Applied {
  const exact = occurrences(content, oldText, MATCHES_SOUGHT);
  if (exact.length === 1) {
    const at = exact[0]!;
    return {
      kind: 'applied',
      content: content.slice(0, at) + newText + content.slice(at + oldText.length),
      match: { kind: 'exact', line: lineNumbers(content, exact)[0]! },
    };
  }
  if (exact.length > 1) return { kind: 'ambiguous', tolerant: false, lines: lineNumbers(content, exact) };
  return applyTolerant(content, oldText, newText, eol);
}

function applyTolerant(content: string, oldText: string, newText: string, eol: string): Applied {
  const { lead, trail, core } = trimBlankLines(oldText.split(eol));
  if (core.length === 0) return { kind: 'missing' };

  const { texts, terms } = splitLines(content);
  const { lines, block } = squashedIds(texts, core);
  const { found } = scanLines(lines, block, MATCHES_SOUGHT);
  if (found.length === 0) return { kind: 'missing' };
  if (found.length > 1) return { kind: 'ambiguous', tolerant: true, lines: found.map((i) => i + 1) };
  const start = found[0]!;
  const end = start + core.length; // exclusive

  let replacement: string[] = [];
  if (newText !== '') {
    const newLines = newText.split(eol);
    const newLead = Math.min(lead, countBlank(newLines));
    const newTrail = Math.min(trail, countBlank([...newLines].reverse()));
    const body = newLines.slice(newLead, newLines.length - newTrail);
    replacement = reindent(body, core, texts.slice(start, end));
  }

  // Replace texts[start, end) and the terminators between them; keep the block's last terminator.
  const nextTexts = [...texts.slice(0, start), ...replacement, ...texts.slice(end)];
  const nextTerms = [
    ...terms.slice(0, start),
    ...replacement.slice(1).map(() => eol),
    ...terms.slice(end - 1),
  ];
  if (replacement.length === 0) {
    // Deleting the block: drop its own terminator too (or the one before it at end of file).
    if (end - 1 < terms.length) nextTerms.splice(start, 1);
    else if (start > 0) nextTerms.splice(start - 1, 1);
  }
  return {
    kind: 'applied',
    content: joinLines(nextTexts, nextTerms),
    match: { kind: 'whitespace', line: start + 1 },
  };
}

function listLines(lines: readonly number[]): string {
  const shown = lines.slice(0, LISTED_LINES).join(', ');
  return lines.length > LISTED_LINES ? `${shown} and more` : shown;
}
