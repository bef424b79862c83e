// The worker threads of cpu-work.ts: edit matching, diffs, content search and secret scans off the
// event loop.
import {
  compileQuery,
  searchTexts,
  type CompiledQuery,
  type SearchQuery,
} from '../formats/content-search.js';
import { scanSecrets } from '../formats/secret-scan.js';
import { applyEdits, type TextEdit } from '../formats/text-edit.js';
import { unifiedDiff } from '../formats/unified-diff.js';
import { serveTasks } from './worker-pool.js';

// A search sends the same query with every batch of files: compile it once (which also keeps
// RE2's DFA states, built as it matches, from one batch to the next).
let lastQuery: { key: string; compiled: CompiledQuery } | undefined;

export const cpuTasks = {
  applyEdits: (input: { original: string; edits: readonly TextEdit[]; path: string }) =>
    applyEdits(input.original, input.edits, input.path),
  unifiedDiff: (input: {
    oldName: string;
    newName: string;
    before: string;
    after: string;
    context?: number;
  }) => unifiedDiff(input.oldName, input.newName, input.before, input.after, input.context),
  searchTexts: (input: { query: SearchQuery; texts: readonly (string | undefined)[]; limit: number }) => {
    const key = JSON.stringify(input.query);
    if (lastQuery?.key !== key) lastQuery = { key, compiled: compileQuery(input.query) };
    return searchTexts(lastQuery.compiled, input.texts, input.limit);
  },
  scanSecrets: (input: { path: string; text: string }) => scanSecrets(input.path, input.text),
};

serveTasks(cpuTasks);
