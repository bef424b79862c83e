// Where old_text occurs in a file (pure; text-edit.ts applies what is found): exactly, by
// Knuth–Morris–Pratt over characters, or line by line over ids of normalised lines; and, when it
// occurs nowhere, a hint naming the closest line.
//
// Every step is linear in the file and old_text (edits can reach the worker's time limit only by
// their number): exact matches are found by KMP, not String.indexOf, whose worst case is the
// product of the lengths (0.8 s for 20,000 chars in 200 KB); tolerant matches and the closest-line
// hint compare lines by an id given to each distinct normalised line, in one KMP pass over the
// file's ids. Counting stops once a match is known to be ambiguous and listable.
import { splitLines, squash, toLf, trimBlankLines } from './text-lines.js';

/** Start indices of the first `limit` occurrences, overlapping ones included ('aa' occurs twice
 *  in 'aaa'): Knuth–Morris–Pratt over UTF-16 code units. */
export function occurrences(text: string, needle: string, limit: number): number[] {
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
export function scanLines(
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
export function squashedIds(texts: readonly string[], block: readonly string[]) {
  const ids = new Map<string, number>();
  const squashed = texts.map(squash);
  return { squashed, lines: lineIds(squashed, ids), block: lineIds(block.map(squash), ids) };
}

export function lineNumbers(text: string, indices: readonly number[]): number[] {
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

/** Why old_text was not found: where the closest line is, and how it differs. */
export function closestHint(content: string, oldText: string): string {
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

function quote(line: string): string {
  return JSON.stringify(line.length > 120 ? line.slice(0, 117) + '...' : line);
}
