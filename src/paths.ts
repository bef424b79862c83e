// The one pure path-validation module: canonical project file paths, listing prefixes, globs,
// project and workspace names. Every entry point (tools, resources, archive and git import)
// goes through here, so a path that passes can be stored, pushed to git and extracted to disk.
//
// Decisions:
// - Unicode is normalised to NFC (not rejected). macOS file systems treat NFC and NFD spellings
//   of a name as the same file, and git on macOS precomposes to NFC (core.precomposeUnicode), so
//   storing both spellings as distinct keys would create files that collide on extraction and
//   paths a client typed in one form but cannot find in the other. One canonical form per
//   visible name avoids both; rejecting non-NFC input instead would fail paths pasted from macOS.
//   Byte limits are measured on the NFC form.
// - Empty segments ('a//b') and a trailing '/' are rejected rather than repaired: they usually
//   mean a missing name, and silently guessing would write a file the caller did not intend.
//   '.' segments are dropped ('./a', 'a/./b').
// - Besides '.git' in any case, the aliases git itself refuses (core.protectNTFS/protectHFS) are
//   rejected: 'git~1', '.git' followed by dots, spaces or an NTFS stream (':'), and '.git' with
//   HFS-ignorable code points inside. Bidirectional controls and U+2028/U+2029 are rejected too:
//   they make a name display differently from what it is.
// - Segments made only of dots and spaces other than '.' (' ..', '. .', '.. ', '...', ' ') are
//   rejected: Windows trims trailing dots and spaces from a name, so these resolve to '..' or
//   to the directory itself when an archive or a checkout is unpacked there.
// - Case-insensitive collisions ('A.txt' vs 'a.txt') are not a path-syntax question; they are
//   left to formats/case-index.ts, checked where the store decides (store/case-twins.ts).
import picomatch from 'picomatch/posix.js';
import { invalidInput } from './errors.js';

export interface PathLimits {
  /** Maximum UTF-8 bytes of the whole canonical path (default 4096). */
  maxPathBytes?: number;
  /** Maximum UTF-8 bytes of one segment (default 255, the common file-system name limit). */
  maxSegmentBytes?: number;
}

export const DEFAULT_MAX_PATH_BYTES = 4096;
export const DEFAULT_MAX_SEGMENT_BYTES = 255;

/** A matcher over canonical project paths. */
export type PathMatcher = (path: string) => boolean;

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
// Bidi marks/embeddings/overrides/isolates (display spoofing) and Unicode line/paragraph separators.
const DECEPTIVE = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;
const UNSHOWABLE = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;
const LONE_SURROGATE = /\p{Cs}/u;
const DRIVE_LETTER = /^[A-Za-z]:/;
const DOTS_AND_SPACES = /^[. ]+$/;
// Code points HFS+ ignores when comparing names; git strips them before comparing with '.git'.
const HFS_IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/gu;

const PROJECT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const WORKSPACE_NAME = /^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}$/;

/**
 * Canonical form of a project file path, or a StowageError('invalid_input') naming the problem
 * and the fix.
 */
export function normalizePath(input: string, limits?: PathLimits): string {
  const segments = canonicalSegments(input, 'path', limits);
  if (segments.length === 0) {
    throw invalidInput(
      `path ${show(input)} names the project root, not a file: give a file path such as 'src/index.ts'`,
      { reason: 'root' },
    );
  }
  if (input.endsWith('/') || input.endsWith('/.')) {
    throw invalidInput(
      `path ${show(input)} ends with '/': a file path names a file, not a directory, so remove the trailing '/'`,
      { reason: 'trailing_slash' },
    );
  }
  return segments.join('/');
}

/**
 * Canonical listing prefix: '' for the project root, otherwise a directory path ending in '/'
 * ('src', 'src/' and './src' all give 'src/'), so 'src/' never matches 'srcfoo/x'.
 */
export function normalizePrefix(prefix: string, limits?: PathLimits): string {
  if (prefix === '') return '';
  const segments = canonicalSegments(prefix, 'prefix', limits);
  return segments.length === 0 ? '' : segments.join('/') + '/';
}

/** True when `path` is already canonical (the form normalizePath returns). */
export function isCanonicalPath(path: string, limits?: PathLimits): boolean {
  try {
    return normalizePath(path, limits) === path;
  } catch {
    return false;
  }
}

export function isValidProjectName(name: string): boolean {
  return typeof name === 'string' && PROJECT_NAME.test(name);
}

export function assertProjectName(name: string): string {
  if (isValidProjectName(name)) return name;
  const lower = typeof name === 'string' ? name.toLowerCase() : '';
  const hint = lower !== name && PROJECT_NAME.test(lower) ? ` (did you mean '${lower}'?)` : '';
  throw invalidInput(
    `project name ${show(name)} is invalid${hint}: use 1-63 characters of lowercase letters, digits, ` +
      `'.', '_' or '-', starting with a letter or digit`,
    { reason: 'project_name' },
  );
}

export function isValidWorkspaceName(name: string): boolean {
  return typeof name === 'string' && WORKSPACE_NAME.test(name);
}

export function assertWorkspaceName(name: string): string {
  if (isValidWorkspaceName(name)) return name;
  throw invalidInput(
    `workspace name ${show(name)} is invalid: use 1-64 characters of letters, digits, '.', '_', '@' or '-', ` +
      `not starting with '.' (for example 'agent-2')`,
    { reason: 'workspace_name' },
  );
}

/**
 * Compile a glob over canonical project paths. `*` and `**` match dot files too. Leading './'
 * and '.' segments are dropped; '..' segments, a leading '/', empty segments and control
 * characters are rejected.
 */
export function compileGlob(glob: string, limits?: PathLimits): PathMatcher {
  const pattern = canonicalGlob(glob, limits);
  let isMatch: picomatch.Matcher;
  try {
    isMatch = picomatch(pattern, { dot: true });
  } catch (err) {
    throw invalidInput(
      `glob ${show(glob)} cannot be compiled (${(err as Error).message}): check its brackets and braces`,
      { reason: 'glob_syntax' },
    );
  }
  return (path: string) => isMatch(path);
}

/**
 * The static directory prefix of a glob ('' or ending in '/'): every path the glob matches
 * starts with it, so a store can narrow its query by prefix before applying the matcher.
 */
export function globBase(glob: string, limits?: PathLimits): string {
  const pattern = canonicalGlob(glob, limits);
  const state = picomatch.scan(pattern);
  if (state.negated) return '';
  // A literal pattern ('src/a.ts') has itself as scan base; its directory is the prefix.
  const segments = state.base.split('/');
  if (!state.isGlob) segments.pop();
  const kept: string[] = [];
  for (const segment of segments) {
    // An escaped character means the segment is not literal text; stop before it.
    if (segment === '' || segment.includes('\\')) break;
    kept.push(segment);
  }
  return kept.length === 0 ? '' : kept.join('/') + '/';
}

function canonicalGlob(glob: string, limits?: PathLimits): string {
  const maxBytes = limits?.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES;
  if (typeof glob !== 'string' || glob === '') {
    throw invalidInput(`glob is empty: give a pattern such as 'src/**/*.ts' or '**'`, { reason: 'empty' });
  }
  if (glob.length > maxBytes || Buffer.byteLength(glob, 'utf8') > maxBytes) {
    throw invalidInput(`glob ${show(glob)} is longer than ${maxBytes} bytes: use a shorter pattern`, {
      reason: 'too_long',
    });
  }
  checkCharacters(glob, 'glob');
  const body = glob.startsWith('!') ? glob.slice(1) : glob;
  if (body.startsWith('/')) {
    throw invalidInput(
      `glob ${show(glob)} starts with '/': globs are relative to the project root, so remove the leading '/'`,
      { reason: 'absolute' },
    );
  }
  const segments = body.split('/');
  const kept: string[] = [];
  for (const [i, segment] of segments.entries()) {
    if (segment === '.') continue;
    if (segment === '' && i < segments.length - 1) {
      throw invalidInput(`glob ${show(glob)} has an empty segment ('//'): remove the extra '/'`, {
        reason: 'empty_segment',
      });
    }
    // '..' as a segment or as a brace alternative ('{..,x}') would only ever describe paths
    // outside the tree; say so instead of silently matching nothing.
    if (/(^|[{,])\.\.($|[},])/.test(segment)) {
      throw invalidInput(
        `glob ${show(glob)} contains '..': globs match paths inside the project, so write the pattern ` +
          `relative to the project root without '..'`,
        { reason: 'dotdot' },
      );
    }
    kept.push(segment);
  }
  const pattern = kept.join('/');
  if (pattern === '') {
    throw invalidInput(`glob ${show(glob)} matches nothing: use '**' to match every file`, {
      reason: 'empty',
    });
  }
  return (glob.startsWith('!') ? '!' : '') + pattern;
}

type Kind = 'path' | 'prefix';

function canonicalSegments(input: string, kind: Kind, limits?: PathLimits): string[] {
  const maxPath = limits?.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES;
  const maxSegment = limits?.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
  if (typeof input !== 'string' || input === '') {
    throw invalidInput(`${kind} is empty: give a ${example(kind)}`, { reason: 'empty' });
  }
  // NFC shrinks a string by at most a small factor, so anything this long is overlong; checking
  // first keeps hostile megabyte inputs away from the regexes and normalisation below.
  if (input.length > maxPath * 4) {
    throw tooLong(kind, input, maxPath);
  }
  checkCharacters(input, kind);
  if (input.includes('\\')) {
    throw invalidInput(
      `${kind} ${show(input)} contains a backslash: separate directories with '/' (e.g. 'src/index.ts')`,
      { reason: 'backslash' },
    );
  }
  if (DRIVE_LETTER.test(input)) {
    throw invalidInput(
      `${kind} ${show(input)} starts with a drive letter: give a ${example(kind)} relative to the project root`,
      { reason: 'drive_letter' },
    );
  }
  if (input.startsWith('/')) {
    throw invalidInput(
      `${kind} ${show(input)} is absolute: give a ${example(kind)} relative to the project root, without the leading '/'`,
      { reason: 'absolute' },
    );
  }
  const nfc = input.normalize('NFC');
  const raw = nfc.split('/');
  // A trailing '/' is reported by normalizePath after the segments are known to be sound.
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  const segments: string[] = [];
  for (const segment of raw) {
    if (segment === '') {
      throw invalidInput(`${kind} ${show(input)} has an empty segment ('//'): remove the extra '/'`, {
        reason: 'empty_segment',
      });
    }
    if (segment === '.') continue;
    if (segment === '..') {
      throw invalidInput(
        `${kind} ${show(input)} contains '..': give a ${example(kind)} relative to the project root without '..'`,
        { reason: 'dotdot' },
      );
    }
    if (DOTS_AND_SPACES.test(segment)) {
      throw invalidInput(
        `${kind} ${show(input)} has the segment ${show(segment)}, made only of dots and spaces, which Windows ` +
          `reads as '..' or as the directory itself: rename that segment (letters or digits in it keep it a name)`,
        { reason: 'dots_and_spaces' },
      );
    }
    if (isGitDirAlias(segment)) {
      throw invalidInput(
        `${kind} ${show(input)} contains the segment ${show(segment)}, which git treats as its '.git' directory: ` +
          `choose another name; Stowage stores project files, not repository internals`,
        { reason: 'dot_git' },
      );
    }
    if (Buffer.byteLength(segment, 'utf8') > maxSegment) {
      throw invalidInput(
        `${kind} ${show(input)} has a name longer than ${maxSegment} bytes (${show(segment)}): shorten that name`,
        { reason: 'segment_too_long' },
      );
    }
    segments.push(segment);
  }
  if (Buffer.byteLength(segments.join('/'), 'utf8') > maxPath) throw tooLong(kind, input, maxPath);
  return segments;
}

function checkCharacters(input: string, kind: 'path' | 'prefix' | 'glob'): void {
  if (LONE_SURROGATE.test(input)) {
    throw invalidInput(
      `${kind} ${show(input)} is not well-formed Unicode (it has a lone surrogate): send the name as valid UTF-8/UTF-16 text`,
      { reason: 'malformed_unicode' },
    );
  }
  const control = CONTROL.exec(input);
  if (control) {
    throw invalidInput(
      `${kind} ${show(input)} contains the control character ${codePoint(control[0])} at index ${control.index}: ` +
        `remove it; names may not contain NUL, newlines, tabs or other control characters`,
      { reason: 'control_character' },
    );
  }
  const deceptive = DECEPTIVE.exec(input);
  if (deceptive) {
    throw invalidInput(
      `${kind} ${show(input)} contains ${codePoint(deceptive[0])} at index ${deceptive.index}, a bidirectional ` +
        `or line-separator character that makes the name display differently from what it is: remove it`,
      { reason: 'deceptive_character' },
    );
  }
}

/** '.git' as git itself recognises it on NTFS and HFS+ (see git's is_ntfs_dotgit/is_hfs_dotgit). */
function isGitDirAlias(segment: string): boolean {
  let name = segment.replace(HFS_IGNORABLE, '').toLowerCase();
  const stream = name.indexOf(':');
  if (stream !== -1) name = name.slice(0, stream);
  name = name.replace(/[. ]+$/, '');
  return name === '.git' || name === 'git~1';
}

function tooLong(kind: Kind, input: string, max: number) {
  return invalidInput(`${kind} ${show(input)} is longer than ${max} bytes: use a shorter ${kind}`, {
    reason: 'too_long',
  });
}

function example(kind: Kind): string {
  return kind === 'path'
    ? "file path such as 'src/index.ts'"
    : "directory such as 'src/' (or '' for all files)";
}

function codePoint(ch: string): string {
  return 'U+' + (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
}

/** Quote untrusted input for a message: escaped (no raw control characters) and bounded. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const clipped = text.length > 80 ? `${text.slice(0, 60)}…(${text.length} chars)` : text;
  // JSON.stringify escapes C0 controls and lone surrogates; escape the other invisible ones too.
  return JSON.stringify(clipped).replace(UNSHOWABLE, (c) => codePoint(c).replace('U+', '\\u'));
}
