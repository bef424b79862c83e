// Reading a workspace view at scale: paged listings with depth and globs (listing.ts), batch reads
// under one response budget (batch-read.ts), drafts with their diffs, and bounded content search
// (search.ts).
import type { CpuWork } from '../../workers/cpu-work.js';
import { asText } from '../../formats/content.js';
import { mapBounded } from '../../formats/map-bounded.js';
import type { Logger } from '../../logger.js';
import { batchRead, FETCH_CONCURRENCY, type BatchReadInput } from './batch-read.js';
import { listFiles, type ListInput } from './listing.js';
import { searchView, type SearchDeps, type SearchInput } from './search.js';
import type { Actor, WorkspaceService } from './service.js';
import { shownState, type ShownState, type ViewEntry } from './view.js';

export function createReader(
  workspace: WorkspaceService,
  batchLimit: number,
  responseChars: number,
  cpu: CpuWork,
  /** Where a file's unexpected read error goes, with its stack (the answer holds its reference). */
  logger: Logger,
  /** The search index and the blobs it lacks (search.ts). */
  search: Pick<SearchDeps, 'sql' | 'readBlob'>,
) {
  return {
    list: (projectName: string, actor: Actor, input: ListInput) =>
      listFiles(workspace, projectName, actor, input),

    /** Up to `batchLimit` files by path and/or glob, within `maxChars` of content in all (batch-read.ts). */
    batchRead: (projectName: string, actor: Actor, input: BatchReadInput) =>
      batchRead({ workspace, batchLimit, logger }, projectName, actor, input),

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

    /** Lines matching a literal or RE2 pattern, in path order, up to `maxResults` (search.ts). */
    search: (projectName: string, actor: Actor, input: SearchInput) =>
      searchView({ ...search, workspaceOf: workspace.workspaceOf, cpu, logger }, projectName, actor, input),
  };
}

export type Reader = ReturnType<typeof createReader>;
