// Paths that cannot live side by side once a project is downloaded: case twins ('Readme.md' next
// to 'README.md', 'dir/b' next to 'Dir/a') overwrite each other when a zip, export or checkout is
// unpacked on macOS or Windows, whose file systems ignore case; and a file cannot share its name
// with a directory ('src' next to 'src/a.ts') on any file system, nor in a git tree. The case
// index that finds them is pure (formats/case-index.ts); this module decides where a change is
// checked: within one call, against a workspace's view, the committed tree, or an import.
//
// Decisions:
// - Checked for paths a change brings into a view (a write or move creating a file, an import);
//   an update of a path that is there cannot create a twin. Against the writer's workspace view
//   (committed files ⊕ its own drafts), not other workspaces' drafts: those are private until
//   committed, and a refusal naming a path the writer cannot see or reach would be a dead end.
// - Case is compared on lower-cased spellings (JavaScript's toLowerCase here; in Postgres
//   lower() under the stowage_fold collation of migration 0012, ICU's root locale where the
//   server has ICU), an index lookup per name: the path itself, and each of its directories.
// - A directory's spelling is read from one path under it (LIMIT 1): once twins are refused,
//   every path under a directory spells it the same way.
// - The committed tree is checked too, as a commit or an import is about to change it: drafts
//   of two workspaces are each fine in their own view, but the second to commit would bring a
//   twin of the first (refuseTwinsInTree). A remote tree is another matter: it may hold twins
//   nobody can fix through Stowage, so an import keeps one spelling (twinsArriving) and reports
//   the other as skipped.
import { createCaseIndex, directoriesOf, foldCase, type CaseIndex } from '../formats/case-index.js';
import { probeCaseTwins, type CaseProbe } from './db/queries/index.js';
import type { Queryable } from './db/sql.js';

/** Refuses the first of `paths` (all in one call) that collides with another of them. */
export function refuseTwinsWithin(paths: readonly string[]): void {
  if (paths.length < 2) return;
  const index = createCaseIndex('call');
  for (const path of paths) index.admit(path);
}

/**
 * The paths of `workspace`'s view that `candidates` (paths new to that view) could collide with,
 * as a case index: one index probe per lower-cased name and directory, in one query.
 * `exclude` is left out (a move's source, which leaves as the destination arrives).
 */
export async function viewCaseIndex(
  tx: Queryable,
  projectId: string,
  candidates: readonly { workspace: string; path: string }[],
  exclude = '',
): Promise<Map<string, CaseIndex>> {
  const rows = await probeViews(tx, projectId, candidates, exclude ? [exclude] : []);
  const indexes = new Map<string, CaseIndex>();
  for (const { workspace } of candidates) {
    if (!indexes.has(workspace)) indexes.set(workspace, createCaseIndex('project'));
  }
  for (const row of rows) indexes.get(row.workspace!)!.add(row.path);
  return indexes;
}

/**
 * Refuses the first of `change.arriving` (paths a commit brings into the committed tree) that
 * would collide with a committed path the commit leaves in place (not in `change.leaving`, the
 * paths it deletes), or with another arriving path.
 */
export async function refuseTwinsInTree(
  tx: Queryable,
  projectId: string,
  change: { arriving: readonly string[]; leaving: readonly string[] },
): Promise<void> {
  if (!change.arriving.length) return;
  // No workspace: the probes see committed files only.
  const candidates = change.arriving.map((path) => ({ workspace: null, path }));
  const index = createCaseIndex('commit');
  for (const row of await probeViews(tx, projectId, candidates, change.leaving)) index.add(row.path);
  for (const path of [...change.arriving].sort()) index.admit(path);
}

/**
 * Of `arriving` (paths an import would bring into a tree), those it must leave out: each that
 * would collide with a path the tree keeps (`staying`) or with one arriving before it in path
 * order. The spelling a tree already has stays put; of new ones, the first in order wins.
 */
export function twinsArriving(
  staying: Iterable<string>,
  arriving: readonly string[],
): { path: string; reason: 'case_twin' | 'file_directory_clash' }[] {
  const index = createCaseIndex('archive');
  for (const path of staying) index.add(path);
  const left: { path: string; reason: 'case_twin' | 'file_directory_clash' }[] = [];
  for (const path of [...arriving].sort()) {
    const err = index.collision(path);
    if (!err) index.add(path);
    else
      left.push({ path, reason: err.details?.reason === 'case_twin' ? 'case_twin' : 'file_directory_clash' });
  }
  return left;
}

/** The first path per probe of each candidate's name and directories, in one query
 *  (db/queries/view.ts); a candidate without a workspace probes the committed files only.
 *  `exclude`: paths left out. */
async function probeViews(
  tx: Queryable,
  projectId: string,
  candidates: readonly { workspace: string | null; path: string }[],
  exclude: readonly string[],
) {
  const probes = new Map<string, CaseProbe>();
  const probe = (workspace: string | null, spelling: string, under: boolean) =>
    probes.set(`${workspace ?? ''}\0${under ? 'd' : 'f'}\0${foldCase(spelling)}`, {
      workspace,
      spelling,
      under,
    });
  for (const { workspace, path } of candidates) {
    probe(workspace, path, false);
    probe(workspace, path, true);
    for (const dir of directoriesOf(path)) {
      probe(workspace, dir, false);
      probe(workspace, dir, true);
    }
  }
  const list = [...probes.values()];
  if (!list.length) return [];
  return probeCaseTwins(tx, projectId, list, exclude);
}
