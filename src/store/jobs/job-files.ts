// What a job's zip holds: one workspace's view, or every workspace's drafts over the committed
// files; and the paths its workspaces disagree on (changed differently, or case twins once taken
// together), which a zip refuses rather than leave one out.
import { conflict } from '../../errors.js';
import { createCaseIndex } from '../../formats/case-index.js';
import { selectDraftWorkspaces } from '../db/queries/index.js';
import type { Queryable } from '../db/sql.js';
import type { Project } from '../projects.js';
import { readView, type ViewEntry } from '../workspace/view.js';

/** A file of a job's output, and the workspace whose draft (or committed file) it is. */
export type JobFile = ViewEntry & { workspace: string };

export interface Disagreement {
  path: string;
  workspaces: string[];
}

/**
 * A job's output: with `workspace`, what that workspace sees; else the union of every
 * workspace's drafts over the committed files, as parallel writer agents (each in its own
 * workspace) leave it. A path changed differently in two workspaces (other content, or written
 * in one and deleted in another) is a disagreement naming the path and the workspaces, which a
 * zip refuses: nothing is left out silently.
 */
export async function jobFiles(
  tx: Queryable,
  job: Project,
  workspace: string | undefined,
): Promise<{ files: JobFile[]; disagreements: Disagreement[] }> {
  // A workspace name no draft can have: the committed files alone.
  const COMMITTED = '';
  const sources = workspace !== undefined ? [workspace] : await selectDraftWorkspaces(tx, job.id);
  if (sources.length <= 1) {
    const only = sources[0] ?? COMMITTED;
    const view = await readView(tx, job.id, only, { present: true });
    return { files: view.map((e) => ({ ...e, workspace: only })), disagreements: [] };
  }
  const committed = await readView(tx, job.id, COMMITTED, { present: true });
  const chosen = new Map<string, JobFile>(committed.map((e) => [e.path, { ...e, workspace: COMMITTED }]));
  const outcomes = new Map<string, Map<string, string[]>>();
  for (const source of sources) {
    for (const e of await readView(tx, job.id, source, { changedOnly: true })) {
      const outcome = e.state === 'deleted' ? 'deleted' : `${e.hash} ${e.mode}`;
      const byOutcome = outcomes.get(e.path) ?? new Map<string, string[]>();
      byOutcome.set(outcome, [...(byOutcome.get(outcome) ?? []), source]);
      outcomes.set(e.path, byOutcome);
      if (e.state === 'deleted') chosen.delete(e.path);
      else chosen.set(e.path, { ...e, workspace: source });
    }
  }
  const disagreements = [...outcomes]
    .filter(([, byOutcome]) => byOutcome.size > 1)
    .map(([path, byOutcome]) => ({ path, workspaces: [...byOutcome.values()].flat().sort() }));
  const files = [...chosen.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Each workspace's view is free of paths differing only in case; two views together may not
  // be, and one would overwrite the other when the zip is unpacked on macOS or Windows.
  const index = createCaseIndex('project');
  for (const file of files) {
    const twin = index.collision(file.path)?.details?.existing;
    if (typeof twin !== 'string') index.add(file.path);
    else {
      const other = chosen.get(twin)?.workspace ?? '';
      disagreements.push({
        path: `${file.path} (case twin of ${twin})`,
        workspaces: [file.workspace, other],
      });
    }
  }
  return { files, disagreements };
}

/** The refusal of a zip whose workspaces disagree, naming the first ten paths and the fixes. */
export const disagreeing = (job: Project, disagreements: readonly Disagreement[]) => {
  const named = disagreements.slice(0, 10).map((d) => `${d.path} (${d.workspaces.join(', ')})`);
  return conflict(
    `job '${job.name}' has files its workspaces changed differently: ${named.join('; ')}${disagreements.length > 10 ? '; …' : ''}. Write the same content in each, or discard one side (discard_changes {workspace, paths}), or zip one workspace with workspace; nothing was completed`,
    { conflicts: disagreements },
  );
};
