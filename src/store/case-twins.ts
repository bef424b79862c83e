// Paths that cannot live side by side once a project is downloaded: case twins ('Readme.md' next
// to 'README.md', 'dir/b' next to 'Dir/a') overwrite each other when a zip, export or checkout is
// unpacked on macOS or Windows, whose file systems ignore case; and a file cannot share its name
// with a directory ('src' next to 'src/a.ts') on any file system, nor in a git tree.
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
import { conflict, invalidInput, type StowageError } from '../errors.js';
import { probeCaseTwins, type CaseProbe } from './db/queries/index.js';
import type { Queryable } from './db/sql.js';

/** Where the other spelling is: decides the message's wording, its fix, and the error code.
 *  'commit': in the committed tree a commit is about to join. */
export type TwinOrigin = 'project' | 'call' | 'archive' | 'commit';

const fold = (s: string) => s.toLowerCase();

/** Each directory of `path`, outermost first ('a/b/c' → 'a', 'a/b'). */
function directoriesOf(path: string): string[] {
  const dirs: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) dirs.push(path.slice(0, i));
  return dirs;
}

/** Known paths, by their lower-cased spelling and by each lower-cased directory they are in. */
export function createCaseIndex(origin: TwinOrigin) {
  const files = new Map<string, string>();
  const dirs = new Map<string, { dir: string; example: string }>();

  function add(path: string): void {
    const key = fold(path);
    if (!files.has(key)) files.set(key, path);
    for (const dir of directoriesOf(path)) {
      const k = fold(dir);
      if (!dirs.has(k)) dirs.set(k, { dir, example: path });
    }
  }

  /** The error for `path` (absent from the index) if it would collide with a known path. */
  function collision(path: string): StowageError | undefined {
    const key = fold(path);
    const file = files.get(key);
    if (file !== undefined && file !== path) return twinError(origin, path, file, file);
    const dir = dirs.get(key);
    if (dir) return shapeError(origin, path, `${dir.dir}/`, dir.example, 'directory_at_file');
    for (const wanted of directoriesOf(path)) {
      const k = fold(wanted);
      const blocking = files.get(k);
      if (blocking !== undefined) return shapeError(origin, path, wanted, blocking, 'file_at_directory');
      const have = dirs.get(k);
      if (have && have.dir !== wanted) {
        const spelling = have.dir + path.slice(wanted.length);
        return twinError(origin, path, `${have.dir}/`, spelling, have.example);
      }
    }
    return undefined;
  }

  return {
    add,
    collision,
    /** Throws the collision of `path`, if any, then records it. */
    admit(path: string): void {
      const err = collision(path);
      if (err) throw err;
      add(path);
    },
  };
}

export type CaseIndex = ReturnType<typeof createCaseIndex>;

const HAS = {
  project: 'the project already has',
  call: 'this call also writes',
  archive: 'the archive also holds',
  commit: 'the committed tree has',
} as const;

/** `existing`: the other file, or the other directory (ending in '/') with `example` in it;
 *  `spelling`: `path` spelled as what exists. */
function twinError(
  origin: TwinOrigin,
  path: string,
  existing: string,
  spelling: string,
  example?: string,
): StowageError {
  const what =
    example === undefined
      ? `'${path}' differs only in case from '${existing}', which ${HAS[origin]}`
      : `'${path}' is in a directory that differs only in case from '${existing}', which ${HAS[origin]} ('${example}')`;
  const fix =
    origin === 'project'
      ? `use the existing spelling ('${spelling}'), or first move ${example === undefined ? 'that file' : 'the files in it'} to the new spelling with move_file`
      : origin === 'call'
        ? `write each file under one spelling ('${spelling}')`
        : origin === 'commit'
          ? `nothing was committed: write your version to '${spelling}' and discard_changes on '${path}' (or only discard it), then commit again`
          : 'rename one of them before importing; nothing was written';
  const message = `${what}: unpacked on macOS or Windows, which ignore case, one would overwrite the other; ${fix}`;
  const details = { reason: 'case_twin', path, existing: example ?? existing };
  return origin === 'project' || origin === 'commit'
    ? conflict(message, details)
    : invalidInput(message, details);
}

function shapeError(
  origin: TwinOrigin,
  path: string,
  name: string,
  existing: string,
  kind: 'directory_at_file' | 'file_at_directory',
): StowageError {
  const what =
    kind === 'directory_at_file'
      ? `'${path}' would be a file where ${HAS[origin]} the directory '${name}' ('${existing}')`
      : `'${path}' needs a directory '${name}/', but ${HAS[origin]} a file '${existing}'`;
  const fix =
    origin === 'archive'
      ? 'rename one of them before importing; nothing was written'
      : origin === 'commit'
        ? `nothing was committed: move '${path}' to another path with move_file (or discard_changes on it), then commit again`
        : 'choose another path';
  const message = `${what}: a file and a directory cannot share a name in a zip, an export or a checkout; ${fix}`;
  const details = { reason: 'file_directory_clash', path, existing };
  return origin === 'project' || origin === 'commit'
    ? conflict(message, details)
    : invalidInput(message, details);
}

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
    probes.set(`${workspace ?? ''}\0${under ? 'd' : 'f'}\0${fold(spelling)}`, { workspace, spelling, under });
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
