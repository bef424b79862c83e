// Paths that cannot live side by side once a project is downloaded (pure): case twins
// ('Readme.md' next to 'README.md', 'dir/b' next to 'Dir/a') and a file named as a directory
// ('src' next to 'src/a.ts'). A case index of known paths finds the collision of a new one and
// words its error for where the other spelling is. Where a change is checked is the domain's
// to decide (case-twins.ts).
import { conflict, invalidInput, type StowageError } from '../errors.js';

/** Where the other spelling is: decides the message's wording, its fix, and the error code.
 *  'commit': in the committed tree a commit is about to join. */
export type TwinOrigin = 'project' | 'call' | 'archive' | 'commit';

/** A path's spelling as its case twins share it (the database folds names with lower()). */
export const foldCase = (s: string) => s.toLowerCase();

/** Each directory of `path`, outermost first ('a/b/c' → 'a', 'a/b'). */
export function directoriesOf(path: string): string[] {
  const dirs: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) dirs.push(path.slice(0, i));
  return dirs;
}

/** Known paths, by their lower-cased spelling and by each lower-cased directory they are in. */
export function createCaseIndex(origin: TwinOrigin) {
  const files = new Map<string, string>();
  const dirs = new Map<string, { dir: string; example: string }>();

  function add(path: string): void {
    const key = foldCase(path);
    if (!files.has(key)) files.set(key, path);
    for (const dir of directoriesOf(path)) {
      const k = foldCase(dir);
      if (!dirs.has(k)) dirs.set(k, { dir, example: path });
    }
  }

  /** The error for `path` (absent from the index) if it would collide with a known path. */
  function collision(path: string): StowageError | undefined {
    const key = foldCase(path);
    const file = files.get(key);
    if (file !== undefined && file !== path) return twinError(origin, path, file, file);
    const dir = dirs.get(key);
    if (dir) return shapeError(origin, path, `${dir.dir}/`, dir.example, 'directory_at_file');
    for (const wanted of directoriesOf(path)) {
      const k = foldCase(wanted);
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
