// search_files over a workspace view, without reading every blob. A file's text comes from the
// search index (migration 0020: search_texts, by content hash), an inline draft's from the view
// query, and only that of a blob over the index's size cap, or of one stored without a text, from
// the blob store (its text is then recorded for the next search). A literal is looked up in
// Postgres first: the trigram index names the blobs that may hold it, the view query the inline
// drafts, and the line matcher (content-search.ts) runs over those alone, as the judge of what
// matches. A regex is never run by Postgres, whose engine is not linear in the text: RE2 matches
// every text, on the CPU workers.
//
// The view is read once, so the files searched and their contents are one moment's; texts are
// keyed by content hash and never go stale, so writers, cleanup and other instances need no
// coordination with a search.
import { tooLarge } from '../../errors.js';
import { compileQuery, type SearchQuery } from '../../formats/content-search.js';
import { asText } from '../../formats/content.js';
import { mapBounded } from '../../formats/map-bounded.js';
import { likeFilter, type LikeFilter } from '../../formats/search-prefilter.js';
import type { Logger } from '../../logger.js';
import { TimeLimitExceeded, type CpuWork } from '../../workers/cpu-work.js';
import { SEARCH_TEXT_MAX_BYTES } from '../blobs/search-text.js';
import {
  insertSearchTexts,
  selectSearchCandidates,
  selectSearchTexts,
  selectSearchView,
  type SearchViewRow,
} from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import { getProject } from '../projects.js';
import { FETCH_CONCURRENCY } from './batch-read.js';
import { globScope } from './listing.js';
import { assertReadable, type Actor } from './service.js';

// Files are matched a batch at a time, in one worker round trip when it is large: up to 64 files
// or 1 MiB (or one larger file), so that many small files cost few round trips (400 files of
// 4 KiB: 7, not 25) and memory stays bounded.
const SEARCH_BATCH_FILES = 64;
const SEARCH_BATCH_BYTES = 1024 * 1024;
/** Files of a range the index narrows at once (pathRanges). */
const FIRST_RANGE = 1024;
const MAX_RANGE = 16 * 1024;
/** Texts one search records for blobs stored without one; the rest wait for later searches, so
 *  the first search of a large project from before the index does not pay for all of it. */
const RECORD_BYTES = 16 * 1024 * 1024;

export interface SearchDeps {
  sql: Queryable;
  workspaceOf: (actor: Actor) => string;
  /** A blob's content, through the cache. */
  readBlob: (hash: string) => Promise<Buffer>;
  cpu: CpuWork;
  /** Where a failed recording of texts goes (the search answers all the same). */
  logger: Logger;
}

export type SearchInput = SearchQuery & { glob?: string | undefined; maxResults: number };

export interface SearchResult {
  matches: { path: string; line: number; text: string }[];
  /** Files searched in path order, through the one the search stopped in. */
  files_searched: number;
  files_total: number;
  truncated: boolean;
}

export async function searchView(
  { sql, workspaceOf, readBlob, cpu, logger }: SearchDeps,
  projectName: string,
  actor: Actor,
  input: SearchInput,
): Promise<SearchResult> {
  const compiled = compileQuery(input);
  const like = input.regex ? undefined : likeFilter(input.pattern, input.caseSensitive);
  const { prefix, match } = globScope(undefined, input.glob);
  const workspace = workspaceOf(actor);
  const project = assertReadable(await getProject(sql, projectName));
  const files = await selectSearchView(sql, project.id, workspace, prefix, like);
  const candidates = files.filter((f) => !match || match(f.path));
  const position = new Map(candidates.map((f, i) => [f, i + 1]));
  const recorder = textRecorder(sql, logger);

  /** The texts of `batch` (undefined: binary), from the index, the view or the blob store. */
  async function textsOf(batch: readonly SearchViewRow[]): Promise<(string | undefined)[]> {
    const hashes = [...new Set(batch.filter(indexable).map((f) => f.blob!))];
    const stored = new Map(
      (hashes.length ? await selectSearchTexts(sql, hashes) : []).map((r) => [r.hash, r.body]),
    );
    return mapBounded(batch, FETCH_CONCURRENCY, async (f) => {
      if (f.blob === null) return f.content ? asText(f.content) : undefined;
      const body = stored.get(f.blob);
      if (body !== undefined) return body ?? undefined;
      const text = asText(await readBlob(f.blob));
      if (indexable(f)) recorder.add(f.blob, text ?? null, f.size);
      return text;
    });
  }

  const matches: SearchResult['matches'] = [];
  const time = cpu.budget();
  let searched = 0;
  let truncated = false;
  search: for (const range of like ? pathRanges(candidates) : [candidates]) {
    const batches = [...searchBatches(like ? await mayHold(sql, range, like) : range)];
    // Each batch's texts are read while the one before is matched.
    let next = batches.length ? textsOf(batches[0]!) : undefined;
    for (const [i, batch] of batches.entries()) {
      const texts = await next!;
      next = batches[i + 1] && textsOf(batches[i + 1]!);
      next?.catch(() => undefined); // awaited next round, unless the search stops first
      const recording = recorder.flush();
      let found;
      try {
        found = await cpu.searchTexts(compiled, texts, input.maxResults - matches.length, time);
      } catch (err) {
        if (!(err instanceof TimeLimitExceeded)) throw err;
        await recording;
        throw tooLarge(
          `search_files ran past the CPU time limit of ${cpu.timeLimitMs} ms (CPU_TIME_LIMIT_MS) with ${searched} of ` +
            `${candidates.length} files searched: narrow the files with a glob, or use a simpler pattern ` +
            `(a literal, with regex: false, costs least)`,
          { limit_ms: cpu.timeLimitMs, files_searched: searched, files_total: candidates.length },
        );
      }
      await recording;
      for (const hit of found.hits) {
        matches.push({ path: batch[hit.file]!.path, line: hit.line, text: hit.text });
      }
      searched = position.get(batch[found.searched - 1]!)!;
      if ((truncated = found.truncated)) break search;
    }
  }
  if (!truncated) searched = candidates.length;
  return { matches, files_searched: searched, files_total: candidates.length, truncated };
}

/** A blob within the index's size cap: its text is (or will be) in search_texts. */
const indexable = (f: SearchViewRow) => f.blob !== null && f.size <= SEARCH_TEXT_MAX_BYTES;

/** The candidates in path order, a range at a time for the index to narrow: growing, so that a
 *  literal in most files stops after the first range, and one in few costs few queries (a
 *  project of 1,000 files: one). */
function* pathRanges(candidates: readonly SearchViewRow[]): Generator<SearchViewRow[]> {
  for (let from = 0, size = FIRST_RANGE; from < candidates.length; from += size) {
    yield candidates.slice(from, from + size);
    size = Math.min(size * 2, MAX_RANGE);
  }
}

/** Those of `files` that may hold the literal: inline drafts the view query matched (or could not
 *  tell about), blobs the index matched or has no text for yet, and blobs over its size cap. */
async function mayHold(sql: Queryable, files: readonly SearchViewRow[], like: LikeFilter) {
  const hashes = [...new Set(files.filter(indexable).map((f) => f.blob!))];
  const found = new Set(
    (hashes.length ? await selectSearchCandidates(sql, hashes, like) : []).map((r) => r.hash),
  );
  return files.filter((f) => (f.blob === null ? f.content !== null : !indexable(f) || found.has(f.blob)));
}

/** Records the texts a search read from blobs stored without one, a batch at a time while that
 *  batch is matched, up to RECORD_BYTES a search. A failure is logged: the search needs none. */
function textRecorder(sql: Queryable, logger: Logger) {
  let pending = new Map<string, string | null>();
  let budget = RECORD_BYTES;
  return {
    add(hash: string, body: string | null, size: number) {
      if (size > budget) return;
      budget -= size;
      pending.set(hash, body);
    },
    async flush() {
      if (!pending.size) return;
      const texts = [...pending].map(([hash, body]) => ({ hash, body }));
      pending = new Map();
      await insertSearchTexts(sql, texts).catch((err: unknown) =>
        logger.warn({ err, blobs: texts.length }, 'recording search texts failed; a later search retries'),
      );
    },
  };
}

function* searchBatches(files: readonly SearchViewRow[]): Generator<SearchViewRow[]> {
  let batch: SearchViewRow[] = [];
  let bytes = 0;
  for (const file of files) {
    if (batch.length === SEARCH_BATCH_FILES || (batch.length && bytes + file.size > SEARCH_BATCH_BYTES)) {
      yield batch;
      [batch, bytes] = [[], 0];
    }
    batch.push(file);
    bytes += file.size;
  }
  if (batch.length) yield batch;
}
