// search_files' line matching (pure, so it runs on the calling thread or a worker alike): a
// literal or an RE2 pattern compiled once, tested line by line over decoded file texts.
//
// RE2 runs in time linear in the text, but times the size of the compiled program: re2js's DFA
// gives up when a large program fills its 8 MB state budget, and its NFA fallback costs about
// 20 ns per char per instruction. (?:a|aa){900}[bc] (3,603 instructions) took 3.8 s on one line
// of 50,000 chars. Programs over MAX_REGEX_PROGRAM are refused; the worker's time limit bounds
// what a smaller one can still cost on a large project.
import { RE2JS } from 're2js';
import { invalidInput, tooLarge } from '../errors.js';

export interface SearchQuery {
  pattern: string;
  regex: boolean;
  caseSensitive: boolean;
}

/**
 * The largest compiled regex accepted, in RE2 instructions. Everyday patterns compile to tens
 * (`^(export )?const\s+alpha`: 25), a 100-word alternation to about 420, `.{1000}` to 1,002.
 */
export const MAX_REGEX_PROGRAM = 2000;

export interface CompiledQuery {
  query: SearchQuery;
  test(line: string): boolean;
  /** Relative cost per char searched: 1 for a literal, the program size for a regex. */
  costPerChar: number;
}

export interface SearchHit {
  /** Index of the text in the list searched. */
  file: number;
  /** 1-based. */
  line: number;
  text: string;
}

const MAX_LINE_CHARS = 240;

export function compileQuery(query: SearchQuery): CompiledQuery {
  const { pattern, regex, caseSensitive } = query;
  if (!pattern) throw invalidInput('pattern is empty: pass the text or regular expression to look for');
  if (!regex) {
    const needle = caseSensitive ? pattern : pattern.toLowerCase();
    const test = caseSensitive
      ? (line: string) => line.includes(needle)
      : (line: string) => line.toLowerCase().includes(needle);
    return { query, test, costPerChar: 1 };
  }
  // RE2 matches in time linear in the line: one caller's pattern, such as (a+)+$, cannot stall
  // the server for every other session the way a backtracking RegExp can.
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE);
  } catch (err) {
    throw invalidInput(
      `pattern is not a valid regular expression in RE2 syntax (${(err as Error).message}); lookarounds and backreferences are not supported: fix it, or pass regex: false`,
    );
  }
  const size = re.programSize();
  if (size > MAX_REGEX_PROGRAM) {
    throw tooLarge(
      `pattern compiles to ${size} RE2 instructions, over the limit of ${MAX_REGEX_PROGRAM}: ` +
        `use a smaller pattern (fewer or smaller {n} repeats and alternatives), or search for a literal with regex: false`,
      { program_size: size, limit: MAX_REGEX_PROGRAM },
    );
  }
  return { query, test: (line) => re.test(line), costPerChar: size };
}

export interface SearchResult {
  hits: SearchHit[];
  /** More lines matched than `limit`: the search stopped in the last text searched. */
  truncated: boolean;
  /** How many texts were searched, the one it stopped in included. */
  searched: number;
}

/** Lines of `texts` (undefined: binary, skipped) that match, in order, at most `limit`. A final
 *  newline ends the last line, not a new one. */
export function searchTexts(
  compiled: CompiledQuery,
  texts: readonly (string | undefined)[],
  limit: number,
): SearchResult {
  const hits: SearchHit[] = [];
  for (const [file, text] of texts.entries()) {
    if (text === undefined) continue;
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const [n, line] of lines.entries()) {
      if (!compiled.test(line)) continue;
      if (hits.length === limit) return { hits, truncated: true, searched: file + 1 };
      const shown = line.replace(/\r$/, '');
      hits.push({
        file,
        line: n + 1,
        text: shown.length > MAX_LINE_CHARS ? `${shown.slice(0, MAX_LINE_CHARS)}…` : shown,
      });
    }
  }
  return { hits, truncated: false, searched: texts.length };
}
