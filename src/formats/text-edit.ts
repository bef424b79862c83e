// edit_file's matching engine (pure): apply search/replace edits in order, exactly where possible
// and whitespace-tolerantly otherwise, and describe the change as a unified diff.
//
// Matching, per edit:
// 1. Exact: old_text (its line endings converted to the file's) occurs once → replaced verbatim.
// 2. Whitespace-tolerant: whole lines compared with leading/trailing whitespace trimmed and inner
//    runs collapsed; blank lines around old_text are not needed to match. new_text is re-indented
//    so its first line sits where the matched block's first line does (see reindent).
// Several matches are an error listing their lines; no match is an error pointing at the
// closest line. The file keeps its line-ending style and whether it ends with a newline.
//
// Every step is linear in the file and old_text (edits can reach the worker's time limit only by
// their number): exact matches are found by Knuth–Morris–Pratt, not String.indexOf, whose worst
// case is the product of the lengths (0.8 s for 20,000 chars in 200 KB); tolerant matches and the
// closest-line hint compare lines by an id given to each distinct normalised line, in one KMP
// pass over the file's ids. Counting stops once a match is known to be ambiguous and listable.
import { invalidInput, tooLarge } from '../errors.js';
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
const TAB_COLUMNS = 4;

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

/** Start indices of the first `limit` occurrences, overlapping ones included ('aa' occurs twice
 *  in 'aaa'): Knuth–Morris–Pratt over UTF-16 code units. */
function occurrences(text: string, needle: string, limit: number): number[] {
  const codes = new Uint16Array(needle.length);
  for (let i = 0; i < needle.length; i++) codes[i] = needle.charCodeAt(i);
  const fail = failureTable(codes);
  const found: number[] = [];
  for (let i = 0, q = 0; i < text.length && found.length < limit; i++) {
    const c = text.charCodeAt(i);
    while (q > 0 && codes[q] !== c) q = fail[q - 1]!;
    if (codes[q] === c) q++;
    if (q === codes.length) {
      found.push(i - q + 1);
      q = fail[q - 1]!;
    }
  }
  return found;
}

/** KMP's table: for each prefix of `pattern`, the length of its longest proper border. */
function failureTable(pattern: ArrayLike<number>): Int32Array {
  const fail = new Int32Array(pattern.length);
  for (let i = 1, k = 0; i < pattern.length; i++) {
    while (k > 0 && pattern[i] !== pattern[k]) k = fail[k - 1]!;
    if (pattern[i] === pattern[k]) k++;
    fail[i] = k;
  }
  return fail;
}

/** Where `block` occurs as consecutive whole lines of `lines` (the first `limit` starts), and the
 *  longest prefix of it that does occur: its length and first start (-1 if none). One KMP pass. */
function scanLines(
  lines: Int32Array,
  block: Int32Array,
  limit: number,
): { found: number[]; bestStart: number; bestRun: number } {
  const fail = failureTable(block);
  const found: number[] = [];
  let bestStart = -1;
  let bestRun = 0;
  for (let i = 0, q = 0; i < lines.length && found.length < limit; i++) {
    const id = lines[i]!;
    while (q > 0 && block[q] !== id) q = fail[q - 1]!;
    if (block[q] === id) q++;
    // The state is the longest prefix of block ending here, so the first time it reaches a new
    // high, that prefix starts at the earliest line where it occurs.
    if (q > bestRun) [bestStart, bestRun] = [i - q + 1, q];
    if (q === block.length) {
      found.push(i - q + 1);
      q = fail[q - 1]!;
    }
  }
  return { found, bestStart, bestRun };
}

/** The lines as ids, equal where their normalised (squashed) text is equal. */
function lineIds(lines: readonly string[], ids: Map<string, number>): Int32Array {
  const out = new Int32Array(lines.length);
  lines.forEach((line, i) => {
    let id = ids.get(line);
    if (id === undefined) ids.set(line, (id = ids.size));
    out[i] = id;
  });
  return out;
}

/** The file's and old_text's normalised lines as ids from one table. */
function squashedIds(texts: readonly string[], block: readonly string[]) {
  const ids = new Map<string, number>();
  const squashed = texts.map(squash);
  return { squashed, lines: lineIds(squashed, ids), block: lineIds(block.map(squash), ids) };
}

function lineNumbers(text: string, indices: readonly number[]): number[] {
  const lines: number[] = [];
  let line = 1;
  let from = 0;
  for (const index of indices) {
    for (let nl = text.indexOf('\n', from); nl !== -1 && nl < index; nl = text.indexOf('\n', nl + 1)) line++;
    from = index;
    lines.push(line);
  }
  return lines;
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

/**
 * Re-indent new_text for the file: its first line takes the matched block's first-line
 * indentation; other lines keep their offset from it, scaled from the caller's indent step to
 * the file's (both read off the matched lines) and written in the file's tabs or spaces.
 */
function reindent(
  newLines: readonly string[],
  oldCore: readonly string[],
  fileLines: readonly string[],
): string[] {
  const first = newLines.find((line) => line.trim() !== '');
  if (first === undefined) return newLines.map(() => '');
  const newBase = indentOf(first);
  const fileBase = indentOf(fileLines[0]!);
  const fileIndents = fileLines.filter((line) => line.trim() !== '').map(indentOf);
  const style = fileIndents.some((i) => i.startsWith('\t'))
    ? '\t'
    : fileIndents.some((i) => i !== '')
      ? ' '
      : null;
  const fileStep = indentStep(fileIndents);
  const callerStep = indentStep(oldCore.filter((line) => line.trim() !== '').map(indentOf));
  const scale = fileStep !== undefined && callerStep !== undefined ? fileStep / callerStep : 1;
  return newLines.map((line) => {
    if (line.trim() === '') return '';
    const indent = indentOf(line);
    const rest = line.slice(indent.length);
    if (indent === newBase) return fileBase + rest;
    // The file gives no indentation style to follow: keep the caller's own characters.
    if (style === null && indent.startsWith(newBase)) return fileBase + indent.slice(newBase.length) + rest;
    const cols = Math.max(0, Math.round(columns(fileBase) + (columns(indent) - columns(newBase)) * scale));
    const base = cols >= columns(fileBase) ? fileBase : '';
    const extra = cols - columns(base);
    return base + (style === '\t' ? '\t'.repeat(Math.round(extra / TAB_COLUMNS)) : ' '.repeat(extra)) + rest;
  });
}

/** The smallest positive difference between indentation widths, in columns. */
function indentStep(indents: readonly string[]): number | undefined {
  const widths = [...new Set(indents.map(columns))].sort((a, b) => a - b);
  let step: number | undefined;
  for (let i = 1; i < widths.length; i++) step = Math.min(step ?? Infinity, widths[i]! - widths[i - 1]!);
  return step;
}

function closestHint(content: string, oldText: string): string {
  const { core } = trimBlankLines(toLf(oldText).split('\n'));
  const first = core[0];
  if (content === '') return 'The file is empty.';
  if (first === undefined) return 'old_text is only whitespace: include the text to replace.';
  const { texts } = splitLines(content);
  const { squashed, lines, block } = squashedIds(texts, core);

  // Lines equal to old_text's first line: report where the best of them stops matching.
  const { bestStart: best, bestRun } = scanLines(lines, block, 1);
  if (best !== -1) {
    const bad = best + bestRun;
    const found =
      bad < texts.length ? `the file has ${quote(texts[bad]!)}` : `the file ends at line ${texts.length}`;
    return (
      `Closest: line ${best + 1} matches old_text's first ${bestRun === 1 ? 'line' : `${bestRun} lines`}, but then ` +
      `old_text has ${quote(core[bestRun]!)} where ${found}${bad < texts.length ? ` (line ${bad + 1})` : ''}.`
    );
  }

  let score = 0;
  let line = -1;
  const target = bigrams(squash(first));
  const used = new Map<string, number>();
  for (const [i, text] of squashed.entries()) {
    const s = dice(target, text, used);
    if (s > score) [score, line] = [s, i];
  }
  if (line === -1 || score < 0.4) {
    return `No line resembles old_text's first line ${quote(first)}.`;
  }
  return `Closest: line ${line + 1} is ${quote(texts[line]!)}, most like old_text's first line ${quote(first)}.`;
}

function bigrams(text: string): { counts: Map<string, number>; total: number } {
  const counts = new Map<string, number>();
  for (let i = 0; i + 1 < text.length; i++) {
    const g = text.slice(i, i + 2);
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  return { counts, total: Math.max(0, text.length - 1) };
}

/** Sørensen–Dice similarity of two strings' character bigrams, 0..1, in time linear in `text`
 *  (`used` is scratch space, cleared here, so the target is never copied per line). */
function dice(target: ReturnType<typeof bigrams>, text: string, used: Map<string, number>): number {
  const total = target.total + Math.max(0, text.length - 1);
  if (total === 0) return 0;
  used.clear();
  let shared = 0;
  for (let i = 0; i + 1 < text.length; i++) {
    const g = text.slice(i, i + 2);
    const n = used.get(g) ?? 0;
    if (n < (target.counts.get(g) ?? 0)) {
      shared++;
      used.set(g, n + 1);
    }
  }
  return (2 * shared) / total;
}

/** '\r\n' when most line breaks are CRLF, else '\n'. */
function detectEol(text: string): string {
  let crlf = 0;
  let lf = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', nl + 1)) {
    if (nl > 0 && text.charCodeAt(nl - 1) === 13) crlf++;
    else lf++;
  }
  return crlf > lf ? '\r\n' : '\n';
}

function toLf(text: string): string {
  return text.replace(/\r\n/g, '\n');
}

function withEol(text: string, eol: string): string {
  const lf = toLf(text);
  return eol === '\n' ? lf : lf.replace(/\n/g, eol);
}

function keepFinalNewline(original: string, content: string, eol: string): string {
  if (content === '') return content;
  const had = original.endsWith('\n');
  const has = content.endsWith('\n');
  if (had && !has) return content + eol;
  if (!had && has) return content.replace(/\r?\n$/, '');
  return content;
}

/** Lines and the terminators between them: texts.length === terms.length + 1. */
function splitLines(text: string): { texts: string[]; terms: string[] } {
  const texts: string[] = [];
  const terms: string[] = [];
  let at = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
    const cr = nl > at && text.charCodeAt(nl - 1) === 13;
    texts.push(text.slice(at, cr ? nl - 1 : nl));
    terms.push(cr ? '\r\n' : '\n');
    at = nl + 1;
  }
  texts.push(text.slice(at));
  return { texts, terms };
}

function joinLines(texts: readonly string[], terms: readonly string[]): string {
  return texts.map((t, i) => t + (terms[i] ?? '')).join('');
}

function countBlank(lines: readonly string[]): number {
  let n = 0;
  while (n < lines.length && lines[n]!.trim() === '') n++;
  return n;
}

/** Lines without leading and trailing blank ones, and how many of each were dropped. */
function trimBlankLines(lines: readonly string[]): { lead: number; trail: number; core: string[] } {
  const lead = countBlank(lines);
  const trail = lead === lines.length ? 0 : countBlank([...lines].reverse());
  return { lead, trail, core: lines.slice(lead, lines.length - trail) };
}

function squash(line: string): string {
  return line.trim().replace(/\s+/g, ' ');
}

function indentOf(line: string): string {
  return /^[ \t]*/.exec(line)![0];
}

function columns(indent: string): number {
  let n = 0;
  for (const ch of indent) n += ch === '\t' ? TAB_COLUMNS : 1;
  return n;
}

function listLines(lines: readonly number[]): string {
  const shown = lines.slice(0, LISTED_LINES).join(', ');
  return lines.length > LISTED_LINES ? `${shown} and more` : shown;
}

function quote(line: string): string {
  return JSON.stringify(line.length > 120 ? line.slice(0, 117) + '...' : line);
}
