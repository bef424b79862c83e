// Where edit matching, diffs and content search run: small inputs on the calling thread, larger
// ones on a pool of worker threads (cpu-worker.ts) within CPU_TIME_LIMIT_MS per call, so that no
// one call holds the event loop (and with it /healthz and every other session's calls), and a
// runaway one is stopped with an error naming what to narrow.
//
// "Small" is where a worker round trip costs about what the work does, or the work cannot stall
// the loop for more than a couple of milliseconds even at its worst. Measured on this machine: a
// round trip to a warm worker is 0.06-0.08 ms (plus 0.6 ms per MB of text copied); an edit costs
// 0.1 ms on 16 K chars when old_text is there, 1.4 ms when it is not (the closest-line hint
// reads the file twice more); a literal search 0.3 ms per 64 K chars, a regex up to ~20 ns per
// char per RE2 instruction once its DFA gives up; a diff of 100 lines all changed 2.2 ms (Myers
// is quadratic in the lines changed, up to unified-diff.ts's bound). So a literal search runs
// on the calling thread in slices of that size, however many texts it has.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { tooLarge } from '../errors.js';
import { searchTexts, type CompiledQuery, type SearchResult } from '../formats/content-search.js';
import type { cpuTasks } from './cpu-worker.js';
import { scanSecrets, type SecretFinding } from '../formats/secret-scan.js';
import { applyEdits, type EditResult, type TextEdit } from '../formats/text-edit.js';
import { unifiedDiff } from '../formats/unified-diff.js';
import { createWorkerPool, TimeLimitExceeded, timeBudget, type TimeBudget } from './worker-pool.js';

export { TimeLimitExceeded, type TimeBudget };

/** Edits run inline up to this many chars matched (file × edits, plus new_text) ... */
const INLINE_EDIT_CHARS = 16 * 1024;
/** ... and this many lines diffed (file plus new_text). */
const INLINE_DIFF_LINES = 100;
/** Diffs run inline up to this many chars (both sides). */
const INLINE_DIFF_CHARS = 16 * 1024;
/** Searches run inline up to this many chars × cost per char (compileQuery) per batch. */
const INLINE_SEARCH_UNITS = 64 * 1024;
/** Secret scans run inline up to this many chars (a text where a rule has candidate matches to
 *  check costs ~1 ms per K chars; any other, ~0.05 ms per K). */
const INLINE_SECRET_CHARS = 16 * 1024;

export interface CpuWork {
  /** CPU_TIME_LIMIT_MS: the most one call may spend on the workers. */
  readonly timeLimitMs: number;
  /** A fresh allowance of `timeLimitMs` for one call's tasks. */
  budget(): TimeBudget;
  /** text-edit.ts's applyEdits; too_large when it runs past the time limit. */
  applyEdits(original: string, edits: readonly TextEdit[], path: string): Promise<EditResult>;
  /** unified-diff.ts's unifiedDiff; undefined when `budget` ran out first. */
  unifiedDiff(
    names: { oldName: string; newName: string },
    before: string,
    after: string,
    budget: TimeBudget,
    /** Lines of context (default 3). */
    context?: number,
  ): Promise<string | undefined>;
  /** content-search.ts's searchTexts; throws TimeLimitExceeded when `budget` runs out. */
  searchTexts(
    compiled: CompiledQuery,
    texts: readonly (string | undefined)[],
    limit: number,
    budget: TimeBudget,
  ): Promise<SearchResult>;
  /** secret-scan.ts's scanSecrets; throws TimeLimitExceeded when `budget` runs out. */
  scanSecrets(path: string, text: string, budget: TimeBudget): Promise<SecretFinding[]>;
}

/** Two workers at least, so that one runaway call does not hold up every other heavy one. */
const defaultWorkers = () => Math.max(2, Math.min(4, availableParallelism()));

export function createCpuWork(options: { timeLimitMs: number; workers?: number }): CpuWork {
  const { timeLimitMs } = options;
  const pool = createWorkerPool<typeof cpuTasks>(new URL('./cpu-worker.js', import.meta.url), {
    size: options.workers ?? defaultWorkers(),
    name: 'cpu',
  });

  return {
    timeLimitMs,
    budget: () => timeBudget(timeLimitMs),

    async applyEdits(original, edits, path) {
      const added = edits.reduce((n, e) => n + e.newText.length, 0);
      if (
        original.length * edits.length + added <= INLINE_EDIT_CHARS &&
        countLines(original) + edits.reduce((n, e) => n + countLines(e.newText), 0) <= INLINE_DIFF_LINES
      ) {
        return applyEdits(original, edits, path);
      }
      try {
        return await pool.run('applyEdits', { original, edits, path }, { budget: timeBudget(timeLimitMs) });
      } catch (err) {
        if (!(err instanceof TimeLimitExceeded)) throw err;
        throw tooLarge(
          `editing '${path}' (${edits.length} edit(s) on ${original.length} chars) ran past the CPU time limit ` +
            `of ${timeLimitMs} ms (CPU_TIME_LIMIT_MS), and nothing was written: send fewer or smaller edits per call, ` +
            `or replace the file with write_file`,
          { limit_ms: timeLimitMs },
        );
      }
    },

    async unifiedDiff({ oldName, newName }, before, after, budget, context) {
      if (
        before.length + after.length <= INLINE_DIFF_CHARS &&
        countLines(before) + countLines(after) <= INLINE_DIFF_LINES
      ) {
        return unifiedDiff(oldName, newName, before, after, context);
      }
      try {
        return await pool.run('unifiedDiff', { oldName, newName, before, after, context }, { budget });
      } catch (err) {
        if (err instanceof TimeLimitExceeded) return undefined;
        throw err;
      }
    },

    async searchTexts(compiled, texts, limit, budget) {
      const chars = texts.reduce((n, t) => n + (t?.length ?? 0), 0);
      if (chars * compiled.costPerChar <= INLINE_SEARCH_UNITS) return searchTexts(compiled, texts, limit);
      if (compiled.query.regex) {
        return pool.run('searchTexts', { query: compiled.query, texts, limit }, { budget });
      }
      // A literal is linear and cheap: on the calling thread a slice at a time, yielding between
      // slices, within the same time budget; a text larger than a slice goes to a worker alone.
      // Not worth a round trip, and a worker's start (~100 ms) would be most of the first search
      // after a start.
      const hits: SearchResult['hits'] = [];
      for (let start = 0, end = 0; start < texts.length; start = end) {
        let units = 0;
        while (end < texts.length && units + (texts[end]?.length ?? 0) <= INLINE_SEARCH_UNITS) {
          units += texts[end++]?.length ?? 0;
        }
        const alone = end === start;
        if (alone) end++;
        const slice = texts.slice(start, end);
        const found = alone
          ? await pool.run(
              'searchTexts',
              { query: compiled.query, texts: slice, limit: limit - hits.length },
              { budget },
            )
          : await inline(budget, () => searchTexts(compiled, slice, limit - hits.length));
        hits.push(...found.hits.map((h) => ({ ...h, file: h.file + start })));
        if (found.truncated) return { hits, truncated: true, searched: start + found.searched };
      }
      return { hits, truncated: false, searched: texts.length };
    },

    async scanSecrets(path, text, budget) {
      if (text.length <= INLINE_SECRET_CHARS) return scanSecrets(path, text);
      return pool.run('scanSecrets', { path, text }, { budget });
    },
  };
}

/** Runs `fn` on the calling thread after yielding to the event loop, charging its time to
 *  `budget`; TimeLimitExceeded once that has run out. */
async function inline<T>(budget: TimeBudget, fn: () => T): Promise<T> {
  await new Promise((resolve) => setImmediate(resolve));
  if (budget.remainingMs <= 0) throw new TimeLimitExceeded(budget.limitMs);
  const started = performance.now();
  try {
    return fn();
  } finally {
    budget.remainingMs -= performance.now() - started;
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', nl + 1)) n++;
  return n;
}
